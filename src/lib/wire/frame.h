/* wire/frame.h: the frame layer of the host<->agent protocol on a unix stream socket.

   A frame is a 12-byte header, little-endian, then the payload:
     u32 payload length (at most FK_WIRE_MAX_PAYLOAD), u16 type, u16 flags, u32 request id.
   The request id ties every frame of one request (and its stream) together, so one
   connection multiplexes many concurrent requests. Frames of the data types (stdin, stdout,
   stderr, file data) carry raw bytes; every other payload is a list of fields (wire/msg.h).
   Nothing here trusts its input: a header announcing an oversized payload is rejected
   before anything is allocated. */
#ifndef FK_WIRE_FRAME_H
#define FK_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define FK_WIRE_VERSION 1
/* GET_ENV's answer holds at most this many bytes of variables. */
#define FK_WIRE_ENV_MAX (256u * 1024u)
#define FK_WIRE_MAGIC "FKW1"
#define FK_WIRE_HEADER_LEN 12
#define FK_WIRE_MAX_PAYLOAD (1u << 20)
/* Data frames carry at most this much, so control frames never wait long behind bulk data. */
#define FK_WIRE_CHUNK (64u * 1024u)

/* Frame types. Requests travel client -> agent, replies agent -> client. */
typedef enum
{
  /* requests */
  FK_WIRE_HELLO = 1,        /* fields: MAGIC, VERSION (the highest the client speaks) */
  FK_WIRE_EXEC = 2,         /* ARG... or SHELL, ENV..., CWD, USER, STDIN_MODE, STDIN_DATA,
                               TIMEOUT_MS, TAG, PTY, ROWS, COLS, KEEP */
  FK_WIRE_STDIN = 3,        /* raw bytes for the exec with this id; flag EOF closes stdin */
  FK_WIRE_SIGNAL = 4,       /* PID or TARGET (an exec request id of this connection) or TAG,
                               SIGNAL, FLAGS (FK_WIRE_SIG_GROUP) */
  FK_WIRE_RESIZE = 5,       /* TARGET (an exec request id of this connection) or PID or TAG,
                               ROWS, COLS */
  FK_WIRE_PS = 6,           /* no fields; reply OK with PROC... */
  FK_WIRE_ATTACH = 7,       /* PID or TAG; replies like EXEC */
  FK_WIRE_FILE_READ = 8,    /* PATH, OFFSET, SIZE (a limit; 0: to the end) */
  FK_WIRE_FILE_WRITE = 9,   /* PATH, MODE, FLAGS (FK_WIRE_FILE_*); then DATA frames, flag EOF */
  FK_WIRE_FILE_STAT = 10,   /* PATH */
  FK_WIRE_FILE_LIST = 11,   /* PATH, FLAGS (FK_WIRE_FILE_RECURSIVE) */
  FK_WIRE_FILE_MKDIR = 12,  /* PATH, MODE, FLAGS (FK_WIRE_FILE_PARENTS) */
  FK_WIRE_FILE_RENAME = 13, /* PATH, PATH2 */
  FK_WIRE_FILE_REMOVE = 14, /* PATH, FLAGS (FK_WIRE_FILE_RECURSIVE) */
  FK_WIRE_FILE_CHMOD = 15,  /* PATH, MODE */
  FK_WIRE_DATA = 16,        /* raw file bytes (both directions); flag EOF ends the stream */
  FK_WIRE_CANCEL = 17,      /* ends the stream of request TARGET (a read or a detached attach) */
  FK_WIRE_SHELL_OPEN = 18,  /* SHELL_ID, ENV..., CWD, USER; reply OK with PID */
  FK_WIRE_SHELL_RUN = 19,   /* SHELL_ID, SHELL (the command), ENV..., CWD, STDIN_DATA,
                               TIMEOUT_MS; replies STDOUT/STDERR then EXIT */
  FK_WIRE_SHELL_CLOSE = 20, /* SHELL_ID */
  FK_WIRE_WATCH = 21,       /* PATH, FLAGS (FK_WIRE_FILE_RECURSIVE), USER; replies R_WATCHING,
                               then R_EVENTS... until R_OK (stopped, or the directory is gone) or
                               R_ERROR (wire/watchmsg.h) */
  FK_WIRE_WATCH_STOP = 22,  /* TARGET (a WATCH request id of this connection); no reply of its
                               own: the watch ends with R_OK */
  FK_WIRE_USER_LOOKUP = 23, /* USER ("" : the agent's default user); reply OK with UID, GID, PATH
                               (the home directory, "/" when it has none) */
  /* PORT, FAMILY: the agent connects to the port on the sandbox's loopback and replies R_PORT
     with the socket attached (SCM_RIGHTS); fds travel agent -> client, but for REROOT's. */
  FK_WIRE_PORT_CONNECT = 25,
  FK_WIRE_PROC_INPUT = 26, /* PID or TAG, STDIN_DATA, FLAGS (FK_WIRE_INPUT_*): input for a
                              process without attaching to it; reply OK once queued */
  FK_WIRE_SET_ENV = 28,    /* ENV... ("K=V"): set in the agent's own environment, which the
                              processes it starts from then on inherit */
  FK_WIRE_GET_ENV = 29,    /* no fields; reply OK with ENV... (the agent's own environment, at
                              most FK_WIRE_ENV_MAX bytes of it) */
  /* CWD, ENV..., and two fds attached (SCM_RIGHTS: the only request that carries any): the
     upper dir of the sandbox's new root and the agent's new log. Sent by the host once it has
     moved the sandbox onto another root (sandbox/reroot.h): the agent takes them in place of
     its own, opens its root again and changes to CWD, so that nothing of the old root stays
     open, and sets ENV as SET_ENV does. */
  FK_WIRE_REROOT = 30,
  FK_WIRE_REQUEST_MAX = 30,

  /* replies */
  FK_WIRE_R_HELLO = 64,    /* MAGIC, VERSION (the one chosen), PID (the agent's) */
  FK_WIRE_R_OK = 65,       /* ends a request; fields depend on the request */
  FK_WIRE_R_ERROR = 66,    /* ends a request: ERRNO, MESSAGE */
  FK_WIRE_R_STARTED = 67,  /* PID of the started (or attached) process */
  FK_WIRE_R_STDOUT = 68,   /* raw bytes */
  FK_WIRE_R_STDERR = 69,   /* raw bytes */
  FK_WIRE_R_EXIT = 70,     /* ends an exec: EXIT_CODE or SIGNAL, TIMED_OUT */
  FK_WIRE_R_WATCHING = 71, /* a watch is set: SIZE (the directories watched) */
  FK_WIRE_R_EVENTS = 72,   /* a watch's events: ENTRY... ({FLAGS, PATH} each), DROPPED */
  /* Ends a port connect: PORT, FAMILY, ADDR; its bytes carry the connected socket
     (SCM_RIGHTS). */
  FK_WIRE_R_PORT = 73,
  FK_WIRE_REPLY_MAX = 73,
} fk_wire_type_t;

/* Frame flags. */
#define FK_WIRE_F_END 0x1u /* the last frame of this request id */
#define FK_WIRE_F_EOF 0x2u /* the end of a data stream */
#define FK_WIRE_F_ALL (FK_WIRE_F_END | FK_WIRE_F_EOF)

typedef struct fk_wire_frame
{
  uint16_t type;
  uint16_t flags;
  uint32_t id;
  uint32_t len;
  const uint8_t *payload; /* points into the parsed buffer; valid while it is */
} fk_wire_frame_t;

/* True for the types whose payload is raw bytes rather than fields. */
int fk_wire_type_is_data (uint16_t type);
/* A short lower-case name for a type ("exec", "stdout", ...), or "unknown". */
const char *fk_wire_type_name (uint16_t type);

/* Parses the header at buf. Returns 0 when fewer than FK_WIRE_HEADER_LEN bytes are there,
   1 with *ret filled (payload not yet looked at), or < 0 when the header is invalid
   (unknown type, unknown flags, payload over FK_WIRE_MAX_PAYLOAD). */
int fk_wire_header_parse (const uint8_t *buf, size_t len, fk_wire_frame_t *ret, fk_error_t *err);

/* Parses one whole frame at the start of buf. Returns 0 when more bytes are needed, the number
   of bytes the frame takes (> 0) with *ret pointing into buf, or < 0 on a bad header. */
long fk_wire_frame_parse (const uint8_t *buf, size_t len, fk_wire_frame_t *ret, fk_error_t *err);

/* Writes a header into out (FK_WIRE_HEADER_LEN bytes). */
void fk_wire_header_write (uint8_t *out, uint16_t type, uint16_t flags, uint32_t id,
                           uint32_t payload_len);

#endif
