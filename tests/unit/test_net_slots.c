/* Unit tests for net/slots and the egress plane's addresses and nftables text: the lowest free
   slot, a full table, free checks the owner, the sweep frees orphans only (and asks its callback
   first), processes allocating at once never share a slot, addresses per slot, subnets from the
   environment, and the rules' text (nested blocks merged, deny-all, limits). */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <utime.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "net/egress.h"
#include "net/slots.h"

typedef struct
{
  char *dir;
  int state_fd;
  int sandboxes_fd;
} fixture_t;

static int
setup (void **state)
{
  fixture_t *f = xcalloc (1, sizeof *f);
  f->dir = test_tmpdir ();
  f->state_fd = open (f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_free char *sb = xasprintf ("%s/sandboxes", f->dir);
  assert_int_equal (mkdir (sb, 0700), 0);
  f->sandboxes_fd = open (sb, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->state_fd >= 0 && f->sandboxes_fd >= 0);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  close (f->state_fd);
  close (f->sandboxes_fd);
  test_tmpdir_free (f->dir);
  free (f);
  return 0;
}

static void
lowest_free_slot_and_full_table (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  unsigned s;
  for (unsigned i = 1; i <= 3; i++)
    {
      assert_int_equal (fk_net_slot_alloc (f->state_fd, "sb-a", 3, &s, &err), 0);
      assert_int_equal (s, i);
    }
  assert_int_equal (fk_net_slot_alloc (f->state_fd, "sb-a", 3, &s, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  fk_error_clear (&err);
  assert_int_equal (fk_net_slot_free (f->state_fd, 2, "sb-a", &err), 0);
  assert_int_equal (fk_net_slot_alloc (f->state_fd, "sb-b", 3, &s, &err), 0);
  assert_int_equal (s, 2);
  assert_int_equal (fk_net_slot_find (f->state_fd, "sb-b"), 2);
  assert_int_equal (fk_net_slot_find (f->state_fd, "sb-c"), 0);
  assert_int_equal (fk_net_slot_alloc (f->state_fd, "Bad Id", 3, &s, &err), -1);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
}

static void
free_checks_the_owner (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  unsigned s;
  assert_int_equal (fk_net_slot_alloc (f->state_fd, "owner", 10, &s, &err), 0);
  assert_int_equal (fk_net_slot_free (f->state_fd, s, "other", &err), -1);
  assert_int_equal (err.code, EPERM);
  fk_error_clear (&err);
  assert_int_equal (fk_net_slot_find (f->state_fd, "owner"), s);
  assert_int_equal (fk_net_slot_free (f->state_fd, s, "owner", &err), 0);
  /* Free twice: success, so a delete can be retried. */
  assert_int_equal (fk_net_slot_free (f->state_fd, s, "owner", &err), 0);
}

static int swept[8];
static size_t n_swept;

static int
on_sweep (unsigned slot, void *data)
{
  (void)data;
  swept[n_swept++] = (int)slot;
  return slot == 3 ? -1 : 0; /* a teardown that fails keeps its slot */
}

static void
sweep_frees_orphans_only (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  unsigned s;
  assert_int_equal (mkdirat (f->sandboxes_fd, "alive", 0700), 0);
  assert_int_equal (fk_net_slot_alloc (f->state_fd, "alive", 10, &s, &err), 0); /* 1 */
  assert_int_equal (fk_net_slot_alloc (f->state_fd, "gone", 10, &s, &err), 0);  /* 2 */
  assert_int_equal (fk_net_slot_alloc (f->state_fd, "stuck", 10, &s, &err), 0); /* 3 */
  /* Young slots are left alone: their create may still run. */
  n_swept = 0;
  assert_int_equal (fk_net_slot_sweep (f->state_fd, f->sandboxes_fd, 60, on_sweep, NULL, &err), 0);
  assert_int_equal (n_swept, 0);
  assert_int_equal (fk_net_slot_sweep (f->state_fd, f->sandboxes_fd, 0, on_sweep, NULL, &err), 1);
  assert_int_equal (n_swept, 2);
  assert_int_equal (fk_net_slot_find (f->state_fd, "alive"), 1);
  assert_int_equal (fk_net_slot_find (f->state_fd, "gone"), 0);
  assert_int_equal (fk_net_slot_find (f->state_fd, "stuck"), 3);
}

static void
concurrent_allocs_never_share (void **state)
{
  fixture_t *f = *state;
  enum
  {
    PROCS = 8,
    EACH = 20
  };
  for (int p = 0; p < PROCS; p++)
    if (fork () == 0)
      {
        fk_error_t err = FK_ERROR_INIT;
        char id[16];
        snprintf (id, sizeof id, "p%d", p);
        for (int i = 0; i < EACH; i++)
          {
            unsigned s;
            if (fk_net_slot_alloc (f->state_fd, id, 1000, &s, &err) < 0)
              _exit (1);
          }
        _exit (0);
      }
  for (int p = 0; p < PROCS; p++)
    {
      int st;
      wait (&st);
      assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    }
  /* PROCS * EACH files, each a distinct slot from 1: exactly 1..PROCS*EACH are taken. */
  cleanup_free char *p = xasprintf ("%s/net/slots", f->dir);
  for (unsigned s = 1; s <= PROCS * EACH + 1; s++)
    {
      cleanup_free char *file = xasprintf ("%s/%u", p, s);
      assert_int_equal (access (file, F_OK) == 0, s <= PROCS * EACH);
    }
}

static void
addresses_and_subnets (void **state)
{
  (void)state;
  fk_error_t err = FK_ERROR_INIT;
  fk_net_config_t cfg;
  unsetenv ("FIRKIN_NET_SUBNET4");
  unsetenv ("FIRKIN_NET_SUBNET6");
  assert_int_equal (fk_net_config_load (&cfg, &err), 0);
  assert_int_equal (fk_net_config_slots (&cfg), FK_NET_SLOTS_MAX);
  char a4[64], a6[64], g4[64], g6[64];
  fk_net_slot_addrs (&cfg, 1, a4, a6, g4, g6);
  assert_string_equal (a4, "10.88.0.2");
  assert_string_equal (a6, "fd7f:6b1e:6e00::2");
  assert_string_equal (g4, "10.88.0.1");
  assert_string_equal (g6, "fd7f:6b1e:6e00::1");
  fk_net_slot_addrs (&cfg, 300, a4, a6, NULL, NULL);
  assert_string_equal (a4, "10.88.1.45");
  assert_string_equal (a6, "fd7f:6b1e:6e00::12d");
  setenv ("FIRKIN_NET_SUBNET4", "192.168.7.0/24", 1);
  setenv ("FIRKIN_NET_SUBNET6", "fd00:1::/120", 1);
  assert_int_equal (fk_net_config_load (&cfg, &err), 0);
  assert_int_equal (fk_net_config_slots (&cfg), 253);
  setenv ("FIRKIN_NET_SUBNET4", "10.0.0.0", 1);
  assert_int_equal (fk_net_config_load (&cfg, &err), -1);
  assert_non_null (strstr (fk_error_message (&err), "FIRKIN_NET_SUBNET4"));
  fk_error_clear (&err);
  setenv ("FIRKIN_NET_SUBNET4", "10.0.0.0/31", 1);
  assert_int_equal (fk_net_config_load (&cfg, &err), -1);
  fk_error_clear (&err);
  unsetenv ("FIRKIN_NET_SUBNET4");
  unsetenv ("FIRKIN_NET_SUBNET6");
}

static void
nft_text (void **state)
{
  (void)state;
  fk_error_t err = FK_ERROR_INIT;
  fk_net_config_t cfg;
  assert_int_equal (fk_net_config_load (&cfg, &err), 0);
  const char *allow[] = { "10.1.0.0/16", "10.1.2.3", "2001:db8::/32", "example.com", NULL };
  const char *deny[] = { "0.0.0.0/0", NULL };
  fk_egress_t eg = {
    .slot = 7, .allow_out = allow, .deny_out = deny, .bytes_per_sec = 1 << 20, .max_connections = 5
  };
  cleanup_free char *text = NULL;
  assert_int_equal (fk_egress_nft_text (&cfg, &eg, 42, &text, &err), 0);
  /* 10.1.2.3 is inside 10.1.0.0/16: one interval. */
  assert_non_null (strstr (text, "add element inet firkin sb_7_allow4 { 10.1.0.0/16 }"));
  assert_non_null (strstr (text, "add element inet firkin sb_7_allow6 { 2001:db8::/32 }"));
  assert_non_null (strstr (text, "sb_7_vout meta nfproto ipv4 goto sb_7_deny"));
  assert_non_null (strstr (text, "sb_7_vout meta nfproto ipv6 goto sb_7_deny"));
  assert_non_null (strstr (text, "ip saddr != 10.88.0.8 counter name sb_7_denied drop"));
  assert_non_null (strstr (text, "limit rate over 1048576 bytes/second"));
  assert_non_null (strstr (text, "ct count over 5"));
  assert_non_null (strstr (text, "ct mark != 42 jump sb_7_vout"));
  assert_non_null (strstr (text, "\"fkv7\" : goto sb_7_out"));
  assert_null (strstr (text, "add table")); /* no base */
  /* No limit asked: the default one, never none (the connection tracking table is shared). */
  fk_egress_t plain = { .slot = 8 };
  cleanup_free char *plain_text = NULL;
  assert_int_equal (fk_egress_nft_text (&cfg, &plain, 42, &plain_text, &err), 0);
  assert_non_null (strstr (plain_text, "sb_8_okout ct state new ct count over 4096 "));
  /* The shared table denies the sandboxes' own subnet by default, whatever range it is in. */
  setenv ("FIRKIN_NET_SUBNET4", "198.51.100.0/24", 1);
  assert_int_equal (fk_net_config_load (&cfg, &err), 0);
  unsetenv ("FIRKIN_NET_SUBNET4");
  cleanup_free char *base = fk_egress_nft_base_text (&cfg);
  const char *dd = strstr (base, "add element inet firkin default_deny4 {");
  assert_non_null (dd);
  const char *sub = strstr (dd, "198.51.100.0/24");
  assert_true (sub != NULL && sub < strchr (dd, '}'));
  assert_non_null (strstr (base, "ip saddr 198.51.100.0/24 oifname != \"fkv*\" masquerade"));
  const char *bad[] = { "10.0.0.0/33", NULL };
  eg.deny_out = bad;
  cleanup_free char *none = NULL;
  assert_int_equal (fk_egress_nft_text (&cfg, &eg, 42, &none, &err), -1);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (lowest_free_slot_and_full_table, setup, teardown),
    cmocka_unit_test_setup_teardown (free_checks_the_owner, setup, teardown),
    cmocka_unit_test_setup_teardown (sweep_frees_orphans_only, setup, teardown),
    cmocka_unit_test_setup_teardown (concurrent_allocs_never_share, setup, teardown),
    cmocka_unit_test (addresses_and_subnets),
    cmocka_unit_test (nft_text),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
