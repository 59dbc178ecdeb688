/* daemon/envelope.h: the Connect protocol's envelopes (a flag byte, a 4-byte big-endian length,
   the message), and the process.Process/Start request carried in one, as envd takes them. Both
   parse untrusted bytes from HTTP clients (tests/fuzz/fuzz_envelope.c). */
#ifndef FKD_ENVELOPE_H
#define FKD_ENVELOPE_H

#include <stddef.h>

#include "firkin/error.h"

#define FKD_ENVELOPE_COMPRESSED 0x01u
#define FKD_ENVELOPE_END 0x02u
/* The largest message fkd takes in one envelope. */
#define FKD_ENVELOPE_MAX (1u << 20)

/* The first envelope of body (what follows it is ignored, as envd does for server streams):
   *ret_flags its flag byte, *ret_msg and *ret_len its message, pointing into body. EPROTO when
   body is shorter than 5 bytes or than the length says, when the message is over max, or when it
   is compressed (fkd offers no compression). */
int fkd_envelope_parse (const void *body, size_t len, size_t max, unsigned *ret_flags,
                        const char **ret_msg, size_t *ret_len, fk_error_t *err);

/* A new envelope of flags and msg; caller frees. */
char *fkd_envelope_build (unsigned flags, const char *msg, size_t len, size_t *ret_len);

/* Reads a stream of envelopes (a client-streaming request body) as it arrives, in pieces of
   any size: each message is handed on whole once its last byte is in, and only the message
   being read is held. Set max and total_max, the rest zero; clear with
   fkd_envelope_reader_clear. */
typedef struct fkd_envelope_reader
{
  size_t max;       /* the largest message taken */
  size_t total_max; /* the most bytes taken in all */
  size_t total;
  unsigned char head[5];
  size_t head_len;
  char *msg;
  size_t need, have;
  unsigned flags;
} fkd_envelope_reader_t;

/* Called with each message (msg valid during the call); < 0 stops the reading with err. */
typedef int (*fkd_envelope_fn) (void *ud, unsigned flags, const char *msg, size_t len,
                                fk_error_t *err);
/* Takes len more bytes. EPROTO for a compressed envelope or an end-of-stream one (a client
   sends none), EMSGSIZE for a message over max (told from its header, before it is read),
   EFBIG when the bytes pass total_max; or on_msg's error. */
int fkd_envelope_feed (fkd_envelope_reader_t *rd, const void *data, size_t len,
                       fkd_envelope_fn on_msg, void *ud, fk_error_t *err);
/* At the end of the body: EPROTO when it ends inside an envelope. */
int fkd_envelope_finish (const fkd_envelope_reader_t *rd, fk_error_t *err);
void fkd_envelope_reader_clear (fkd_envelope_reader_t *rd);

/* A process.Process/Start request (proto3 JSON). */
typedef struct fkd_start_req
{
  char **argv; /* process.cmd, then process.args; NULL-terminated */
  char **env;  /* process.envs as "K=V"; NULL-terminated, may be empty */
  char *cwd;   /* NULL when not given */
  char *tag;   /* NULL when not given */
  int stdin_open;
  int pty;             /* a pty was asked for */
  unsigned rows, cols; /* its size (24 x 80 when none is given) */
} fkd_start_req_t;

/* Decodes len bytes of JSON; lowerCamelCase or snake_case names, unknown fields ignored.
   EINVAL naming the field for a missing or empty cmd, a wrong type, too many args or envs. */
int fkd_start_req_parse (const char *text, size_t len, fkd_start_req_t **ret_req, fk_error_t *err);
void fkd_start_req_free (fkd_start_req_t *r);

#endif
