/* oci/oci.h: fk-oci, firkin as an OCI runtime with runc's command line: the verbs, the
   container state store below --root, the console socket and the error log (--log,
   --log-format). */
#ifndef FK_OCI_OCI_H
#define FK_OCI_OCI_H

#include <jansson.h>
#include <sys/types.h>

#include "base/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/ociconfig.h"
#include "sandbox/ocistate.h"
#include "sandbox/plan.h"

typedef struct oci_globals
{
  const char *root; /* --root: one directory per container */
  const char *log;  /* --log */
  int log_json;     /* --log-format json */
  int systemd_cgroup;
} oci_globals_t;

extern oci_globals_t oci_g;

/* Logs an error (stderr, and --log as a JSON or text line); returns 1, the exit status. */
int oci_fail (fk_error_t *err);
int oci_failf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void oci_warn (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* A container: its state dir and the state kept there in state.json (sandbox/ocistate.h). */
typedef struct oci_container
{
  char *id;
  char *dir; /* <root>/<id> */
  int dirfd; /* locked (flock) while open */
  fk_oci_state_t state;
} oci_container_t;

/* Checks an id ([A-Za-z0-9_+.-], not `.' nor `..', at most 1024 bytes). */
int oci_check_id (const char *id, fk_error_t *err);
/* Makes the state dir of a new container (EEXIST: it exists) and locks it. */
int oci_container_new (const char *id, oci_container_t *ret, fk_error_t *err);
/* Opens and locks an existing one; ENOENT when there is none. With partial_ok a dir whose
   state.json is missing or broken opens with pid 0. */
int oci_container_open (const char *id, int partial_ok, oci_container_t *ret, fk_error_t *err);
int oci_container_save (const oci_container_t *c, fk_error_t *err);
/* Removes the state dir. */
void oci_container_remove (oci_container_t *c);
void oci_container_close (oci_container_t *c);
/* What a verb on an existing container starts with: oci_container_open, the host's cgroup
   layout (fk_cgroup_detect) and, unless ret_status is NULL, its status. On failure nothing is
   left open; on success oci_container_detach releases both. */
int oci_container_attach (const char *id, int partial_ok, oci_container_t *ret,
                          fk_cgroup_layout_t *ret_cg, fk_oci_status_t *ret_status, fk_error_t *err);
void oci_container_detach (oci_container_t *c, fk_cgroup_layout_t *cg);
/* The plan again, from the config.json copy in the state dir. */
int oci_container_plan (const oci_container_t *c, fk_plan_t *ret_plan, fk_oci_info_t *ret_info,
                        fk_error_t *err);
/* The options the config parser takes on this host. */
void oci_config_opts (const char *id, const char *bundle, const fk_cgroup_layout_t *cg,
                      fk_oci_opts_t *ret);
/* --pid-file: writes pid to path (replaced atomically). */
int oci_write_pid_file (const char *path, pid_t pid, fk_error_t *err);

/* runc's console socket: connects to the caller's unix socket at path; returns the fd. */
int oci_console_connect (const char *path, fk_error_t *err);
/* Sends the terminal's master on it: the one SCM_RIGHTS fd, the pty's name as the payload. */
int oci_send_console (int sock, int master, fk_error_t *err);

int oci_create (int argc, char **argv);
int oci_start (int argc, char **argv);
int oci_state (int argc, char **argv);
int oci_kill (int argc, char **argv);
int oci_delete (int argc, char **argv);
int oci_exec (int argc, char **argv);
int oci_ps (int argc, char **argv);
int oci_pause (int argc, char **argv);
int oci_resume (int argc, char **argv);
int oci_update (int argc, char **argv);
int oci_features (int argc, char **argv);
int oci_list (int argc, char **argv);

#endif
