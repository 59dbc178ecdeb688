/* Unit tests for bench/hostmem: parsing smaps_rollup and meminfo, and real figures of this
   process and host. */
#include "testutil.h"

#include "bench/hostmem.h"

static void
parses_smaps_rollup (void **state)
{
  static const char text[] = "55d0c0a00000-7ffd1b5ff000 ---p 00000000 00:00 0   [rollup]\n"
                             "Rss:                 748 kB\n"
                             "Pss:                 118 kB\n"
                             "Pss_Dirty:            40 kB\n";
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_proc_mem_t m;
  assert_int_equal (fk_bench_smaps_rollup_parse (text, &m, &err), 0);
  assert_int_equal (m.rss_bytes, 748 * 1024);
  assert_int_equal (m.pss_bytes, 118 * 1024);
}

static void
refuses_smaps_rollup_without_pss (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_proc_mem_t m = { 7, 7 };
  assert_int_equal (fk_bench_smaps_rollup_parse ("Rss: 1 kB\n", &m, &err), -1);
  assert_error_contains (&err, "no `Rss' or `Pss' line");
  assert_int_equal (m.pss_bytes, 7);
  assert_int_equal (fk_bench_smaps_rollup_parse ("Rss: x kB\nPss: 1 kB\n", &m, &err), -1);
  assert_error_contains (&err, "malformed");
  /* "Pss_Dirty" is not "Pss" */
  assert_int_equal (fk_bench_smaps_rollup_parse ("Rss: 1 kB\nPss_Dirty: 1 kB\n", &m, &err), -1);
  assert_error_contains (&err, "no `Rss' or `Pss'");
}

static void
reads_meminfo_values (void **state)
{
  static const char text[] = "MemTotal:       24683520 kB\nMemFree:        23594332 kB\n"
                             "MemAvailable:   24197280 kB\n";
  fk_error_t err = FK_ERROR_INIT;
  uint64_t v;
  assert_int_equal (fk_bench_meminfo_value (text, "MemAvailable", &v, &err), 0);
  assert_int_equal (v, 24197280ull * 1024);
  assert_int_equal (fk_bench_meminfo_value (text, "Slab", &v, &err), -1);
  assert_error_contains (&err, "no `Slab' line");
}

static void
measures_this_process_and_host (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_proc_mem_t m;
  assert_int_equal (fk_bench_proc_mem (getpid (), &m, &err), 0);
  assert_true (m.rss_bytes > 0);
  assert_true (m.pss_bytes > 0 && m.pss_bytes <= m.rss_bytes);
  uint64_t used;
  assert_int_equal (fk_bench_host_used_bytes (&used, &err), 0);
  assert_true (used > m.pss_bytes);
  /* a pid that cannot exist */
  assert_int_equal (fk_bench_proc_mem (0x3fffffff, &m, &err), -1);
  assert_error_contains (&err, "smaps_rollup");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (parses_smaps_rollup),
    cmocka_unit_test (refuses_smaps_rollup_without_pss),
    cmocka_unit_test (reads_meminfo_values),
    cmocka_unit_test (measures_this_process_and_host),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
