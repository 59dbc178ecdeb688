/* client/conn.h: the transport under firkin/client.h: one socket, many requests.

   Requests get ids; replies are queued per request. There is no reader thread: a thread that
   wants a frame and finds none queued becomes the reader (if nobody else is), reads from the
   socket and hands frames for other requests to their queues, so a lone caller reads its own
   replies with no hand-off, and several threads share one connection safely. */
#ifndef FK_CLIENT_CONN_H
#define FK_CLIENT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "firkin/client.h"
#include "wire/msg.h"

typedef struct fk_cframe
{
  struct fk_cframe *next;
  uint16_t type, flags;
  uint32_t len;
  uint8_t data[]; /* the payload */
} fk_cframe_t;

typedef struct fk_creq fk_creq_t;

/* Registers a new request (a fresh id). */
fk_creq_t *fk_creq_new (fk_client_t *c);
uint32_t fk_creq_id (const fk_creq_t *r);
/* Unregisters the request and drops what is queued for it. NULL is fine. */
void fk_creq_free (fk_client_t *c, fk_creq_t *r);

/* Sends the frames in b as one unit (other threads' frames never interleave inside it), giving
   up with ETIMEDOUT when the agent reads nothing of it for the connection's deadline. */
int fk_client_send (fk_client_t *c, const fk_wire_buf_t *b, fk_error_t *err);
/* Likewise with its own progress deadline (-1: none, for the stdin of a command that may
   legitimately not read it). */
int fk_client_send_timeout (fk_client_t *c, const fk_wire_buf_t *b, int timeout_ms,
                            fk_error_t *err);
/* Sends b with fds attached to its first byte (SCM_RIGHTS; the fds stay the caller's). */
int fk_client_send_fds (fk_client_t *c, const fk_wire_buf_t *b, const int *fds, size_t n_fds,
                        fk_error_t *err);

/* The next frame for r: 1 with *ret (caller frees with free()), 0 when timeout_ms passed
   (-1: wait forever), < 0 when the request or the connection failed (EPIPE, ECONNRESET, EPROTO,
   ENOBUFS). */
int fk_creq_next (fk_client_t *c, fk_creq_t *r, int timeout_ms, fk_cframe_t **ret, fk_error_t *err);
/* Like fk_creq_next with the connection's deadline: 1, or < 0 (ETIMEDOUT "the agent did not
   answer WHAT within N s"). */
int fk_creq_wait (fk_client_t *c, fk_creq_t *r, const char *what, fk_cframe_t **ret,
                  fk_error_t *err);
/* Reads what the agent has sent so far without waiting (unless another thread is reading). */
void fk_client_take_arrived (fk_client_t *c);
/* 1 when a frame for r is queued (taken by fk_creq_next without waiting), 0 when none, < 0 when
   r or the connection has failed. Never reads the socket. */
int fk_creq_ready (fk_client_t *c, fk_creq_t *r, fk_error_t *err);

/* Sets ETIMEDOUT "the agent did not answer WHAT within N s" for a wait of timeout_ms. */
int fk_client_timeout_error (fk_error_t *err, const char *what, int64_t timeout_ms);
/* Formats ms as seconds ("30 s", "0.25 s") into buf. */
const char *fk_client_fmt_secs (char *buf, size_t len, int64_t ms);

/* The user fk_client_set_file_user set (NULL: none). */
const char *fk_client_file_user (const fk_client_t *c);

/* Sends b (one request, id already r's) and waits for the reply that ends it, each frame within
   the connection's deadline. R_OK frames without END (list chunks) go to on_chunk when given
   (without it they are EPROTO). The final R_OK is returned in *ret_final (caller frees) when
   ret_final is not NULL; R_ERROR becomes err. */
int fk_client_call (fk_client_t *c, fk_creq_t *r, const fk_wire_buf_t *b,
                    int (*on_chunk) (void *ud, const fk_cframe_t *f, fk_error_t *err), void *ud,
                    fk_cframe_t **ret_final, fk_error_t *err);

#endif
