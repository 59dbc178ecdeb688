/* remote/parse.h: fkd's answers as the remote client reads them: control-plane JSON (a sandbox,
   a list, an error), Connect envelopes, process events and the end of a stream, EntryInfo.
   Every input is untrusted: sizes bounded, fields checked by type, EPROTO naming what is wrong.
   Kept apart from the HTTP code so the fuzz target links it alone. */
#ifndef FK_REMOTE_PARSE_H
#define FK_REMOTE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "firkin/client.h"
#include "firkin/sandbox.h"

/* Envelope flags of the Connect protocol. */
#define FK_REMOTE_ENVELOPE_END 0x02u

/* A SandboxDetail or ListedSandbox (JSON text) as an info (pid, socket, cgroup, pids left
   empty; endAt equal to startedAt is no timeout) and, when ret_token is not NULL, its
   envdAccessToken (NULL when it has none). Caller frees both. */
int fk_remote_parse_sandbox (const char *text, size_t len, fk_sandbox_info_t **ret_info,
                             char **ret_token, fk_error_t *err);
/* A list answer: a JSON array of sandboxes. Free with fk_sandbox_info_list_free. */
int fk_remote_parse_sandbox_list (const char *text, size_t len, fk_sandbox_info_t ***ret_infos,
                                  size_t *ret_n, fk_error_t *err);
/* The message of an error body ({"code": ..., "message": "..."}: the control plane's and
   Connect's), control characters replaced and cut at 1 KiB; NULL when the body is not one.
   Caller frees. ret_code (may be NULL): Connect's string code, else NULL; caller frees. */
char *fk_remote_parse_error (const char *text, size_t len, char **ret_code);

/* One envelope at the start of buf: returns 1 with its flags, body and the bytes it took; 0
   when buf holds only part of it; -1 (EPROTO) when its length is over max. */
int fk_remote_envelope_take (const unsigned char *buf, size_t len, size_t max, unsigned *ret_flags,
                             const char **ret_body, size_t *ret_body_len, size_t *ret_used,
                             fk_error_t *err);
/* A request envelope around body; caller frees. */
char *fk_remote_envelope_build (const char *body, size_t len, size_t *ret_len);

typedef enum
{
  FK_REMOTE_EVENT_START = 1,
  FK_REMOTE_EVENT_STDOUT,
  FK_REMOTE_EVENT_STDERR,
  FK_REMOTE_EVENT_KEEPALIVE,
  FK_REMOTE_EVENT_END,
} fk_remote_event_kind_t;

typedef struct fk_remote_event
{
  fk_remote_event_kind_t kind;
  int pid;    /* START */
  char *data; /* STDOUT, STDERR: the decoded bytes; caller frees */
  size_t len;
  fk_exit_status_t status; /* END: exit_code 128 + signal for one killed by a signal */
} fk_remote_event_t;

/* A process event envelope's body ({"event": {...}}). */
int fk_remote_parse_event (const char *text, size_t len, fk_remote_event_t *ret_event,
                           fk_error_t *err);
/* The end-of-stream body: 0 for {}, 1 with the error's code and message (callers free) for
   {"error": {...}}, -1 when it is neither. */
int fk_remote_parse_end (const char *text, size_t len, char **ret_code, char **ret_message,
                         fk_error_t *err);
/* {"entry": EntryInfo} as a stat (uid and gid 0). */
int fk_remote_parse_entry (const char *text, size_t len, fk_file_stat_t *ret_stat, fk_error_t *err);

/* 1 when an envd access token from fkd can go into a header: 1 to 512 visible ASCII
   characters. */
int fk_remote_token_ok (const char *token);

/* An RFC 3339 time ("2026-01-02T03:04:05Z", fractions and offsets too) as unix seconds. */
int fk_remote_parse_time (const char *s, int64_t *ret, fk_error_t *err);

/* Signal number of a Go exec status word ("killed", "terminated", ...), 0 when unknown. */
int fk_remote_signal_of (const char *word);

#endif
