/* firkin/client.h: the host side of the agent protocol: connect to an fk-agent socket, run
   commands (to completion, or streamed), signal them, list them, reattach to them, and move
   files in and out. Used by the CLI, the daemon and the benchmarks.

   Errors: every call returning int returns 0 (or a count) on success and < 0 with err filled
   on failure. err->code is an errno value: ENOENT for a missing path (or an unknown pid/tag),
   EEXIST, ENOTDIR, EISDIR, EACCES, ... as the agent saw them; EPIPE/ECONNRESET when the agent
   went away mid-request (never a hang); ETIMEDOUT when it did not answer in time; EPROTO when
   it broke the protocol.

   The agent runs beside hostile code and may be taken over, so nothing it sends is trusted:
   every size is bounded (the limits below), every wait has a deadline (except for the output
   and the stdin of a command without a timeout, which may run forever), and a reply that does
   not fit its request (a frame for a request never made, a second hello, STARTED twice, EXIT
   before STARTED, a frame after the one that ended its request, a pid or status out of range,
   file data beyond the size announced) is EPROTO, on that request or, when it cannot be told
   which, on the whole connection. Error messages from the agent are cut at 1 KiB, control
   characters replaced.

   Threads: a connection may be used by several threads at once; each request is independent
   (they are multiplexed on the one socket by request id). A single fk_proc_t must be used by
   one thread at a time. Free every fk_proc_t (and fk_shell_t, firkin/shell.h) of a connection
   before closing it. Frames for a request nobody is waiting on are queued in memory: a thread
   streaming a big output should keep reading it (beyond FK_CLIENT_MAX_QUEUED the request fails
   with ENOBUFS). */
#ifndef FIRKIN_CLIENT_H
#define FIRKIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <firkin/error.h>

typedef struct fk_client fk_client_t;
typedef struct fk_proc fk_proc_t;

/* How long the client waits for the agent unless told otherwise: to accept the connection and
   answer hello, to answer a control request (stat, list, mkdir, rename, remove, chmod, signal,
   resize, ps, the start of a command or an attach, shell open and close), to read what the
   client sends, and between two frames of a file transfer or a listing. */
#define FK_CLIENT_DEADLINE_MS 30000
/* A command run with timeout_ms (exec or shell run): the client gives up with ETIMEDOUT this
   long after the timeout, counted from the start, when the agent has not reported the exit (it
   did not enforce the timeout). */
#define FK_CLIENT_TIMEOUT_GRACE_MS 5000
/* At most this many entries in one list or ps, with this many bytes of paths (ps: tags and
   argv) in all; more is EPROTO. */
#define FK_CLIENT_MAX_ENTRIES (1u << 20)
#define FK_CLIENT_MAX_ENTRY_BYTES (64u << 20)
/* Replies queued for one request that is not being read (a process whose output nobody reads
   while the connection serves other requests): beyond this many bytes the request fails with
   ENOBUFS and what it had queued is dropped. */
#define FK_CLIENT_MAX_QUEUED (64u << 20)
/* fk_client_file_read_fd of a path whose stat gives no size for its contents (a symlink, a
   device, a fifo): at most this many bytes (more: EFBIG). */
#define FK_CLIENT_MAX_UNSIZED_READ (64u << 20)

/* Options structs start with a version: initialize them with their _INIT macro (or set
   version to their _VERSION), so a field added later never breaks a caller. An unknown version
   is EINVAL; a NULL options pointer, where one is allowed, means the defaults. */

typedef struct fk_client_opts
{
  unsigned version; /* FK_CLIENT_OPTIONS_VERSION */
  int deadline_ms;  /* 0: FK_CLIENT_DEADLINE_MS; < 0: no deadline (wait for the agent forever) */
} fk_client_opts_t;

#define FK_CLIENT_OPTIONS_VERSION 1
#define FK_CLIENT_OPTIONS_INIT                                                                     \
  {                                                                                                \
    .version = FK_CLIENT_OPTIONS_VERSION                                                           \
  }

/* Connects to the agent listening on socket_path and exchanges versions. */
int fk_client_connect (const char *socket_path, fk_client_t **ret_client, fk_error_t *err);
/* Likewise with options (NULL: the defaults). */
int fk_client_connect_opts (const char *socket_path, const fk_client_opts_t *opts,
                            fk_client_t **ret_client, fk_error_t *err);
/* Takes over an already connected socket fd (closed by fk_client_close, even on failure). */
int fk_client_connect_fd (int fd, fk_client_t **ret_client, fk_error_t *err);
/* Likewise with options (NULL: the defaults). */
int fk_client_connect_fd_opts (int fd, const fk_client_opts_t *opts, fk_client_t **ret_client,
                               fk_error_t *err);
/* Changes the connection's deadline (FK_CLIENT_DEADLINE_MS) for the requests that follow:
   deadline_ms > 0 sets it, 0 restores the default, < 0 waits forever. */
void fk_client_set_deadline_ms (fk_client_t *c, int deadline_ms);
/* The connection's deadline in ms, -1 when it has none. */
int fk_client_deadline_ms (const fk_client_t *c);
/* Closes the connection. Processes started on it without `keep` or a tag are killed by the
   agent; the others keep running and can be reattached. NULL is fine. */
void fk_client_close (fk_client_t *c);
/* The agent's pid as it sees itself (1 inside a sandbox). */
pid_t fk_client_agent_pid (const fk_client_t *c);
/* The connection's socket, for poll() in a single-threaded event loop: call fk_proc_next with
   timeout 0 until it returns 0, then poll this fd for POLLIN (beside your own fds) and repeat.
   Never read from or write to it. */
int fk_client_poll_fd (const fk_client_t *c);

/* ---- exec ---- */

typedef enum
{
  FK_STDIN_CLOSED = 0, /* the command reads EOF (/dev/null-like) */
  FK_STDIN_BYTES = 1,  /* stdin_data, then EOF */
  FK_STDIN_STREAM = 2, /* fed with fk_proc_write_stdin, ended by fk_proc_close_stdin */
} fk_stdin_mode_t;

typedef struct fk_exec_opts
{
  unsigned version;  /* FK_EXEC_OPTIONS_VERSION */
  char *const *argv; /* argv form (argv[0] looked up in PATH), NULL-terminated; or */
  const char *shell; /* shell form: run as `/bin/sh -c SHELL` */
  char *const *env;  /* "K=V" entries added to (or overriding) the agent's environment */
  const char *cwd;   /* NULL: the agent's cwd */
  const char *user;  /* "uid[:gid]" or "name[:group]" from the root's /etc/passwd, /etc/group */
  fk_stdin_mode_t stdin_mode;
  const void *stdin_data; /* FK_STDIN_BYTES */
  size_t stdin_len;
  uint64_t timeout_ms; /* 0: none; at the deadline the whole process group is SIGKILLed (and
                          the client gives up FK_CLIENT_TIMEOUT_GRACE_MS later: ETIMEDOUT) */
  const char *tag;     /* a name to reattach by; a tagged process outlives the connection */
  int keep;            /* outlive the connection even without a tag (reattach by pid) */
  int pty;             /* run on a pseudo-terminal (stdout and stderr arrive as stdout) */
  unsigned rows, cols; /* initial terminal size for pty (0: 24x80) */
} fk_exec_opts_t;

#define FK_EXEC_OPTIONS_VERSION 1
/* Then set argv or shell (and what else the command needs). */
#define FK_EXEC_OPTIONS_INIT                                                                       \
  {                                                                                                \
    .version = FK_EXEC_OPTIONS_VERSION                                                             \
  }

/* How a process ended. */
typedef struct fk_exit_status
{
  int exit_code; /* the exit code, or 128 + signal when killed by one */
  int signal;    /* the signal that killed it, else 0 */
  int timed_out; /* killed because timeout_ms passed */
} fk_exit_status_t;

typedef struct fk_exec_result
{
  fk_exit_status_t status;
  pid_t pid;
  char *out; /* stdout, NUL-terminated for convenience (may contain NULs); caller frees */
  size_t out_len;
  char *err; /* stderr, likewise */
  size_t err_len;
  int truncated; /* output beyond max_output was read and discarded */
} fk_exec_result_t;

/* Runs a command to completion, collecting up to max_output bytes of each of stdout and
   stderr (the rest is drained and dropped, and `truncated` set). A command that cannot be
   found exits 127 with a message on stderr; a cwd or user that cannot be used is an error. */
int fk_client_exec (fk_client_t *c, const fk_exec_opts_t *opts, size_t max_output,
                    fk_exec_result_t *ret_result, fk_error_t *err);
void fk_exec_result_free (fk_exec_result_t *r);

/* Sets "K=V" variables in the agent's own environment, which every process it starts from
   then on inherits (a request's own env still wins): how a sandbox from the warm pool takes the
   environment its creator asked for. An empty or NULL list does nothing. */
int fk_client_set_env (fk_client_t *c, const char *const *env, fk_error_t *err);

/* The agent's own environment ("K=V", NULL-terminated; free with fk_strv_free): what the
   processes it starts inherit under a request's env, at most FK_WIRE_ENV_MAX bytes of it. */
int fk_client_get_env (fk_client_t *c, char ***ret_env, fk_error_t *err);

/* Streaming callbacks; a non-zero return from one stops reading and kills the process. */
typedef struct fk_exec_callbacks
{
  int (*on_stdout) (void *userdata, const void *data, size_t len);
  int (*on_stderr) (void *userdata, const void *data, size_t len);
  void *userdata;
} fk_exec_callbacks_t;

/* Runs a command, handing output to the callbacks as it arrives. */
int fk_client_exec_stream (fk_client_t *c, const fk_exec_opts_t *opts,
                           const fk_exec_callbacks_t *cbs, fk_exit_status_t *ret_status,
                           fk_error_t *err);

/* Starts a command and returns a handle to its event stream. */
int fk_client_exec_start (fk_client_t *c, const fk_exec_opts_t *opts, fk_proc_t **ret_proc,
                          fk_error_t *err);
/* Reattaches to a running (or finished but not yet collected) process by pid (tag NULL) or
   by tag. Output it wrote while detached is delivered first (the agent keeps a bounded
   amount and pauses the process's output beyond it). ENOENT when there is no such process. */
int fk_client_attach (fk_client_t *c, pid_t pid, const char *tag, fk_proc_t **ret_proc,
                      fk_error_t *err);

typedef enum
{
  FK_PROC_STDOUT = 1,
  FK_PROC_STDERR = 2,
  FK_PROC_EXIT = 3,
} fk_proc_event_kind_t;

typedef struct fk_proc_event
{
  fk_proc_event_kind_t kind;
  const void *data; /* FK_PROC_STDOUT/STDERR: valid until the next fk_proc_next or free */
  size_t len;
  fk_exit_status_t status; /* FK_PROC_EXIT */
} fk_proc_event_t;

/* The next event of the process: returns 1 with *ret_event filled, 0 when timeout_ms passed
   first (-1 waits forever, 0 only takes what has arrived), < 0 on error. After FK_PROC_EXIT
   there are no more events (further calls fail with EPIPE). A command started with timeout_ms
   whose exit has not come FK_CLIENT_TIMEOUT_GRACE_MS after its timeout fails with ETIMEDOUT
   (the agent did not enforce it); after an error every call fails. */
int fk_proc_next (fk_proc_t *p, int timeout_ms, fk_proc_event_t *ret_event, fk_error_t *err);
pid_t fk_proc_pid (const fk_proc_t *p);
/* FK_STDIN_STREAM: send bytes to the command's stdin / close it. */
int fk_proc_write_stdin (fk_proc_t *p, const void *data, size_t len, fk_error_t *err);
int fk_proc_close_stdin (fk_proc_t *p, fk_error_t *err);
/* Sends a signal to the process (group: to its whole process group). */
int fk_proc_signal (fk_proc_t *p, int sig, int group, fk_error_t *err);
/* Resizes the pty of a pty process. */
int fk_proc_resize (fk_proc_t *p, unsigned rows, unsigned cols, fk_error_t *err);
/* Resizes the terminal of a pty process by pid (tag NULL) or by tag, attached or not. ENOTTY
   for a process without one, ENOENT when there is no such process. */
int fk_client_resize (fk_client_t *c, pid_t pid, const char *tag, unsigned rows, unsigned cols,
                      fk_error_t *err);

#define FK_INPUT_EOF 0x1u /* close stdin after the bytes (a terminal: send it its EOF) */
#define FK_INPUT_PTY 0x2u /* the bytes are for the process's terminal (it must have one) */
/* Sends bytes to the stdin (or terminal, FK_INPUT_PTY) of a process by pid (tag NULL) or by
   tag without attaching to it: its output stays with whoever is attached (or kept for the next
   attach). Returns once the agent queued them. ENOENT no such process, ESRCH it exited, EPIPE
   its stdin is closed or was never open, ENOTTY the terminal flag does not fit the process,
   ENOBUFS it is not reading what it was sent. */
int fk_client_input (fk_client_t *c, pid_t pid, const char *tag, const void *data, size_t len,
                     unsigned flags, fk_error_t *err);

/* Releases the handle. A process still running is detached: killed by the agent unless it has
   a tag or `keep`. NULL is fine. */
void fk_proc_free (fk_proc_t *p);

/* Sends a signal to a process of the agent by pid, or by tag when tag is not NULL. */
int fk_client_signal (fk_client_t *c, pid_t pid, const char *tag, int sig, int group,
                      fk_error_t *err);

typedef struct fk_proc_info
{
  pid_t pid;
  char *tag;   /* NULL when untagged */
  char **argv; /* NULL-terminated */
  int running; /* 0: exited, status not yet collected by an attach */
  int attached;
  char **env; /* the "K=V" entries it was started with (as far as the agent lists them),
                 NULL-terminated, may be empty */
  char *cwd;  /* the directory it was started in, NULL when none was given */
  int pty;    /* it runs on a terminal */
} fk_proc_info_t;

/* The processes the agent started (running, or exited and waiting to be collected). */
int fk_client_ps (fk_client_t *c, fk_proc_info_t **ret_procs, size_t *ret_n, fk_error_t *err);
void fk_proc_info_free (fk_proc_info_t *procs, size_t n);

/* ---- files (paths resolve inside the agent's root; missing: err->code == ENOENT) ---- */

#define FK_FILE_APPEND 0x1u    /* write: append instead of replacing */
#define FK_FILE_PARENTS 0x2u   /* write, mkdir: create missing parent directories */
#define FK_FILE_RECURSIVE 0x4u /* list, remove: the whole tree */
#define FK_FILE_EXCL 0x8u      /* write, mkdir: fail with EEXIST when the path exists */

typedef enum
{
  FK_FILE_TYPE_FILE = 1,
  FK_FILE_TYPE_DIR = 2,
  FK_FILE_TYPE_SYMLINK = 3,
  FK_FILE_TYPE_OTHER = 4,
} fk_file_type_t;

typedef struct fk_file_stat
{
  fk_file_type_t type;
  uint64_t size;
  unsigned mode; /* permission bits (07777) */
  uid_t uid;
  gid_t gid;
  int64_t mtime_ns;
} fk_file_stat_t;

typedef struct fk_file_entry
{
  char *path; /* relative to the listed directory ("a", "a/b" when recursive) */
  fk_file_stat_t st;
  char *link; /* a symlink's target (freed with the entries), else NULL */
} fk_file_entry_t;

/* File calls of this connection act as user (a name or uid; "" the agent's default user, its
   --user, else root): relative paths (and `~', `~/x') are taken from that user's home, and what
   they create (files, missing parents, directories) is owned by that user. Permissions are the
   agent's (root's) still. NULL (the default): relative paths from the root, created files owned
   by root. A user the sandbox does not know fails every file call with ENOENT. Set it before
   the calls it is for; it is copied. */
void fk_client_set_file_user (fk_client_t *c, const char *user);
/* Resolves user ("" or NULL: the agent's default user) against the sandbox's /etc/passwd:
   its uid, gid and home ("/" when it has none; caller frees). ENOENT: no such user. Any out
   parameter may be NULL. */
int fk_client_user_lookup (fk_client_t *c, const char *user, uid_t *ret_uid, gid_t *ret_gid,
                           char **ret_home, fk_error_t *err);

/* Reads a whole file into a NUL-terminated buffer (caller frees); over max bytes: EFBIG (the
   agent is asked for max + 1 bytes at most; more is EPROTO). */
int fk_client_file_read (fk_client_t *c, const char *path, size_t max, char **ret_data,
                         size_t *ret_len, fk_error_t *err);
/* Streams a file into fd (any size). Stats it first and writes at most the size the stat gave
   (the first that many bytes of a file that grows since); the agent sending more is EPROTO
   ("the agent sent more than the file's N bytes"). A symlink or a file that is not regular has
   no size to go by: at most FK_CLIENT_MAX_UNSIZED_READ bytes. On failure fd may hold part of
   the file: write into a temp file and rename it on success. */
int fk_client_file_read_fd (fk_client_t *c, const char *path, int fd, fk_error_t *err);
/* Likewise with the stat the caller already has (fk_client_file_stat of the same path): writes
   at most st->size bytes of a regular file. */
int fk_client_file_read_fd_stat (fk_client_t *c, const char *path, const fk_file_stat_t *st, int fd,
                                 fk_error_t *err);
/* Writes (atomically: temp file + rename) or appends a buffer; mode for a new file. */
int fk_client_file_write (fk_client_t *c, const char *path, const void *data, size_t len,
                          unsigned mode, unsigned flags, fk_error_t *err);
/* Likewise from everything readable from fd (any size). */
int fk_client_file_write_fd (fk_client_t *c, const char *path, int fd, unsigned mode,
                             unsigned flags, fk_error_t *err);
/* Stats path (a symlink itself, not its target). */
int fk_client_file_stat (fk_client_t *c, const char *path, fk_file_stat_t *ret_st, fk_error_t *err);
/* Likewise, and *ret_link gets a symlink's target (caller frees; NULL for anything else or when
   the agent could not read it). */
int fk_client_file_stat_link (fk_client_t *c, const char *path, fk_file_stat_t *ret_st,
                              char **ret_link, fk_error_t *err);
/* Lists a directory, sorted by path. */
int fk_client_file_list (fk_client_t *c, const char *path, unsigned flags,
                         fk_file_entry_t **ret_entries, size_t *ret_n, fk_error_t *err);
void fk_file_entries_free (fk_file_entry_t *entries, size_t n);
int fk_client_file_mkdir (fk_client_t *c, const char *path, unsigned mode, unsigned flags,
                          fk_error_t *err);
int fk_client_file_rename (fk_client_t *c, const char *from, const char *to, fk_error_t *err);
int fk_client_file_remove (fk_client_t *c, const char *path, unsigned flags, fk_error_t *err);
int fk_client_file_chmod (fk_client_t *c, const char *path, unsigned mode, fk_error_t *err);

/* ---- file watches (inotify in the agent) ---- */

/* What happened to an entry (several bits may come in one event). */
#define FK_WATCH_CREATE 0x01u /* made, or moved in (a rename's new name) */
#define FK_WATCH_WRITE 0x02u  /* written to */
#define FK_WATCH_REMOVE 0x04u /* removed */
#define FK_WATCH_RENAME 0x08u /* moved away (a rename's old name) */
#define FK_WATCH_CHMOD 0x10u  /* its mode, owner or times changed */

/* The agent serves at most this many watches at once (every client together); a recursive
   watch covers at most FK_WATCH_DIRS_MAX directories. */
#define FK_WATCH_MAX 128
#define FK_WATCH_DIRS_MAX 8192

typedef struct fk_watch fk_watch_t;

typedef struct fk_watch_event
{
  unsigned kind;    /* FK_WATCH_* bits */
  const char *name; /* relative to the watched directory ("a", "sub/a"); "." for itself */
} fk_watch_event_t;

typedef struct fk_watch_batch
{
  const fk_watch_event_t *events; /* valid until the next fk_watch_next or fk_watch_free */
  size_t n;
  uint64_t dropped; /* > 0: at least this many events were lost before these (the sandbox
                       changed things faster than they were read, or a directory made later
                       was over FK_WATCH_DIRS_MAX) */
  int ended;        /* the watch is over (the directory itself was removed): no more events */
} fk_watch_batch_t;

/* Watches the directory path (resolved in the agent's root as the file calls are; the file user
   applies) for changes; flags FK_FILE_RECURSIVE: every directory under it too, also those made
   later. ENOTDIR for a file, ENOENT missing, ENOSPC over FK_WATCH_MAX watches or
   FK_WATCH_DIRS_MAX directories. The watch lasts until fk_watch_free or the connection's
   close; its events queue in the connection until read (FK_CLIENT_MAX_QUEUED: then ENOBUFS). */
int fk_client_watch (fk_client_t *c, const char *path, unsigned flags, fk_watch_t **ret_watch,
                     fk_error_t *err);
/* The next batch of events: 1 with *ret_batch filled, 0 when timeout_ms passed first (-1 waits
   forever, 0 takes only what arrived), < 0 on error. After a batch with `ended' every call fails
   with EPIPE. */
int fk_watch_next (fk_watch_t *w, int timeout_ms, fk_watch_batch_t *ret_batch, fk_error_t *err);
/* Stops the watch (the agent drops it) and frees the handle. NULL is fine. */
void fk_watch_free (fk_watch_t *w);

/* ---- ports ---- */

/* Opens a TCP connection to port (1-65535) inside the sandbox whose agent listens on
   socket_path, in any data plane (none included): the agent connects from inside the sandbox's
   network namespace to its loopback and hands the connected socket over. family: AF_INET
   (127.0.0.1), AF_INET6 (::1), or AF_UNSPEC (127.0.0.1, then ::1 when that is refused).
   *ret_fd is a blocking, close-on-exec TCP socket connected to the sandbox's server (caller
   closes). Nothing listening: ECONNREFUSED; no answer within 10 s: ETIMEDOUT; a bad port:
   EINVAL. The socket handed over is checked to be a TCP connection to that loopback port
   (EPROTO otherwise), and no fd ever goes to the agent. */
int fk_client_port_connect (const char *socket_path, unsigned port, int family, int *ret_fd,
                            fk_error_t *err);
/* Copies bytes both ways between two connected stream sockets until both directions have
   ended; an end of file one way becomes a shutdown (SHUT_WR) of the other socket, so a
   half-close is passed on. A reset or a peer gone ends a direction. Blocks; closes neither. */
int fk_port_relay (int a, int b, fk_error_t *err);

/* Shells and shell pools: firkin/shell.h. */

#endif
