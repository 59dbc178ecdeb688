/* net/hubmsg.c: the resolver hub's requests (net/resolver.h), built by the library's hand-off
   and parsed by the hub. Kept apart so that the fuzz target compiles it in. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "base/xalloc.h"
#include "net/resolver.h"

char *
fk_resolver_hub_msg_build (int op, const char *const *strs, size_t *ret_len, fk_error_t *err)
{
  size_t len = 1;
  for (size_t i = 0; strs[i]; i++)
    len += strlen (strs[i]) + 1;
  if (len > FK_RESOLVER_HUB_MSG_MAX)
    {
      fk_error_set (err, E2BIG, "resolver hub: a request of %zu bytes", len);
      return NULL;
    }
  char *buf = xmalloc (len);
  buf[0] = (char)op;
  size_t off = 1;
  for (size_t i = 0; strs[i]; i++)
    {
      size_t l = strlen (strs[i]) + 1;
      memcpy (buf + off, strs[i], l);
      off += l;
    }
  *ret_len = len;
  return buf;
}

int
fk_resolver_hub_msg_parse (char *buf, size_t len, fk_resolver_hub_msg_t *msg, fk_error_t *err)
{
  memset (msg, 0, sizeof *msg);
  if (len < 2 || len > FK_RESOLVER_HUB_MSG_MAX)
    return fk_error_set (err, EINVAL, "hub request: %zu bytes", len);
  int op = (unsigned char)buf[0];
  if (op != FK_RESOLVER_HUB_TAKE && op != FK_RESOLVER_HUB_RELOAD && op != FK_RESOLVER_HUB_STOP)
    return fk_error_set (err, EINVAL, "hub request: unknown operation %d", op);
  if (buf[len - 1] != '\0')
    return fk_error_set (err, EINVAL, "hub request: its last string is not terminated");
  const char *strs[FK_RESOLVER_HUB_ARGV_MAX + 1];
  size_t n = 0;
  for (size_t off = 1; off < len;)
    {
      const char *str = buf + off;
      size_t l = strlen (str);
      if (l == 0)
        return fk_error_set (err, EINVAL, "hub request: an empty string");
      for (size_t i = 0; i < l; i++)
        if ((unsigned char)str[i] < 0x20 || str[i] == 0x7f)
          return fk_error_set (err, EINVAL, "hub request: a control character in a string");
      if (n == sizeof strs / sizeof strs[0])
        return fk_error_set (err, EINVAL, "hub request: more than %zu strings", n);
      strs[n++] = str;
      off += l + 1;
    }
  size_t want_min = op == FK_RESOLVER_HUB_TAKE ? 2 : 1;
  size_t want_max = op == FK_RESOLVER_HUB_TAKE ? FK_RESOLVER_HUB_ARGV_MAX + 1 : 1;
  if (n < want_min || n > want_max)
    return fk_error_set (err, EINVAL, "hub request: %zu strings for operation `%c'", n, op);
  if (strs[0][0] != '/' || strlen (strs[0]) >= PATH_MAX)
    return fk_error_set (err, EINVAL, "hub request: the key is not an absolute path");
  if (op == FK_RESOLVER_HUB_TAKE && strs[1][0] != '/')
    return fk_error_set (err, EINVAL, "hub request: the program is not an absolute path");
  msg->op = op;
  msg->key = strs[0];
  for (size_t i = 1; i < n; i++)
    msg->argv[msg->argc++] = strs[i];
  msg->argv[msg->argc] = NULL;
  return 0;
}
