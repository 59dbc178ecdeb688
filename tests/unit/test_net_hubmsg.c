/* Unit tests for the resolver hub's requests (net/hubmsg.c): each operation builds and parses
   back; what the hub refuses (an unknown operation, a string not terminated, an empty one, a
   control character, a relative key or program, too many strings, a string left over) is
   EINVAL; a request past the size bound does not build. */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "net/resolver.h"

static void
test_round_trip (void **state)
{
  (void)state;
  const char *take[] = { "/s/sandboxes/a/net.rules", "/x/fk-resolver", "--rules", "/s/r", NULL };
  fk_error_t err = FK_ERROR_INIT;
  size_t len;
  cleanup_free char *buf = fk_resolver_hub_msg_build (FK_RESOLVER_HUB_TAKE, take, &len, &err);
  assert_non_null (buf);
  fk_resolver_hub_msg_t msg;
  assert_int_equal (fk_resolver_hub_msg_parse (buf, len, &msg, &err), 0);
  assert_int_equal (msg.op, FK_RESOLVER_HUB_TAKE);
  assert_string_equal (msg.key, "/s/sandboxes/a/net.rules");
  assert_int_equal (msg.argc, 3);
  assert_string_equal (msg.argv[0], "/x/fk-resolver");
  assert_string_equal (msg.argv[2], "/s/r");
  assert_null (msg.argv[3]);

  const char *one[] = { "/s/sandboxes/a/net.rules", NULL };
  int ops[] = { FK_RESOLVER_HUB_RELOAD, FK_RESOLVER_HUB_STOP };
  for (size_t i = 0; i < 2; i++)
    {
      cleanup_free char *b = fk_resolver_hub_msg_build (ops[i], one, &len, &err);
      assert_int_equal (fk_resolver_hub_msg_parse (b, len, &msg, &err), 0);
      assert_int_equal (msg.op, ops[i]);
      assert_int_equal (msg.argc, 0);
    }
}

static void
refused (const char *bytes, size_t len, const char *why)
{
  char *buf = malloc (len + 1);
  memcpy (buf, bytes, len);
  fk_error_t err = FK_ERROR_INIT;
  fk_resolver_hub_msg_t msg;
  assert_int_equal (fk_resolver_hub_msg_parse (buf, len, &msg, &err), -1);
  assert_int_equal (err.code, EINVAL);
  if (strstr (fk_error_message (&err), why) == NULL)
    fail_msg ("`%s' does not say `%s'", fk_error_message (&err), why);
  fk_error_clear (&err);
  free (buf);
}

#define REFUSED(lit, why) refused (lit, sizeof lit - 1, why)

static void
test_refused (void **state)
{
  (void)state;
  REFUSED ("", "0 bytes");
  REFUSED ("X/k\0", "unknown operation");
  REFUSED ("R/k", "not terminated");
  REFUSED ("R/k\0\0", "empty string");
  REFUSED ("R/k\n\0", "control character");
  REFUSED ("Rk\0", "not an absolute path");
  REFUSED ("S/k\0prog\0", "program is not an absolute path");
  REFUSED ("S/k\0", "1 strings");
  REFUSED ("R/k\0/more\0", "2 strings");
  /* One string past the argv's bound. */
  char many[512];
  size_t len = 0;
  many[len++] = 'S';
  for (unsigned i = 0; i < FK_RESOLVER_HUB_ARGV_MAX + 2; i++)
    {
      memcpy (many + len, "/a", 3);
      len += 3;
    }
  refused (many, len, "strings");
}

static void
test_too_big (void **state)
{
  (void)state;
  cleanup_free char *big = malloc (FK_RESOLVER_HUB_MSG_MAX + 1);
  memset (big, 'a', FK_RESOLVER_HUB_MSG_MAX);
  big[0] = '/';
  big[FK_RESOLVER_HUB_MSG_MAX] = '\0';
  const char *strs[] = { big, NULL };
  fk_error_t err = FK_ERROR_INIT;
  size_t len;
  assert_null (fk_resolver_hub_msg_build (FK_RESOLVER_HUB_STOP, strs, &len, &err));
  assert_int_equal (err.code, E2BIG);
  fk_error_clear (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_refused),
    cmocka_unit_test (test_too_big),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
