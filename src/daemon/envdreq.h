/* daemon/envdreq.h: the bodies of envd's unary Connect calls (proto3 JSON) that fkd serves:
   filesystem.Filesystem/{Stat, MakeDir, Remove, ListDir, Move, WatchDir, CreateWatcher,
   GetWatcherEvents, RemoveWatcher} and process.Process/{List, SendSignal, SendInput, CloseStdin,
   Connect, Update} and StreamInput's messages. Untrusted input from HTTP clients
   (tests/fuzz/fuzz_envd_req.c). */
#ifndef FKD_ENVDREQ_H
#define FKD_ENVDREQ_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "firkin/error.h"

/* The deepest ListDir fkd takes (deeper asks are cut to it). */
#define FKD_LIST_DEPTH_MAX 64
/* The most bytes one SendInput carries. */
#define FKD_INPUT_MAX (1u << 20)

typedef enum
{
  FKD_FS_PATH,    /* {"path"}: Stat, MakeDir, Remove */
  FKD_FS_LISTDIR, /* {"path", "depth"} */
  FKD_FS_MOVE,    /* {"source", "destination"} */
  FKD_FS_WATCH,   /* {"path", "recursive", "includeEntry", "allowNetworkMounts"}: WatchDir,
                     CreateWatcher */
  FKD_FS_WATCHER, /* {"watcherId"}: GetWatcherEvents, RemoveWatcher */
} fkd_fs_kind_t;

/* The longest watcher id fkd takes (its own are 32 hex digits). */
#define FKD_WATCHER_ID_MAX 64

typedef struct fkd_fs_req
{
  char *path;        /* path, or source; NULL for FKD_FS_WATCHER */
  char *destination; /* FKD_FS_MOVE */
  unsigned depth;    /* FKD_FS_LISTDIR: 1 to FKD_LIST_DEPTH_MAX (0 or absent: 1) */
  int recursive;     /* FKD_FS_WATCH */
  char *watcher_id;  /* FKD_FS_WATCHER: letters, digits and `-', at most FKD_WATCHER_ID_MAX */
} fkd_fs_req_t;

/* Decodes a filesystem request of kind. EINVAL naming the field for a missing or empty path, a
   path holding a NUL, a depth that is not a non-negative integer, a flag that is not a boolean,
   a watcher id that is not one. */
int fkd_fs_req_parse (fkd_fs_kind_t kind, const char *text, size_t len, fkd_fs_req_t **ret_req,
                      fk_error_t *err);
void fkd_fs_req_free (fkd_fs_req_t *r);

typedef enum
{
  FKD_PROC_SELECT, /* {"process": selector}: Connect, CloseStdin */
  FKD_PROC_SIGNAL, /* {"process", "signal"} */
  FKD_PROC_INPUT,  /* {"process", "input": {"stdin" | "pty": base64}} */
  FKD_PROC_UPDATE, /* {"process", "pty"?: {"size"?: {"rows", "cols"}}} */
} fkd_proc_kind_t;

typedef struct fkd_proc_req
{
  pid_t pid; /* the selector's pid (> 0), or 0 when it names a tag */
  char *tag;
  int signal;          /* FKD_PROC_SIGNAL: SIGKILL or SIGTERM */
  unsigned char *data; /* FKD_PROC_INPUT: the decoded bytes (may be empty) */
  size_t len;
  int pty; /* FKD_PROC_INPUT: the input was for the pty; FKD_PROC_UPDATE: a size was given */
  unsigned rows, cols; /* FKD_PROC_UPDATE with pty */
} fkd_proc_req_t;

/* Decodes a process request of kind. The selector is {"pid": N} (a number or a decimal string,
   1 to INT_MAX) or {"tag": "..."}; the signal SIGNAL_SIGKILL / SIGNAL_SIGTERM by name or as 9 /
   15. EINVAL naming the field otherwise, also for input that is not base64 or over
   FKD_INPUT_MAX. */
int fkd_proc_req_parse (fkd_proc_kind_t kind, const char *text, size_t len,
                        fkd_proc_req_t **ret_req, fk_error_t *err);
void fkd_proc_req_free (fkd_proc_req_t *r);

/* The largest terminal fkd sizes (a side of the kernel's winsize). */
#define FKD_PTY_SIZE_MAX 65535u

/* A PTY message {"size"?: {"rows", "cols"}} (pty may be NULL): *ret_rows and *ret_cols, 24 x 80
   when no size is given. EINVAL for a side of 0 (absent, as proto3 JSON leaves a zero out) or
   over FKD_PTY_SIZE_MAX. */
int fkd_pty_size_parse (const json_t *pty, unsigned *ret_rows, unsigned *ret_cols, fk_error_t *err);

/* One message of a process.Process/StreamInput request stream. */
typedef enum
{
  FKD_STREAM_INPUT_START,     /* {"start": {"process": selector}}: req has pid or tag */
  FKD_STREAM_INPUT_DATA,      /* {"data": {"input": {"stdin" | "pty": base64}}}: data, len, pty */
  FKD_STREAM_INPUT_KEEPALIVE, /* {"keepalive": {}} */
} fkd_stream_input_kind_t;

/* Decodes one StreamInput message. EINVAL naming the field otherwise (also for a message with
   none of the three, or more than one). */
int fkd_stream_input_parse (const char *text, size_t len, fkd_stream_input_kind_t *ret_kind,
                            fkd_proc_req_t **ret_req, fk_error_t *err);

/* Decodes base64 (standard or URL-safe alphabet, padding optional) into a new buffer of at most
   max bytes; -1 for anything else. */
int fkd_base64_decode (const char *s, size_t n, size_t max, unsigned char **ret, size_t *ret_len);

#endif
