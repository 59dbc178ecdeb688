/* cli/remote.h: the verbs' way to fkd under --remote: the remote client's calls
   (firkin/remote.h) as a table that only fk-remote fills (cli/remote.c), so the verbs keep one
   body for both ways while fk itself links no libcurl. */
#ifndef FK_CLI_REMOTE_H
#define FK_CLI_REMOTE_H

#include "cli/verbs.h"
#include "firkin/remote.h"

typedef struct fk_cli_remote_api
{
  int (*open) (const fk_remote_opts_t *opts, fk_remote_t **ret, fk_error_t *err);
  void (*close) (fk_remote_t *r);
  int (*create) (fk_remote_t *r, const fk_sandbox_spec_t *spec, char **ret_id, fk_error_t *err);
  int (*list) (fk_remote_t *r, fk_sandbox_info_t ***ret, size_t *ret_n, fk_error_t *err);
  int (*inspect) (fk_remote_t *r, const char *id, fk_sandbox_info_t **ret, fk_error_t *err);
  int (*delete) (fk_remote_t *r, const char *id, int force, fk_error_t *err);
  int (*extend) (fk_remote_t *r, const char *id, uint64_t seconds, fk_error_t *err);
  int (*pause) (fk_remote_t *r, const char *id, fk_error_t *err);
  int (*resume) (fk_remote_t *r, const char *id, fk_error_t *err);
  int (*attach) (fk_remote_t *r, const char *id, fk_error_t *err);
  int (*exec_start) (fk_remote_t *r, const char *id, const fk_exec_opts_t *o,
                     fk_remote_proc_t **ret, fk_error_t *err);
  int (*proc_next) (fk_remote_proc_t *p, int timeout_ms, fk_proc_event_t *ev, fk_error_t *err);
  int (*write_stdin) (fk_remote_proc_t *p, const void *data, size_t len, fk_error_t *err);
  int (*close_stdin) (fk_remote_proc_t *p, fk_error_t *err);
  void (*proc_free) (fk_remote_proc_t *p);
  int (*file_stat) (fk_remote_t *r, const char *id, const char *path, fk_file_stat_t *ret,
                    fk_error_t *err);
  int (*file_read_fd) (fk_remote_t *r, const char *id, const char *path, const fk_file_stat_t *st,
                       int fd, fk_error_t *err);
  int (*file_write_fd) (fk_remote_t *r, const char *id, const char *path, int fd, fk_error_t *err);
} fk_cli_remote_api_t;

/* fk-remote's table (cli/remote.c). */
extern const fk_cli_remote_api_t fk_cli_remote_api;

/* Opens the client of g's fkd: g->remote_url, g->remote_envd, $FIRKIN_API_KEY. */
int fk_cli_remote_open (const fk_cli_globals_t *g, fk_remote_t **ret, fk_error_t *err);

#endif
