/* sandbox/ocistate.h: the state fk-oci keeps of one container (<root>/<id>/state.json), read
   and written only here: fk-oci runs the container's lifecycle by it, and the front ends that
   reach its agent (fk exec, fk cp, fk shell, fkd) find it by its OCI id. */
#ifndef FK_SANDBOX_OCISTATE_H
#define FK_SANDBOX_OCISTATE_H

#include <jansson.h>
#include <sys/types.h>

#include "base/error.h"
#include "sandbox/cgroup.h"

typedef struct fk_oci_state
{
  pid_t pid;
  unsigned long long pid_start; /* the pid's start time: a reused pid is not the container's */
  char *bundle, *rootfs, *created, *cgroup, *oci_version;
  json_t *annotations;
  char *agent_socket; /* fk-agent's socket when the agent is the container's init */
  int started;
} fk_oci_state_t;

typedef enum
{
  FK_OCI_CREATED,
  FK_OCI_RUNNING,
  FK_OCI_PAUSED,
  FK_OCI_STOPPED,
} fk_oci_status_t;

/* Reads state.json below dirfd (the container's state dir) into ret (fk_oci_state_clear it);
   EINVAL "broken state" when it is not a JSON object. */
int fk_oci_state_load (int dirfd, fk_oci_state_t *ret, fk_error_t *err);
/* Writes it back (replaced atomically), with the container's id. */
int fk_oci_state_save (int dirfd, const char *id, const fk_oci_state_t *st, fk_error_t *err);
void fk_oci_state_clear (fk_oci_state_t *st);

/* The status now: stopped when the pid is gone or is another process, paused when the cgroup
   is frozen (not looked at when cg is NULL), else created or running. */
fk_oci_status_t fk_oci_state_status (const fk_oci_state_t *st, const fk_cgroup_layout_t *cg);
/* "created", "running", "paused", "stopped". */
const char *fk_oci_status_name (fk_oci_status_t s);

/* The start time of pid (field 22 of /proc/PID/stat), 0 when it is gone or a zombie. */
unsigned long long fk_oci_pid_start (pid_t pid);

#endif
