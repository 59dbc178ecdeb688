/* Unit tests for net/egress_batch: the sandbox's nftables objects made through libnftnl are the
   ones the nftables text makes. Each case loads the text into one new network namespace and the
   batch into another, and compares `list table inet firkin' of the two: rules of every kind
   (names, nested and open-ended blocks, deny-all, limits, none), 4,096 rules (the elements
   split over messages), a replacement, removal (the other sandboxes' objects untouched, a second
   removal a success), and a missing shared table (ENOENT). Needs root (network namespaces);
   skipped without. */
#include "testutil.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "net/egress.h"

static fk_net_config_t cfg;

static int
setup (void **state)
{
  (void)state;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_net_config_load (&cfg, &err), 0);
  return 0;
}

/* A new, empty network namespace for this process (the last one goes with its objects). */
static void
fresh_netns (void)
{
  if (geteuid () != 0 || unshare (CLONE_NEWNET) < 0)
    skip ();
}

static char *
nft (const char *cmd)
{
  struct nft_ctx *ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  assert_non_null (ctx);
  nft_ctx_buffer_output (ctx);
  nft_ctx_buffer_error (ctx);
  int rc = nft_run_cmd_from_buffer (ctx, cmd);
  if (rc != 0)
    fail_msg ("nft: %s: %s", cmd, nft_ctx_get_error_buffer (ctx));
  char *out = xstrdup (nft_ctx_get_output_buffer (ctx));
  nft_ctx_free (ctx);
  return out;
}

static char *
listing (void)
{
  return nft ("list table inet firkin");
}

static void
load_base (void)
{
  cleanup_free char *base = fk_egress_nft_base_text (&cfg);
  free (nft (base));
}

static void
load_text (const fk_egress_t *eg, uint32_t gen)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *text = NULL;
  assert_int_equal (fk_egress_nft_text (&cfg, eg, gen, &text, &err), 0);
  free (nft (text));
}

static void
load_batch (const fk_egress_t *eg, uint32_t gen)
{
  fk_error_t err = FK_ERROR_INIT;
  if (fk_egress_nft_batch (&cfg, eg, gen, &err) < 0)
    fail_msg ("batch: %s", fk_error_message (&err));
}

static void
assert_same (const char *text_path, const char *batch_path)
{
  if (strcmp (text_path, batch_path) != 0)
    {
      fprintf (stderr, "--- text\n%s\n--- batch\n%s\n", text_path, batch_path);
      fail_msg ("the listings differ");
    }
}

/* eg loaded by text and by batch, each over the base in a namespace of its own. */
static void
check_same (const fk_egress_t *eg)
{
  fresh_netns ();
  load_base ();
  load_text (eg, 42);
  cleanup_free char *a = listing ();
  fresh_netns ();
  load_base ();
  load_batch (eg, 42);
  cleanup_free char *b = listing ();
  assert_same (a, b);
  assert_non_null (strstr (b, "chain sb_"));
}

static void
same_rules (void **state)
{
  (void)state;
  const char *allow[] = { "10.1.0.0/16",
                          "10.1.2.3",
                          "2001:db8::/32",
                          "example.com",
                          "*.example.org",
                          "93.184.216.34",
                          "255.255.255.255",
                          "ffff::/16",
                          "128.0.0.0/1",
                          "10.2.0.0/16",
                          NULL };
  const char *deny[] = { "0.0.0.0/0", NULL };
  fk_egress_t eg = {
    .slot = 7, .allow_out = allow, .deny_out = deny, .bytes_per_sec = 1 << 20, .max_connections = 5
  };
  check_same (&eg);
  /* No rules, no limits. */
  fk_egress_t bare = { .slot = 0 };
  check_same (&bare);
  /* IPv6 denied, blocks at both ends of the space, a block beside another. */
  const char *allow6[] = { "::/1", "8000::/1", "0.0.0.0/32", NULL };
  const char *deny6[] = { "::/0", "192.0.2.0/24", "192.0.3.0/24", "198.51.100.7", NULL };
  fk_egress_t v6 = { .slot = 250, .allow_out = allow6, .deny_out = deny6, .bytes_per_sec = 1000 };
  check_same (&v6);
}

/* The most rules a sandbox takes: more elements than one message carries. */
static void
many_rules (void **state)
{
  (void)state;
  enum
  {
    N = 4096
  };
  char **deny = xcalloc (N + 1, sizeof *deny);
  for (unsigned i = 0; i < N; i++)
    deny[i] = i % 2 ? xasprintf ("2001:db8:%x::/48", i)
                    : xasprintf ("100.%u.%u.0/24", i / 256, i % 256);
  fk_egress_t eg = { .slot = 3, .deny_out = (const char *const *)deny };
  check_same (&eg);
  for (unsigned i = 0; i < N; i++)
    free (deny[i]);
  free (deny);
}

/* A replacement leaves what the new rules alone make (a new generation, the old elements and
   rules gone). */
static void
replace (void **state)
{
  (void)state;
  const char *allow1[] = { "10.9.0.0/16", "example.com", NULL };
  const char *deny1[] = { "0.0.0.0/0", NULL };
  const char *allow2[] = { "192.0.2.1", NULL };
  fk_egress_t first = { .slot = 5, .allow_out = allow1, .deny_out = deny1, .max_connections = 9 };
  fk_egress_t second = { .slot = 5, .allow_out = allow2, .bytes_per_sec = 4096 };
  fresh_netns ();
  load_base ();
  load_text (&second, 43);
  cleanup_free char *a = listing ();
  fresh_netns ();
  load_base ();
  load_batch (&first, 42);
  load_batch (&second, 43);
  cleanup_free char *b = listing ();
  assert_same (a, b);
  assert_null (strstr (b, "10.9.0.0"));
}

/* Removing one sandbox leaves the table as if it had never been there; again is fine. */
static void
removal (void **state)
{
  (void)state;
  const char *allow[] = { "10.9.0.0/16", NULL };
  fk_egress_t one = { .slot = 1, .allow_out = allow, .bytes_per_sec = 8192 };
  fk_egress_t two = { .slot = 2, .max_connections = 3 };
  fresh_netns ();
  load_base ();
  load_text (&two, 42);
  cleanup_free char *a = listing ();
  fresh_netns ();
  load_base ();
  load_batch (&one, 42);
  load_batch (&two, 42);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_egress_nft_remove (1, &err), 0);
  cleanup_free char *b = listing ();
  assert_same (a, b);
  assert_int_equal (fk_egress_nft_remove (1, &err), 0);
  assert_int_equal (fk_egress_nft_remove (2, &err), 0);
  cleanup_free char *c = listing ();
  assert_null (strstr (c, "sb_"));
  /* A sandbox some of whose objects a hand removed: the rest still go. */
  load_batch (&one, 42);
  free (nft ("delete element inet firkin out_if { \"fkv1\" }\n"
             "flush chain inet firkin sb_1_out\n"
             "delete chain inet firkin sb_1_out\n"));
  assert_int_equal (fk_egress_nft_remove (1, &err), 0);
  cleanup_free char *d = listing ();
  assert_null (strstr (d, "sb_1"));
  assert_null (strstr (d, "fkv1"));
}

static void
no_table (void **state)
{
  (void)state;
  fresh_netns ();
  fk_egress_t eg = { .slot = 4 };
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_egress_nft_batch (&cfg, &eg, 42, &err), -1);
  assert_int_equal (err.code, ENOENT);
  assert_non_null (strstr (fk_error_message (&err), "sb_4"));
  fk_error_clear (&err);
  assert_int_equal (fk_egress_nft_remove (4, &err), 0);
  /* Bad rules: an error before anything is sent. */
  const char *bad[] = { "10.0.0.0/33", NULL };
  eg.deny_out = bad;
  load_base ();
  assert_int_equal (fk_egress_nft_batch (&cfg, &eg, 42, &err), -1);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
  cleanup_free char *l = listing ();
  assert_null (strstr (l, "sb_4"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (same_rules), cmocka_unit_test (many_rules), cmocka_unit_test (replace),
    cmocka_unit_test (removal),    cmocka_unit_test (no_table),
  };
  return cmocka_run_group_tests (tests, setup, NULL);
}
