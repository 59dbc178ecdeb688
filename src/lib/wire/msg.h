/* wire/msg.h: the field layer: encoding and decoding the payload of non-data frames.

   A payload is a sequence of fields: u16 tag, u32 length, value. Integers are 8 bytes
   little-endian; strings carry their terminating NUL (and no other), so a decoded string points
   straight into the payload; bytes are opaque. Unknown tags are skipped (newer peers may send
   them); a known tag with the wrong length, a string without its NUL or with an inner one, a
   field running past the payload, or a repeated single-valued field are errors. */
#ifndef FK_WIRE_MSG_H
#define FK_WIRE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "wire/frame.h"

typedef enum
{
  FK_TAG_MAGIC = 1,       /* str */
  FK_TAG_VERSION = 2,     /* int */
  FK_TAG_ARG = 3,         /* str, repeated: argv */
  FK_TAG_SHELL = 4,       /* str: a shell command line */
  FK_TAG_ENV = 5,         /* str "K=V", repeated */
  FK_TAG_CWD = 6,         /* str */
  FK_TAG_USER = 7,        /* str: "uid[:gid]" or "name[:group]" */
  FK_TAG_STDIN_MODE = 8,  /* int: FK_WIRE_STDIN_* */
  FK_TAG_STDIN_DATA = 9,  /* bytes */
  FK_TAG_TIMEOUT_MS = 10, /* int */
  FK_TAG_TAG = 11,        /* str */
  FK_TAG_PTY = 12,        /* int (bool) */
  FK_TAG_ROWS = 13,       /* int */
  FK_TAG_COLS = 14,       /* int */
  FK_TAG_KEEP = 15,       /* int (bool): the process outlives the connection */
  FK_TAG_PID = 16,        /* int */
  FK_TAG_TARGET = 17,     /* int: a request id of the same connection */
  FK_TAG_SIGNAL = 18,     /* int */
  FK_TAG_EXIT_CODE = 19,  /* int */
  FK_TAG_TIMED_OUT = 20,  /* int (bool) */
  FK_TAG_ERRNO = 21,      /* int */
  FK_TAG_MESSAGE = 22,    /* str */
  FK_TAG_PATH = 23,       /* str */
  FK_TAG_PATH2 = 24,      /* str */
  FK_TAG_MODE = 25,       /* int */
  FK_TAG_FLAGS = 26,      /* int */
  FK_TAG_OFFSET = 27,     /* int */
  FK_TAG_SIZE = 28,       /* int */
  FK_TAG_MTIME_NS = 29,   /* int */
  FK_TAG_FTYPE = 30,      /* int: FK_WIRE_FTYPE_* */
  FK_TAG_UID = 31,        /* int */
  FK_TAG_GID = 32,        /* int */
  FK_TAG_ENTRY = 33,      /* bytes, repeated: a nested field list (a list entry) */
  FK_TAG_PROC = 34,       /* bytes, repeated: a nested field list (a process) */
  FK_TAG_SHELL_ID = 35,   /* str */
  FK_TAG_DROPPED = 36,    /* int: events a watch lost before these (wire/watchmsg.h) */
  FK_TAG_LINK = 37,       /* str: a symlink's target (file stat and list entries) */
  FK_TAG_PORT = 42,       /* int: a TCP port, 1-65535 */
  FK_TAG_FAMILY = 43,     /* int: FK_WIRE_FAMILY_* */
  FK_TAG_ADDR = 44,       /* str: the address a port connection reached ("127.0.0.1", "::1") */
  FK_TAG_MAX = 44,
} fk_wire_tag_t;

#define FK_WIRE_STDIN_CLOSED 0
#define FK_WIRE_STDIN_BYTES 1  /* STDIN_DATA, then closed */
#define FK_WIRE_STDIN_STREAM 2 /* STDIN frames, until one with the EOF flag */

#define FK_WIRE_SIG_GROUP 0x1u /* signal the process group */

#define FK_WIRE_INPUT_EOF 0x1u /* PROC_INPUT: then close stdin (a terminal: send its EOF) */
#define FK_WIRE_INPUT_PTY 0x2u /* PROC_INPUT: the input is for the process's terminal */

/* PS entry FLAGS */
#define FK_WIRE_PS_RUNNING 0x1u
#define FK_WIRE_PS_ATTACHED 0x2u
#define FK_WIRE_PS_PTY 0x4u

#define FK_WIRE_FILE_APPEND 0x1u
#define FK_WIRE_FILE_PARENTS 0x2u   /* create missing parent directories */
#define FK_WIRE_FILE_RECURSIVE 0x4u /* list or remove a whole tree */
#define FK_WIRE_FILE_EXCL 0x8u      /* fail when the path exists */

#define FK_WIRE_FTYPE_FILE 1
#define FK_WIRE_FTYPE_DIR 2
#define FK_WIRE_FTYPE_SYMLINK 3
#define FK_WIRE_FTYPE_OTHER 4

#define FK_WIRE_FAMILY_ANY 0 /* 127.0.0.1, then ::1 when that is refused */
#define FK_WIRE_FAMILY_IPV4 4
#define FK_WIRE_FAMILY_IPV6 6

/* At most this many repeated fields (argv, env, list entries) per payload. */
#define FK_WIRE_MAX_REPEAT 65536

typedef struct fk_wire_slice
{
  const uint8_t *data;
  size_t len;
} fk_wire_slice_t;

/* A decoded payload. Strings and slices point into the payload it was decoded from. */
typedef struct fk_wire_msg
{
  uint64_t present;                      /* bit (1 << tag) for every single-valued tag seen */
  uint64_t num[FK_TAG_MAX + 1];          /* integer fields by tag */
  const char *str[FK_TAG_MAX + 1];       /* string fields by tag */
  fk_wire_slice_t bytes[FK_TAG_MAX + 1]; /* bytes fields by tag */
  char **argv;                           /* ARG values, NULL-terminated; NULL when none */
  char **env;                            /* ENV values, NULL-terminated; NULL when none */
  fk_wire_slice_t *entries;              /* ENTRY values */
  size_t n_entries;
  fk_wire_slice_t *procs; /* PROC values */
  size_t n_procs;
} fk_wire_msg_t;

/* Decodes a field list. On success fills *ret (free with fk_wire_msg_clear); on error *ret
   holds nothing to free. */
int fk_wire_msg_decode (const uint8_t *payload, size_t len, fk_wire_msg_t *ret, fk_error_t *err);
void fk_wire_msg_clear (fk_wire_msg_t *m);
static inline int
fk_wire_msg_has (const fk_wire_msg_t *m, fk_wire_tag_t tag)
{
  return (m->present >> tag) & 1u;
}

/* Checks that a decoded message has what its frame type requires and that its values are in
   range (a request with neither argv nor a shell command, a path that is empty, ...). */
int fk_wire_msg_validate (uint16_t type, const fk_wire_msg_t *m, fk_error_t *err);

/* Decodes a whole frame of a field type and validates it for the type. */
int fk_wire_frame_decode (const fk_wire_frame_t *f, fk_wire_msg_t *ret, fk_error_t *err);

/* An output buffer for frames: append a frame with fk_wire_begin, its fields, fk_wire_end. */
typedef struct fk_wire_buf
{
  uint8_t *data;
  size_t len, cap;
  size_t frame_start; /* offset of the open frame's header */
  int open;
} fk_wire_buf_t;

#define FK_WIRE_BUF_INIT                                                                           \
  {                                                                                                \
    NULL, 0, 0, 0, 0                                                                               \
  }

void fk_wire_buf_free (fk_wire_buf_t *b);
/* Drops everything (keeps the allocation). */
void fk_wire_buf_reset (fk_wire_buf_t *b);
void fk_wire_begin (fk_wire_buf_t *b, uint16_t type, uint16_t flags, uint32_t id);
void fk_wire_put_int (fk_wire_buf_t *b, fk_wire_tag_t tag, uint64_t v);
/* Strings must not contain NUL (they are C strings); the NUL is sent. */
void fk_wire_put_str (fk_wire_buf_t *b, fk_wire_tag_t tag, const char *s);
void fk_wire_put_bytes (fk_wire_buf_t *b, fk_wire_tag_t tag, const void *data, size_t len);
/* Appends raw payload bytes (for data frames, or a nested field list built in another buffer). */
void fk_wire_put_raw (fk_wire_buf_t *b, const void *data, size_t len);
/* Closes the open frame, writing its length. A payload over FK_WIRE_MAX_PAYLOAD removes the
   frame again and fails with E2BIG. */
int fk_wire_end (fk_wire_buf_t *b, fk_error_t *err);
/* Appends a whole data frame. */
void fk_wire_put_data_frame (fk_wire_buf_t *b, uint16_t type, uint16_t flags, uint32_t id,
                             const void *data, size_t len);

#endif
