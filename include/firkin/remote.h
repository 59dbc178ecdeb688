/* firkin/remote.h: a client of a running fkd: the same sandbox, command and file operations as
   firkin/sandbox.h and firkin/client.h, over fkd's HTTP API (the E2B control plane and envd's
   Connect protocol, docs/fkd.md) instead of the state directory and the agent's socket. `fk
   --remote URL' is built on it; any program that talks to an fkd can use it.

   Results come in the library's own types (fk_sandbox_info_t, fk_file_stat_t, fk_proc_event_t,
   fk_exit_status_t), and errors carry the library's errno codes and, where fkd passes them on,
   its messages: a caller handles a remote sandbox as it handles a local one. What the API does
   not carry is left empty and said so below.

   fkd's answers are not trusted: bodies are bounded (FK_REMOTE_MAX_BODY, envelopes
   FK_REMOTE_MAX_ENVELOPE), JSON is checked field by field, and every request has a connect and
   a stall deadline (a command's output stream has none while it runs: a command may be quiet
   for long). Transport failures are ECONNREFUSED (nothing listens), EHOSTUNREACH, ETIMEDOUT or
   EIO, naming the URL; a refused API key is EACCES.

   Threads: a handle is used by one thread at a time; so is a process handle. */
#ifndef FIRKIN_REMOTE_H
#define FIRKIN_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include <firkin/client.h>
#include <firkin/error.h>
#include <firkin/sandbox.h>

typedef struct fk_remote fk_remote_t;
typedef struct fk_remote_proc fk_remote_proc_t;

/* The most bytes of one JSON answer of fkd (a list, a sandbox, an error); more is EPROTO. */
#define FK_REMOTE_MAX_BODY (8u << 20)
/* The most bytes of one envelope of a Connect stream; more is EPROTO. */
#define FK_REMOTE_MAX_ENVELOPE (4u << 20)
/* The most bytes a file read takes when fkd's Stat gives no size (a device, a fifo). */
#define FK_REMOTE_MAX_UNSIZED_READ (64u << 20)
/* The envd port of fkd's default listener, used when envd_url is not given. */
#define FK_REMOTE_ENVD_PORT 49983

typedef struct fk_remote_opts
{
  unsigned version;     /* FK_REMOTE_OPTIONS_VERSION */
  const char *url;      /* the control plane: http://host:port (https too) */
  const char *envd_url; /* envd; NULL: url's scheme and host with port FK_REMOTE_ENVD_PORT */
  const char *api_key;  /* sent as X-API-Key; NULL: none */
  unsigned timeout_sec; /* connect and stall deadline of each request; 0: 30 */
} fk_remote_opts_t;

#define FK_REMOTE_OPTIONS_VERSION 1
#define FK_REMOTE_OPTIONS_INIT                                                                     \
  {                                                                                                \
    .version = FK_REMOTE_OPTIONS_VERSION                                                           \
  }

/* Makes a handle for the fkd at opts->url (nothing is sent yet). EINVAL for a URL that is not
   http or https. Free with fk_remote_close. */
int fk_remote_open (const fk_remote_opts_t *opts, fk_remote_t **ret_remote, fk_error_t *err);
void fk_remote_close (fk_remote_t *r);

/* Creates a sandbox from spec: template_id, env, metadata and timeout_sec go over the API (a
   timeout of 0, none, becomes the API's longest: a year); any other field that differs from
   fk_sandbox_spec_init's default is ENOTSUP naming it, as the API cannot carry it. ret_id:
   the new id, caller frees. */
int fk_remote_sandbox_create (fk_remote_t *r, const fk_sandbox_spec_t *spec, char **ret_id,
                              fk_error_t *err);

/* The running and paused sandboxes, oldest first (every page). The API does not carry pid,
   start_time, socket_path, cgroup or resources.pids: they are 0 and NULL. A sandbox without a
   timeout has expires 0. Free with fk_sandbox_info_list_free. */
int fk_remote_sandbox_list (fk_remote_t *r, fk_sandbox_info_t ***ret_infos, size_t *ret_n,
                            fk_error_t *err);
/* One sandbox, as in a list. ENOENT ("no sandbox `ID'") for an unknown one, EINVAL for what is
   not a sandbox id. Free with fk_sandbox_info_free. */
int fk_remote_sandbox_inspect (fk_remote_t *r, const char *id, fk_sandbox_info_t **ret_info,
                               fk_error_t *err);
/* Deletes it, killing what runs when force; without force, EBUSY as fk_sandbox_delete for a
   running sandbox (and fkd has no stopped ones: so always). */
int fk_remote_sandbox_delete (fk_remote_t *r, const char *id, int force, fk_error_t *err);
/* Its deadline becomes now + seconds (1 s to a year). */
int fk_remote_sandbox_extend (fk_remote_t *r, const char *id, uint64_t seconds, fk_error_t *err);
/* Pauses it (one already paused is no error). */
int fk_remote_sandbox_pause (fk_remote_t *r, const char *id, fk_error_t *err);
/* Resumes it (one running is no error), keeping its deadline. */
int fk_remote_sandbox_resume (fk_remote_t *r, const char *id, fk_error_t *err);

/* Looks sandbox id up for commands and files, as attaching to it locally does: ENOENT for an
   unknown one, EAGAIN ("... is paused: resume it first") for a paused one; keeps its envd access
   token for the calls that follow. The calls below do it themselves when it was not done. */
int fk_remote_sandbox_attach (fk_remote_t *r, const char *id, fk_error_t *err);

/* Starts a command in sandbox id, as fk_client_exec_start does: argv, env, cwd, user,
   stdin_mode CLOSED or STREAM, timeout_ms. ENOTSUP for shell, pty, tag, keep and
   FK_STDIN_BYTES. A sandbox that is paused is EAGAIN. Free the handle with
   fk_remote_proc_free. */
int fk_remote_exec_start (fk_remote_t *r, const char *id, const fk_exec_opts_t *opts,
                          fk_remote_proc_t **ret_proc, fk_error_t *err);
/* The next event as fk_proc_next gives it: 1 with *ret_event filled (data valid until the next
   call), 0 when timeout_ms passed first (-1: wait for ever), < 0 on error. The exit comes once
   the stream has ended; a command killed at its timeout_ms has status.timed_out set. */
int fk_remote_proc_next (fk_remote_proc_t *p, int timeout_ms, fk_proc_event_t *ret_event,
                         fk_error_t *err);
/* FK_STDIN_STREAM: bytes to the command's stdin, or its end. */
int fk_remote_proc_write_stdin (fk_remote_proc_t *p, const void *data, size_t len, fk_error_t *err);
int fk_remote_proc_close_stdin (fk_remote_proc_t *p, fk_error_t *err);
/* Releases the handle; a process still running keeps running (envd's rule). NULL is fine. */
void fk_remote_proc_free (fk_remote_proc_t *p);

/* A path's stat in sandbox id. The API carries type, size, mode and mtime (to the second); uid
   and gid are 0. */
int fk_remote_file_stat (fk_remote_t *r, const char *id, const char *path, fk_file_stat_t *ret_stat,
                         fk_error_t *err);
/* Copies the file at path into fd. st: its stat from fk_remote_file_stat (or NULL): more bytes
   than its size is EPROTO. */
int fk_remote_file_read_fd (fk_remote_t *r, const char *id, const char *path,
                            const fk_file_stat_t *st, int fd, fk_error_t *err);
/* Writes what fd holds (read to its end) to path, parents created. The API sets no mode: the
   file is 0644. */
int fk_remote_file_write_fd (fk_remote_t *r, const char *id, const char *path, int fd,
                             fk_error_t *err);

#endif
