/* client/reply.c: see reply.h. */
#include "client/reply.h"

#include <errno.h>
#include <string.h>

#include "wire/frame.h"

/* An error message from the agent is cut at this many bytes. */
#define AGENT_MSG_MAX 1024

int
fk_cframe_decode (const fk_cframe_t *f, fk_wire_msg_t *ret, fk_error_t *err)
{
  fk_wire_frame_t wf = { .type = f->type, .flags = f->flags, .len = f->len, .payload = f->data };
  return fk_wire_frame_decode (&wf, ret, err);
}

int
fk_cframe_error (const fk_cframe_t *f, fk_error_t *err)
{
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    return fk_error_wrap (err, "bad error reply from the agent");
  /* The message is the agent's: cut it, and no control characters (a terminal escape in it
     would reach the user's terminal). */
  const char *s = m.str[FK_TAG_MESSAGE];
  size_t n = strlen (s);
  int cut = n > AGENT_MSG_MAX;
  if (cut)
    n = AGENT_MSG_MAX;
  char msg[AGENT_MSG_MAX + 1];
  for (size_t i = 0; i < n; i++)
    {
      unsigned char ch = (unsigned char)s[i];
      msg[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
  msg[n] = '\0';
  uint64_t code = m.num[FK_TAG_ERRNO];
  if (code == 0 || code > 4095)
    fk_error_set (err, EPROTO, "the agent sent an error with errno %llu: %s%s",
                  (unsigned long long)code, msg, cut ? "..." : "");
  else
    fk_error_set (err, (int)code, "%s%s", msg, cut ? "..." : "");
  fk_wire_msg_clear (&m);
  return -1;
}

int
fk_cframe_exit (const fk_cframe_t *f, fk_exit_status_t *ret_status, uint64_t *ret_flags,
                fk_error_t *err)
{
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    return -1;
  fk_exit_status_t st = { 0 };
  int ret = 0;
  if (fk_wire_msg_has (&m, FK_TAG_SIGNAL))
    {
      if (m.num[FK_TAG_SIGNAL] < 1 || m.num[FK_TAG_SIGNAL] > 64)
        ret = fk_error_set (err, EPROTO, "exit: signal %llu out of range",
                            (unsigned long long)m.num[FK_TAG_SIGNAL]);
      st.signal = (int)m.num[FK_TAG_SIGNAL];
      st.exit_code = 128 + st.signal;
    }
  else
    st.exit_code = (int)m.num[FK_TAG_EXIT_CODE]; /* 0-255: checked by wire/msg.c */
  st.timed_out = m.num[FK_TAG_TIMED_OUT] != 0;
  uint64_t flags = m.num[FK_TAG_FLAGS];
  fk_wire_msg_clear (&m);
  if (ret < 0)
    return -1;
  *ret_status = st;
  if (ret_flags)
    *ret_flags = flags;
  return 0;
}

int
fk_client_check_pid (const fk_wire_msg_t *m, const char *what, pid_t *ret_pid, fk_error_t *err)
{
  uint64_t v = m->num[FK_TAG_PID];
  if (!fk_wire_msg_has (m, FK_TAG_PID))
    return fk_error_set (err, EPROTO, "%s: no pid", what);
  if (v < 1 || v > FK_CLIENT_PID_MAX)
    return fk_error_set (err, EPROTO, "%s: pid %lld out of range", what, (long long)v);
  *ret_pid = (pid_t)v;
  return 0;
}
