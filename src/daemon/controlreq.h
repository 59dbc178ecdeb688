/* daemon/controlreq.h: the control plane's request bodies and queries, as the E2B API takes
   them: the create request and the list filters. Untrusted input from HTTP clients
   (tests/fuzz/fuzz_create_req.c). */
#ifndef FKD_CONTROLREQ_H
#define FKD_CONTROLREQ_H

#include <stddef.h>
#include <stdint.h>

#include "firkin/error.h"

/* Metadata keys fkd keeps for itself in a sandbox's metadata; never a client's. */
#define FKD_META_PREFIX "fkd."
#define FKD_META_TOKEN FKD_META_PREFIX "envdAccessToken"
#define FKD_META_AUTOPAUSE FKD_META_PREFIX "autoPause"
#define FKD_META_INTERNET FKD_META_PREFIX "allowInternetAccess"
/* On the sandboxes of fkd's warm pool while they wait, with the pid of the fkd that owns them:
   they are nobody's yet, so no call sees them. */
#define FKD_META_POOL FKD_META_PREFIX "pool"

/* E2B's default sandbox timeout, and the most create and set-timeout take (a year, the
   library's bound). */
#define FKD_DEFAULT_TIMEOUT_SEC 300
#define FKD_MAX_TIMEOUT_SEC (366ULL * 24 * 3600)
/* At most this many metadata or envVars entries. */
#define FKD_MAX_ENTRIES 1024

typedef struct fkd_create_req
{
  char *template_id;         /* "base" when not given */
  uint64_t timeout_sec;      /* FKD_DEFAULT_TIMEOUT_SEC when not given */
  char **metadata;           /* "K=V", NULL-terminated (maybe empty) */
  char **env;                /* "K=V", NULL-terminated (maybe empty) */
  int secure;                /* 1 unless `secure: false` */
  int allow_internet_access; /* 1 unless false */
  int auto_pause;
  char **allow_out, **deny_out; /* `network': {allowOut, denyOut}; NULL when not given */
} fkd_create_req_t;

/* Decodes the JSON body of POST /sandboxes. Fields the slice does not use (network, mcp, ...)
   are ignored; the ones it uses must have their types. EINVAL naming the field, also for a
   metadata key that is empty, holds '=' or starts with FKD_META_PREFIX, and for a timeout of 0
   or over FKD_MAX_TIMEOUT_SEC. */
int fkd_create_req_parse (const char *text, size_t len, fkd_create_req_t **ret_req,
                          fk_error_t *err);
void fkd_create_req_free (fkd_create_req_t *r);

/* Decodes the body of PUT /sandboxes/{id}/network, {allowOut, denyOut} (each an array of
   strings, maybe missing or null): the rules themselves are the library's to check. */
int fkd_network_req_parse (const char *text, size_t len, char ***ret_allow, char ***ret_deny,
                           fk_error_t *err);

/* Decodes the set-timeout body {"timeout": seconds} (1 to FKD_MAX_TIMEOUT_SEC). */
int fkd_timeout_req_parse (const char *text, size_t len, uint64_t *ret_sec, fk_error_t *err);

/* The body of connect, resume, refresh and pause: each optional (an empty body is {}).
   connect {timeout, memory}, resume {timeout, autoPause, memory}, refresh {duration}, pause
   {memory}. *ret_sec gets `timeout' (connect, resume) or `duration' (refresh), else dflt (pause
   gets 0); *ret_memory is 0 for `memory: false' (a pause that keeps the filesystem alone: to
   disk; on connect and resume it changes nothing: a sandbox resumes as it was paused), else 1. */
typedef enum
{
  FKD_BODY_CONNECT,
  FKD_BODY_RESUME,
  FKD_BODY_REFRESH,
  FKD_BODY_PAUSE,
} fkd_body_kind_t;
int fkd_lifecycle_req_parse (fkd_body_kind_t kind, const char *text, size_t len, uint64_t dflt,
                             uint64_t *ret_sec, int *ret_memory, fk_error_t *err);

/* Comma-separated sandbox ids of /sandboxes/metrics (each valid, 1 to FKD_MAX_METRICS_IDS,
   repeats dropped); caller frees with fk_strv_free. */
#define FKD_MAX_METRICS_IDS 100
int fkd_sandbox_ids_parse (const char *list, char ***ret_ids, fk_error_t *err);

/* A whole number query argument (a time in seconds or milliseconds, a limit): digits only, at
   most max. */
int fkd_query_u64 (const char *s, uint64_t max, uint64_t *ret);

/* The list's `metadata' filter as the SDK sends it: the query value (already URL-decoded once)
   is `k=v&k2=v2' in form encoding whose keys and values are URL-encoded once more. *ret_kv is
   "K=V" entries (NULL-terminated; caller frees with fk_strv_free). EINVAL for an entry with no
   '=' or a bad escape. */
int fkd_metadata_filter_parse (const char *query, char ***ret_kv, fk_error_t *err);

/* The value of key in "K=V" metadata (borrowed), or NULL. */
const char *fkd_meta_get (char *const *metadata, const char *key);
/* 1 when the "K=V" entry's key is one of fkd's own (FKD_META_PREFIX). */
int fkd_meta_reserved (const char *kv);
/* 1 when id can name a sandbox: 1 to 64 of [A-Za-z0-9_-] (ids come from URLs and headers). */
int fkd_sandbox_id_valid (const char *id);

/* Decodes %XX escapes (and '+' as space when form) in place; -1 for a bad escape or a NUL. */
int fkd_url_decode (char *s, int form);

/* The body of POST /sandboxes/{id}/snapshots, {name?} (an empty body is {}): *ret_name (caller
   frees; NULL: none given) is a template id: 1-128 of [A-Za-z0-9_.-], not starting with `.' or
   `-'. */
int fkd_snapshot_req_parse (const char *text, size_t len, char **ret_name, fk_error_t *err);

/* The most sandboxes one fork request makes (E2B's limit, the library's FK_FORK_MAX). */
#define FKD_MAX_FORKS 100

/* The body of POST /sandboxes/{id}/fork, {timeout?, count?} (an empty body is {}): *ret_sec the
   forks' timeout (1 s to FKD_MAX_TIMEOUT_SEC; default FKD_DEFAULT_TIMEOUT_SEC), *ret_count 1 to
   FKD_MAX_FORKS (default 1). */
int fkd_fork_req_parse (const char *text, size_t len, uint64_t *ret_sec, unsigned *ret_count,
                        fk_error_t *err);

#endif
