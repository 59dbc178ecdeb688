/* daemon/envd.h: what envd's parts share (envd.c: routing, /health, /files, Start;
   envd_stream.c: the process streams; envd_fs.c: filesystem.Filesystem; envd_watch.c: its
   WatchDir and watchers; envd_proc.c: process.Process's unary calls and Connect; envd_input.c:
   StreamInput). */
#ifndef FKD_ENVD_H
#define FKD_ENVD_H

#include "daemon/server.h"
#include "firkin/client.h"

/* What every envd call names: the sandbox, its token, the user. */
typedef struct fkd_target
{
  char *id, *token, *user;
} fkd_target_t;

void fkd_target_clear (fkd_target_t *t);

/* Opens the target's sandbox, checks its token and connects to its agent. Replies (502 unknown
   or stopped, 401 bad token) and returns -1 on failure. */
int fkd_envd_connect_agent (fkd_req_t *r, const fkd_target_t *t, fk_client_t **ret_c);
/* Likewise without replying: *ret_status is the HTTP status to answer, err says why. */
int fkd_envd_open_agent (fkd_server_t *srv, const fkd_target_t *t, fk_client_t **ret_c,
                         unsigned *ret_status, fk_error_t *err);
/* The HTTP status of a failed file call (from its errno). */
unsigned fkd_envd_file_status (int code);
/* A unary Connect error: status, {"code": code, "message": msg}. */
void fkd_envd_connect_error (fkd_req_t *r, unsigned status, const char *code, const char *msg);
/* A unary Connect error from a library error: its errno mapped to a Connect code and status. */
void fkd_envd_connect_fail (fkd_req_t *r, const fk_error_t *err);
/* A unary Connect reply: 200 and j (taken) as application/json. */
void fkd_envd_connect_reply (fkd_req_t *r, json_t *j);

/* 0 when the request is a unary Connect call in JSON (Content-Type application/json); else
   replies 415 and returns -1. */
int fkd_envd_json_body (fkd_req_t *r, const char *service);
/* A Connect server stream that is only its end with an error of Connect code `code'. */
void fkd_envd_stream_error (fkd_req_t *r, const char *code, const char *msg);

/* From a job: answers with the Connect server stream of process p (a start event with its pid,
   its output, as `pty' events when pty, else `stdout' and `stderr', its end, the end of the
   stream), keepalives every keepalive_s seconds (0: none), and runs until the process ends or
   every stream of it is gone. Takes p and c (both freed when it returns). While it runs, other
   streams join it (fkd_envd_stream_join) by sandbox_id and the process's pid or tag. */
void fkd_envd_stream_proc (fkd_req_t *r, fk_client_t *c, fk_proc_t *p, unsigned keepalive_s,
                           const char *sandbox_id, const char *tag, int pty);
/* From a job: answers with a new stream of the process (pid, or tag when not NULL) of
   sandbox_id that a stream of this fkd has (a start event, then what the process writes from
   now on, its end). 0, or -1 (nothing done) when no stream here has it. */
int fkd_envd_stream_join (fkd_req_t *r, const char *sandbox_id, pid_t pid, const char *tag,
                          unsigned keepalive_s);

/* The Keepalive-Ping-Interval header in seconds (at most an hour; 0 when absent). */
unsigned fkd_envd_keepalive (fkd_req_t *r);

/* filesystem.Filesystem/<method> and process.Process/<method> (not Start): reply or start a job,
   taking t; -1 (t left to the caller) for a method not served. */
int fkd_envd_fs_route (fkd_req_t *r, fkd_target_t *t, const char *method);
int fkd_envd_proc_route (fkd_req_t *r, fkd_target_t *t, const char *method);
/* process.Process/StreamInput once its body is in (envd_input.c; the body went to the sink
   fkd_envd_body_sink set): replies or starts a job, taking t. */
void fkd_envd_input_route (fkd_req_t *r, fkd_target_t *t);

/* filesystem.Filesystem/{WatchDir, CreateWatcher, GetWatcherEvents, RemoveWatcher} likewise. */
int fkd_envd_watch_route (fkd_req_t *r, fkd_target_t *t, const char *method);

/* path made absolute and lexically clean (no `.', `..', `//' or trailing `/'): what EntryInfo
   reports, and what the agent resolves in the root (where `..' stops at `/' too). */
char *fkd_envd_clean_path (const char *path);
/* The call's user (NULL: the sandbox's default user) looked up through the agent: c's file calls
   act as it (what they make is its), and *ret_path is path made absolute (relative, `~' and
   `~/x' from its home) and clean. -2 with err for a user the sandbox does not know (envd answers
   unauthenticated), -1 for another failure. */
int fkd_envd_as_user (fk_client_t *c, const char *user, const char *path, char **ret_path,
                      fk_error_t *err);

#endif
