/* Unit tests for net/rules: what parses and what is refused (with the entry named), normal
   forms, E2B's semantics (allow beats deny, 0.0.0.0/0 is everything, domains only in allow),
   the default-denied ranges, wildcard names, and the bound on the number of rules. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "net/rules.h"

static fk_net_verdict_t
verdict (const fk_net_rules_t *r, const char *addr)
{
  uint8_t a[16];
  int family = strchr (addr, ':') ? AF_INET6 : AF_INET;
  assert_int_equal (inet_pton (family, addr, a), 1);
  return fk_net_rules_addr_verdict (r, family, a);
}

static void
parses_and_formats (void **state)
{
  const char *allow[]
      = { "1.2.3.4",      "8.8.8.0/24", "10.1.2.3/8",  "2001:db8::1", "2001:DB8::/32",
          "Example.COM.", "*.pypi.org", "a_b.example", NULL };
  fk_net_rules_t r;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_net_rules_parse (allow, NULL, &r, &err) < 0)
    fail_msg ("%s", err.msg);
  assert_int_equal (r.n_allow, 8);
  assert_int_equal (r.n_deny, 0);
  const char *want[] = { "1.2.3.4",       "8.8.8.0/24",  "10.0.0.0/8", "2001:db8::1",
                         "2001:db8::/32", "example.com", "*.pypi.org", "a_b.example" };
  char buf[FK_NET_RULE_TEXT_MAX];
  for (size_t i = 0; i < r.n_allow; i++)
    assert_string_equal (fk_net_rule_format (&r.allow[i], buf, sizeof buf), want[i]);
  assert_int_equal (r.allow[0].kind, FK_NET_RULE_ADDR4);
  assert_int_equal (r.allow[3].kind, FK_NET_RULE_ADDR6);
  assert_int_equal (r.allow[6].kind, FK_NET_RULE_NAME);
  assert_true (r.allow[6].wildcard);
  fk_net_rules_clear (&r);
  fk_error_clear (&err);
}

static void
refuses_malformed_rules (void **state)
{
  const char *bad_allow[] = { "1.2.3.4/33", "1.2.3",
                              "1.2.3.4.5",  "ex ample.com",
                              "*",          "*example.com",
                              "-a.com",     "a-.com",
                              "a..com",     "",
                              "::1/129",    "1.2.3.4/",
                              "1.2.3.4/x",  "a.com/24",
                              "*.",         "2001:db8::zz",
                              "1.2.3.4/08", "\x01.com",
                              NULL };
  for (size_t i = 0; bad_allow[i]; i++)
    {
      const char *one[] = { "9.9.9.9", bad_allow[i], NULL };
      fk_net_rules_t r;
      fk_error_t err = FK_ERROR_INIT;
      if (fk_net_rules_parse (one, NULL, &r, &err) == 0)
        fail_msg ("`%s' parsed", bad_allow[i]);
      assert_int_equal (err.code, EINVAL);
      assert_non_null (strstr (err.msg, "allow_out[1]"));
      fk_error_clear (&err);
    }
  /* A domain name is an allow rule only, as E2B has it. */
  const char *deny[] = { "10.0.0.0/8", "evil.example.com", NULL };
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_net_rules_check (NULL, deny, &err), -1);
  assert_non_null (strstr (err.msg, "deny_out[1]"));
  assert_non_null (strstr (err.msg, "domain name can only be allowed"));
  fk_error_clear (&err);
  /* A label of 64 characters, a name of 254. */
  char label[80], name[300];
  memset (label, 'a', 64);
  strcpy (label + 64, ".com");
  const char *long_label[] = { label, NULL };
  assert_int_equal (fk_net_rules_check (long_label, NULL, &err), -1);
  fk_error_clear (&err);
  memset (name, 0, sizeof name);
  for (size_t i = 0; i < 254; i += 2)
    memcpy (name + i, "a.", 2);
  name[253] = 'b';
  name[254] = '\0';
  const char *long_name[] = { name, NULL };
  assert_int_equal (fk_net_rules_check (long_name, NULL, &err), -1);
  fk_error_clear (&err);
}

static void
bounds_the_number_of_rules (void **state)
{
  size_t n = 10000;
  const char **list = xcalloc (n + 1, sizeof *list);
  char **texts = xcalloc (n, sizeof *texts);
  for (size_t i = 0; i < n; i++)
    list[i] = texts[i] = xasprintf ("10.%zu.%zu.0/24", i / 256, i % 256);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_net_rules_check (list, NULL, &err), -1);
  assert_int_equal (err.code, E2BIG);
  fk_error_clear (&err);
  list[FK_NET_RULES_MAX] = NULL;
  assert_int_equal (fk_net_rules_check (list, NULL, &err), 0);
  for (size_t i = 0; i < n; i++)
    free (texts[i]);
  free (texts);
  free (list);
}

static void
allow_beats_deny_and_defaults (void **state)
{
  const char *allow[] = { "10.88.0.7", "169.254.169.254", "1.1.1.1", "fd00::/8", NULL };
  const char *deny[] = { "1.0.0.0/8", "203.0.113.0/24", NULL };
  fk_net_rules_t r;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_net_rules_parse (allow, deny, &r, &err), 0);
  assert_int_equal (verdict (&r, "1.1.1.1"), FK_NET_VERDICT_ALLOW);
  assert_int_equal (verdict (&r, "1.1.1.2"), FK_NET_VERDICT_DENY);
  assert_int_equal (verdict (&r, "203.0.113.9"), FK_NET_VERDICT_DENY);
  assert_int_equal (verdict (&r, "198.51.100.1"), FK_NET_VERDICT_ALLOW);
  assert_int_equal (verdict (&r, "10.88.0.7"), FK_NET_VERDICT_ALLOW);
  assert_int_equal (verdict (&r, "10.88.0.8"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "169.254.169.254"), FK_NET_VERDICT_ALLOW);
  assert_int_equal (verdict (&r, "169.254.169.253"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "100.100.100.200"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "192.168.1.1"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "172.31.255.255"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "172.32.0.1"), FK_NET_VERDICT_ALLOW);
  assert_int_equal (verdict (&r, "127.0.0.1"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "fd00:ec2::254"), FK_NET_VERDICT_ALLOW);
  assert_int_equal (verdict (&r, "fc00::1"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "fe80::1"), FK_NET_VERDICT_DEFAULT_DENY);
  /* 10.0.0.5 through a NAT64 gateway (well-known prefix) or 6to4. */
  assert_int_equal (verdict (&r, "64:ff9b::a00:5"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "2002:a00:5::1"), FK_NET_VERDICT_DEFAULT_DENY);
  assert_int_equal (verdict (&r, "2001:db8::1"), FK_NET_VERDICT_ALLOW);
  assert_false (r.deny_all4);
  /* Names: everything resolves while some traffic is allowed. */
  assert_true (fk_net_rules_name_resolves (&r, "anything.example"));
  fk_net_rules_clear (&r);
}

static void
all_traffic_and_names (void **state)
{
  const char *allow[] = { "pypi.org", "*.pythonhosted.org", "8.8.8.8", NULL };
  const char *deny[] = { "0.0.0.0/0", NULL };
  fk_net_rules_t r;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_net_rules_parse (allow, deny, &r, &err), 0);
  assert_true (r.deny_all4);
  assert_true (r.deny_all6);
  assert_int_equal (verdict (&r, "8.8.8.8"), FK_NET_VERDICT_ALLOW);
  assert_int_equal (verdict (&r, "8.8.4.4"), FK_NET_VERDICT_DENY);
  assert_int_equal (verdict (&r, "2001:db8::1"), FK_NET_VERDICT_DENY);
  assert_true (fk_net_rules_name_resolves (&r, "pypi.org"));
  assert_true (fk_net_rules_name_resolves (&r, "PyPI.org."));
  assert_false (fk_net_rules_name_resolves (&r, "www.pypi.org"));
  assert_false (fk_net_rules_name_resolves (&r, "xpypi.org"));
  assert_true (fk_net_rules_name_resolves (&r, "files.pythonhosted.org"));
  assert_true (fk_net_rules_name_resolves (&r, "a.b.c.pythonhosted.org"));
  assert_false (fk_net_rules_name_resolves (&r, "pythonhosted.org"));
  assert_false (fk_net_rules_name_resolves (&r, "evilpythonhosted.org"));
  assert_false (fk_net_rules_name_resolves (&r, "example.com"));
  assert_false (fk_net_rules_name_resolves (&r, ""));
  assert_false (fk_net_rules_name_resolves (&r, "."));
  fk_net_rules_clear (&r);

  /* ::/0 denies IPv6 only: names still resolve. */
  const char *deny6[] = { "::/0", NULL };
  assert_int_equal (fk_net_rules_parse (NULL, deny6, &r, &err), 0);
  assert_false (r.deny_all4);
  assert_true (r.deny_all6);
  assert_int_equal (verdict (&r, "2001:db8::1"), FK_NET_VERDICT_DENY);
  assert_int_equal (verdict (&r, "8.8.8.8"), FK_NET_VERDICT_ALLOW);
  assert_true (fk_net_rules_name_resolves (&r, "example.com"));
  fk_net_rules_clear (&r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (parses_and_formats),         cmocka_unit_test (refuses_malformed_rules),
    cmocka_unit_test (bounds_the_number_of_rules), cmocka_unit_test (allow_beats_deny_and_defaults),
    cmocka_unit_test (all_traffic_and_names),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
