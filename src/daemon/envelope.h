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

/* A process.Process/Start request (proto3 JSON). */
typedef struct fkd_start_req
{
  char **argv; /* process.cmd, then process.args; NULL-terminated */
  char **env;  /* process.envs as "K=V"; NULL-terminated, may be empty */
  char *cwd;   /* NULL when not given */
  char *tag;   /* NULL when not given */
  int stdin_open;
  int pty; /* a pty was asked for */
} fkd_start_req_t;

/* Decodes len bytes of JSON; lowerCamelCase or snake_case names, unknown fields ignored.
   EINVAL naming the field for a missing or empty cmd, a wrong type, too many args or envs. */
int fkd_start_req_parse (const char *text, size_t len, fkd_start_req_t **ret_req, fk_error_t *err);
void fkd_start_req_free (fkd_start_req_t *r);

#endif
