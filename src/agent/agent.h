/* agent/agent.h: fk-agent's state: one epoll loop over the listening socket, a signalfd,
   connections, and the pipes of the processes it started. Single-threaded by design: no
   locks, no per-request threads. */
#ifndef FK_AGENT_AGENT_H
#define FK_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/clock.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/shellmsg.h"
#include "wire/watchmsg.h"

/* A connection stops reading its processes' output while this much is queued to send, and
   starts again under the low mark: output streams in bounded memory. */
#define AGENT_SENDQ_HIGH (1u << 20)
#define AGENT_SENDQ_LOW (256u * 1024u)
/* Output kept for a detached process before its pipes are no longer read. */
#define AGENT_DETACHED_MAX (256u * 1024u)
/* Stdin queued for a process before its connection is no longer read. */
#define AGENT_STDIN_MAX (4u << 20)
/* fds one REROOT request carries: the new upper dir and the new log. */
#define AGENT_IN_FDS 2

typedef enum
{
  W_LISTEN = 1,
  W_SIGNAL,
  W_CONN,
  W_OUT,     /* a process's stdout (or pty master) */
  W_ERR,     /* a process's stderr */
  W_IN,      /* a process's stdin, when a write would block */
  W_SHELL,   /* a shell's completion pipe */
  W_FSWATCH, /* a file watch's inotify fd */
  W_PORT,    /* a port connection being made */
} watch_kind_t;

typedef struct watch
{
  watch_kind_t kind;
  int fd;
  void *owner;
  uint32_t events; /* what is registered with epoll (0: not registered) */
} watch_t;

typedef struct conn conn_t;
typedef struct proc proc_t;
typedef struct shell shell_t;
typedef struct pconn pconn_t;

typedef struct upload
{
  struct upload *next;
  uint32_t id;
  int fd, dirfd;
  char *tmp, *name; /* tmp NULL when appending in place */
  unsigned mode, flags;
  uint64_t size;
  int failed; /* an error was sent; the rest of the data is dropped */
} upload_t;

typedef struct download
{
  struct download *next;
  uint32_t id;
  int fd;
  uint64_t left, size;
} download_t;

struct conn
{
  watch_t w;
  conn_t *next;
  int hello;  /* the version exchange is done */
  int closed; /* to be freed at the end of this loop turn */
  uint8_t *rbuf;
  size_t rlen, rcap;
  fk_wire_buf_t out; /* the send queue; out_off bytes of it are sent */
  size_t out_off;
  int reading_paused;
  upload_t *uploads;
  download_t *downloads;
  int pumping; /* files_pump is running: conn_flush calls back into it */
  /* Sockets to pass with the frames starting at these offsets of out (oldest first). */
  struct conn_fd
  {
    size_t off;
    int fd;
  } * fds;
  size_t n_fds;
  /* fds that arrived (SCM_RIGHTS) for a REROOT frame not yet served: closed when another set
     arrives, when the frame is served and when c is freed. */
  int in_fds[AGENT_IN_FDS];
  size_t n_in_fds;
};

struct proc
{
  proc_t *next;
  pid_t pid;
  conn_t *conn; /* NULL while detached */
  uint32_t req_id;
  char *tag;
  char **argv; /* for ps */
  char **env;  /* for ps: the entries the request gave (NULL: none) */
  char *cwd;   /* for ps: the directory the request gave (NULL: none) */
  int keep;
  int pty;
  watch_t out, err, in;
  uint8_t *inbuf; /* stdin waiting for the pipe */
  size_t inlen, inoff;
  int in_eof;            /* close stdin once inbuf is written */
  fk_wire_buf_t pending; /* frames produced while detached (request id 0) */
  int exited, status, timed_out;
  int draining;         /* exited: read the pipes until they would block, then report */
  int finished;         /* the exit frame is produced */
  uint64_t deadline_ms; /* 0: none */
  shell_t *shell;       /* a shell's process */
  int dead;             /* to be freed by proc_gc */
  int discard;          /* detached and killed: output is dropped */
};

typedef struct agent
{
  int epfd;
  watch_t listen, sig;
  int rootfd;
  const char *root; /* --root: what rootfd is opened from (again at a REROOT) */
  int devnull;      /* /dev/null, read-only: the stdin of commands and shell runs given none */
  conn_t *conns;
  proc_t *procs;
  shell_t *shells;
  int terminating;
  uint64_t term_deadline_ms;
  unsigned grace_ms;
  int pid1;
  const char *default_user; /* --user: for commands that name none */
} agent_t;

extern agent_t *agent;

/* loop.c */
/* One entry of a deadline scan at now: a due *deadline_ms (0: none) is cleared, *timed_out set,
   pid's process group and pid killed (pid > 0), and 1 returned; one still ahead lowers *next
   (0: none yet) to it. */
int agent_deadline_check (uint64_t *deadline_ms, pid_t pid, int *timed_out, uint64_t now,
                          uint64_t *next);
/* Sets what epoll watches for w (0 removes it). */
void agent_watch (watch_t *w, uint32_t events);
/* In a child about to exec: outside a sandbox (the agent not PID 1 of its own pid namespace)
   the child gets SIGKILL when the agent dies, as it would in one. Set after any user switch
   (which clears it). */
void agent_child_dies_with_agent (void);
/* Writes buf[*off, len) to w's non-blocking fd, advancing *off. Returns 1 when all is written
   (w no longer watched), 0 when the pipe is full (w watched for EPOLLOUT: call again then), -1
   when the reader is gone or the write failed. */
int agent_write_out (watch_t *w, const uint8_t *buf, size_t len, size_t *off);

/* conn.c */
/* What the layers above do when a connection closes (after it stops being watched) or its send
   queue falls under the low mark; set by dispatch_init. */
typedef struct conn_hooks
{
  void (*closed) (conn_t *c);
  void (*drained) (conn_t *c);
} conn_hooks_t;
extern conn_hooks_t conn_hooks;
void conn_accept (void);
/* Stops watching c and tells conn_hooks.closed; freed by conn_free_closed. */
void conn_close (conn_t *c);
void conn_free_closed (void);
/* Queues a frame of fields (built by the caller into b between begin/end) or raw bytes. */
fk_wire_buf_t *conn_outbuf (conn_t *c);
size_t conn_queued (const conn_t *c);
void conn_flush (conn_t *c);
void conn_send_error (conn_t *c, uint32_t id, int code, const char *msg);
void conn_send_fk_error (conn_t *c, uint32_t id, fk_error_t *err);
void conn_send_ok (conn_t *c, uint32_t id);
/* Passes fd (taken; closed once sent or when c closes) with the frame queued at offset off of
   c's send queue: the first byte of that frame is sent with it as SCM_RIGHTS. */
void conn_queue_fd (conn_t *c, size_t off, int fd);
void conn_resume_reading (conn_t *c);
void conn_pause_reading (conn_t *c);
/* Adds a nested entry to a list reply (R_OK frames without END, split to fit the frame limit;
   conn_list_end sends the final R_OK with END). */
void conn_list_add (conn_t *c, uint32_t id, fk_wire_tag_t tag, const fk_wire_buf_t *entry,
                    int *open);
void conn_list_end (conn_t *c, uint32_t id, int *open);
/* Closes the fds that arrived on c and were not taken. */
void conn_drop_in_fds (conn_t *c);

/* dispatch.c */
/* Sets conn_hooks; once, before the loop. */
void dispatch_init (void);
/* A connection's fd is ready: sends what is queued, reads and serves what came. */
void dispatch_on_event (conn_t *c, uint32_t events);

/* proc.c */
typedef struct proc_spawn
{
  char *const *argv;
  char **env;       /* "K=V" over the agent's environment; may be NULL */
  const char *cwd;  /* NULL or "": the agent's */
  const char *user; /* NULL or "": --user, else the agent's */
  int fd_in, fd_out, fd_err;
  int pty;                    /* fd_out is a pty slave to become the controlling terminal */
  int extra_fd, extra_target; /* also pass extra_fd as fd extra_target (extra_fd -1: none) */
} proc_spawn_t;
/* Starts a command in a new session; a bad cwd or user is an error (the child never runs). */
pid_t proc_spawn (const proc_spawn_t *r, fk_error_t *err);
void proc_exec (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void proc_attach (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void proc_signal (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void proc_resize (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
/* PROC_INPUT: input for a process by pid or tag, from any request (the process's output stays
   with whoever is attached to it, or kept for the next attach). */
void proc_input (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void proc_ps (conn_t *c, uint32_t id);
void proc_stdin (conn_t *c, uint32_t id, uint16_t flags, const uint8_t *data, size_t len);
void proc_cancel (conn_t *c, uint32_t target);
void proc_on_event (proc_t *p, watch_t *w, uint32_t events);
/* Collects every child that exited: a pid that claimed (a shell's) takes is not looked up among
   the processes. */
void proc_reap (int (*claimed) (pid_t pid, int wstatus));
void proc_conn_closed (conn_t *c);
/* The connection's send queue fell under the low mark: read the pipes again. */
void proc_conn_drained (conn_t *c);
/* Kills the processes whose timeout is due at now; lowers *next to the next deadline. */
void proc_timeouts (uint64_t now, uint64_t *next);
/* Signals every process the agent started (their groups). */
void proc_signal_all (int sig);
int proc_count (void);
/* The process (or run) ended with a wait status: report it once its output is read. */
void proc_set_exited (proc_t *p, int status);
/* Frees the processes that are done (after a loop turn, so no event points at them). */
void proc_gc (void);

/* files.c */
void files_request (conn_t *c, const fk_wire_frame_t *f, const fk_wire_msg_t *m);
void files_data (conn_t *c, const fk_wire_frame_t *f);
void files_pump (conn_t *c);
void files_conn_closed (conn_t *c);

/* fswatch.c: file watches (wire/watchmsg.h) by inotify, one instance for all of them. */
void fswatch_start (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void fswatch_stop (conn_t *c, uint32_t target);
void fswatch_on_event (void *owner, uint32_t events);
void fswatch_conn_drained (conn_t *c);
void fswatch_conn_closed (conn_t *c);

/* shell.c */
void shell_open (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void shell_run (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void shell_close (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
/* A SIGNAL aimed at a shell run (TARGET): answered and 1; else 0 (not a shell's). */
int shell_signal (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void shell_on_event (shell_t *s, watch_t *w, uint32_t events);
/* A reaped pid: 1 when it was a shell's (reported and respawned). */
int shell_reaped (pid_t pid, int wstatus);
void shell_conn_drained (conn_t *c);
void shell_conn_closed (conn_t *c);
/* Kills the shells whose run's timeout is due at now; lowers *next to the next deadline. */
void shell_timeouts (uint64_t now, uint64_t *next);
/* Sends what the shells queued during this loop turn. */
void shell_flush_all (void);

/* port.c */
/* PORT_CONNECT: connects to the port on the sandbox's loopback; replies R_PORT with the socket,
   or an error (ECONNREFUSED when nothing listens). */
void port_connect (conn_t *c, uint32_t id, const fk_wire_msg_t *m);
void port_on_event (pconn_t *p, uint32_t events);
/* Fails the connects whose deadline is due at now; lowers *next to the next deadline. */
void port_timeouts (uint64_t now, uint64_t *next);
void port_conn_closed (conn_t *c);
/* Frees the connects that are done (after a loop turn, so no event points at them). */
void port_gc (void);

/* user.c */
typedef struct agent_user
{
  uid_t uid;
  gid_t gid;
  gid_t groups[64];
  int n_groups;
  char *home; /* NULL when unknown */
} agent_user_t;
/* Resolves "uid[:gid]" or "name[:group]" against rootfd's etc/passwd and etc/group. */
int agent_user_resolve (int rootfd, const char *spec, agent_user_t *ret, fk_error_t *err);
void agent_user_clear (agent_user_t *u);
/* files.c: path as a request with USER u means it: a relative one (or `~', `~/x') from u's home;
   u NULL: as it is. Caller frees. */
char *files_expand (const agent_user_t *u, const char *path);

#endif
