/* client/reply.h: the checks every reply from the agent goes through before the client believes
   it: fields decoded and validated for the frame's type, error messages cut and cleaned, exit
   statuses and pids in range. The agent may be hostile: a reply that fails these is EPROTO. */
#ifndef FK_CLIENT_REPLY_H
#define FK_CLIENT_REPLY_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "client/conn.h"
#include "firkin/client.h"
#include "wire/msg.h"

/* The highest pid the client believes (the kernel's PID_MAX_LIMIT on 64-bit). */
#define FK_CLIENT_PID_MAX 4194304

/* Decodes a field frame (checked for its type, wire/msg.h). */
int fk_cframe_decode (const fk_cframe_t *f, fk_wire_msg_t *ret, fk_error_t *err);
/* Fills err from an R_ERROR frame (the agent's errno and message, cut and cleaned); returns
   -1. */
int fk_cframe_error (const fk_cframe_t *f, fk_error_t *err);
/* The status in an R_EXIT frame, checked (an exit code 0-255 or a signal 1-64); the FLAGS field
   in *ret_flags when not NULL. */
int fk_cframe_exit (const fk_cframe_t *f, fk_exit_status_t *ret_status, uint64_t *ret_flags,
                    fk_error_t *err);
/* The PID field of a decoded reply, checked to be a pid (1..FK_CLIENT_PID_MAX). */
int fk_client_check_pid (const fk_wire_msg_t *m, const char *what, pid_t *ret_pid, fk_error_t *err);

#endif
