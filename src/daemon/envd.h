/* daemon/envd.h: what envd's parts share (envd.c: routing, /health, /files, Start;
   envd_stream.c: the process streams; envd_fs.c: filesystem.Filesystem; envd_watch.c: its
   WatchDir and watchers; envd_proc.c: process.Process's unary calls and Connect). */
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
   its output, its end, the end of the stream), keepalives every keepalive_s seconds (0: none).
   Takes p and c (both freed when the stream ends). While it runs, the stream can be found by
   sandbox_id and the process's pid or tag to send it input (stdin_open: the process has a
   stdin). */
void fkd_envd_stream_proc (fkd_req_t *r, fk_client_t *c, fk_proc_t *p, unsigned keepalive_s,
                           const char *sandbox_id, const char *tag, int stdin_open);
/* Hands data for the stdin of the process (pid, or tag when not NULL) of sandbox_id to the
   stream of this fkd that has it, or closes its stdin (close), and waits until it is sent.
   ENOENT: no stream here has it; EPIPE: it has no stdin or it ended. */
int fkd_envd_stream_input (const char *sandbox_id, pid_t pid, const char *tag, const void *data,
                           size_t len, int close, fk_error_t *err);

/* The Keepalive-Ping-Interval header in seconds (at most an hour; 0 when absent). */
unsigned fkd_envd_keepalive (fkd_req_t *r);

/* filesystem.Filesystem/<method> and process.Process/<method> (not Start): reply or start a job,
   taking t; -1 (t left to the caller) for a method not served. */
int fkd_envd_fs_route (fkd_req_t *r, fkd_target_t *t, const char *method);
int fkd_envd_proc_route (fkd_req_t *r, fkd_target_t *t, const char *method);
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
