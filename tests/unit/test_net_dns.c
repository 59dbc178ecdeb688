/* Unit tests for net/dns (queries and answers, compression and its attacks, EDNS, building and
   truncation) and net/resolver's files (rules, upstreams, table names). */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "net/dns.h"
#include "net/resolver.h"

/* A message under construction. */
typedef struct
{
  uint8_t b[4096];
  size_t n;
} buf_t;

static void
put (buf_t *m, const void *p, size_t n)
{
  assert_true (m->n + n <= sizeof m->b);
  memcpy (m->b + m->n, p, n);
  m->n += n;
}

static void
put16 (buf_t *m, unsigned v)
{
  uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
  put (m, b, 2);
}

static void
put32 (buf_t *m, uint32_t v)
{
  put16 (m, v >> 16);
  put16 (m, v & 0xffff);
}

static void
header (buf_t *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
  m->n = 0;
  put16 (m, id);
  put16 (m, flags);
  put16 (m, qd);
  put16 (m, an);
  put16 (m, ns);
  put16 (m, ar);
}

static void
name (buf_t *m, const char *dotted)
{
  const char *p = dotted;
  while (*p)
    {
      size_t n = strcspn (p, ".");
      uint8_t l = (uint8_t)n;
      put (m, &l, 1);
      put (m, p, n);
      p += n;
      if (*p == '.')
        p++;
    }
  put (m, "", 1);
}

static void
question (buf_t *m, const char *dotted, unsigned type)
{
  name (m, dotted);
  put16 (m, type);
  put16 (m, FK_DNS_CLASS_IN);
}

static void
opt (buf_t *m, unsigned size, int do_bit)
{
  put (m, "", 1);
  put16 (m, FK_DNS_TYPE_OPT);
  put16 (m, size);
  put32 (m, do_bit ? 0x8000u : 0);
  put16 (m, 0);
}

static void
parses_a_query (void **state)
{
  buf_t m;
  header (&m, 0x1234, FK_DNS_FLAG_RD, 1, 0, 0, 1);
  question (&m, "PyPI.org", FK_DNS_TYPE_AAAA);
  opt (&m, 4096, 1);
  fk_dns_msg_t q;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), 0);
  assert_int_equal (q.id, 0x1234);
  assert_true (q.has_question);
  assert_string_equal (q.question.name, "PyPI.org");
  assert_int_equal (q.question.qtype, FK_DNS_TYPE_AAAA);
  assert_int_equal (q.question.wire_len, 10);
  assert_true (q.has_edns);
  assert_int_equal (q.edns_size, 4096);
  assert_true (q.edns_do);

  /* Without EDNS, and the root. */
  header (&m, 1, 0, 1, 0, 0, 0);
  question (&m, "", FK_DNS_TYPE_A);
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), 0);
  assert_string_equal (q.question.name, "");
  assert_false (q.has_edns);
}

static void
escapes_odd_bytes (void **state)
{
  /* A label holding a '.' must not read as two labels. */
  buf_t m;
  header (&m, 1, 0, 1, 0, 0, 0);
  uint8_t raw[] = { 5, 'x', '.', 'w', '\\', 0xff, 4, 't', 'e', 's', 't', 0 };
  put (&m, raw, sizeof raw);
  put16 (&m, 1);
  put16 (&m, 1);
  fk_dns_msg_t q;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), 0);
  assert_string_equal (q.question.name, "x\\046w\\092\\255.test");
}

static void
refuses_bad_queries (void **state)
{
  fk_dns_msg_t q;
  fk_error_t err = FK_ERROR_INIT;
  buf_t m;
  /* short */
  assert_int_equal (fk_dns_parse_query ((const uint8_t *)"abc", 3, &q, &err), -1);
  fk_error_clear (&err);
  /* two questions */
  header (&m, 1, 0, 2, 0, 0, 0);
  question (&m, "a.test", 1);
  question (&m, "b.test", 1);
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), -1);
  fk_error_clear (&err);
  /* an answer where a query belongs */
  header (&m, 1, FK_DNS_FLAG_QR, 1, 0, 0, 0);
  question (&m, "a.test", 1);
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), -1);
  fk_error_clear (&err);
  /* trailing bytes */
  header (&m, 1, 0, 1, 0, 0, 0);
  question (&m, "a.test", 1);
  put (&m, "x", 1);
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), -1);
  fk_error_clear (&err);
  /* a label of 64 (the top bits 01: reserved) */
  header (&m, 1, 0, 1, 0, 0, 0);
  uint8_t l64 = 64;
  put (&m, &l64, 1);
  for (int i = 0; i < 64; i++)
    put (&m, "a", 1);
  put (&m, "", 1);
  put16 (&m, 1);
  put16 (&m, 1);
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), -1);
  fk_error_clear (&err);
  /* a name over 255 bytes */
  header (&m, 1, 0, 1, 0, 0, 0);
  for (int k = 0; k < 5; k++)
    {
      uint8_t l = 60;
      put (&m, &l, 1);
      for (int i = 0; i < 60; i++)
        put (&m, "b", 1);
    }
  put (&m, "", 1);
  put16 (&m, 1);
  put16 (&m, 1);
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), -1);
  assert_non_null (strstr (fk_error_message (&err), "longer than"));
  fk_error_clear (&err);
  /* a question that is not there */
  header (&m, 1, 0, 1, 0, 0, 0);
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), -1);
  fk_error_clear (&err);
}

static void
compression_cannot_loop (void **state)
{
  fk_dns_msg_t a;
  fk_error_t err = FK_ERROR_INIT;
  buf_t m;
  /* A record whose owner points at itself. */
  header (&m, 1, FK_DNS_FLAG_QR, 1, 1, 0, 0);
  question (&m, "a.test", 1);
  size_t self = m.n;
  put16 (&m, 0xc000 | self);
  put16 (&m, 1);
  put16 (&m, 1);
  put32 (&m, 60);
  put16 (&m, 4);
  put (&m, "\1\2\3\4", 4);
  assert_int_equal (fk_dns_parse (m.b, m.n, &a, &err), -1);
  assert_non_null (strstr (fk_error_message (&err), "does not point back"));
  fk_error_clear (&err);
  fk_dns_msg_clear (&a);
  /* Two names pointing at each other. */
  header (&m, 1, FK_DNS_FLAG_QR, 1, 1, 0, 0);
  question (&m, "a.test", 1);
  size_t first = m.n;
  uint8_t l1[] = { 1, 'x' };
  put (&m, l1, 2);
  put16 (&m, 0xc000 | (first + 4)); /* forward */
  put16 (&m, 0xc000 | first);
  assert_int_equal (fk_dns_parse (m.b, m.n, &a, &err), -1);
  fk_error_clear (&err);
  fk_dns_msg_clear (&a);
  /* A pointer into the header. */
  header (&m, 1, FK_DNS_FLAG_QR, 1, 1, 0, 0);
  question (&m, "a.test", 1);
  put16 (&m, 0xc000 | 4);
  put16 (&m, 1);
  put16 (&m, 1);
  put32 (&m, 60);
  put16 (&m, 4);
  put (&m, "\1\2\3\4", 4);
  assert_int_equal (fk_dns_parse (m.b, m.n, &a, &err), -1);
  fk_error_clear (&err);
  fk_dns_msg_clear (&a);
  /* A long chain of backward pointers is cut at FK_DNS_PTR_MAX: "y" then links "y" + a pointer
     to the link before, then a name pointing at the last link. */
  header (&m, 1, FK_DNS_FLAG_QR, 0, 0, 0, 0);
  uint8_t l[] = { 1, 'y' };
  size_t prev = m.n;
  put (&m, l, 2);
  put (&m, "", 1);
  for (unsigned i = 0; i < FK_DNS_PTR_MAX + 2; i++)
    {
      size_t here = m.n;
      put (&m, l, 2);
      put16 (&m, 0xc000 | prev);
      prev = here;
    }
  size_t rec = m.n;
  put16 (&m, 0xc000 | prev);
  char text[FK_DNS_TEXT_NAME_MAX];
  assert_int_equal (fk_dns_name_text (m.b, m.n, rec, text, &err), -1);
  assert_non_null (strstr (fk_error_message (&err), "pointers"));
  fk_error_clear (&err);
}

static void
parses_an_answer_with_cname (void **state)
{
  buf_t m;
  header (&m, 7, FK_DNS_FLAG_QR | FK_DNS_FLAG_RD | FK_DNS_FLAG_RA, 1, 3, 0, 1);
  question (&m, "www.Allowed.test", FK_DNS_TYPE_A);
  /* www.allowed.test CNAME cdn.other.test (compressed owner), then two A records of cdn. */
  put16 (&m, 0xc000 | FK_DNS_HEADER);
  put16 (&m, FK_DNS_TYPE_CNAME);
  put16 (&m, 1);
  put32 (&m, 300);
  size_t rdlen_at = m.n;
  put16 (&m, 0);
  size_t target = m.n;
  uint8_t cdn[] = { 3, 'c', 'd', 'n', 5, 'o', 't', 'h', 'e', 'r' };
  put (&m, cdn, sizeof cdn);
  put16 (&m, 0xc000 | (FK_DNS_HEADER + 4 + 8)); /* "test" of the question */
  m.b[rdlen_at + 1] = (uint8_t)(m.n - target);
  for (int i = 0; i < 2; i++)
    {
      put16 (&m, 0xc000 | target);
      put16 (&m, FK_DNS_TYPE_A);
      put16 (&m, 1);
      put32 (&m, i ? 0x80000000u : 7200);
      put16 (&m, 4);
      uint8_t a[4] = { 203, 0, 113, (uint8_t)(7 + i) };
      put (&m, a, 4);
    }
  opt (&m, 1232, 0);
  fk_dns_msg_t a;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_dns_parse (m.b, m.n, &a, &err), 0);
  assert_int_equal (a.n_rr, 4);
  assert_true (a.has_edns);
  char text[FK_DNS_TEXT_NAME_MAX];
  assert_int_equal (a.rr[0].type, FK_DNS_TYPE_CNAME);
  assert_int_equal (fk_dns_name_text (m.b, m.n, a.rr[0].name_off, text, &err), 0);
  assert_string_equal (text, "www.Allowed.test");
  assert_int_equal (fk_dns_name_text (m.b, m.n, a.rr[0].rdata_off, text, &err), 0);
  assert_string_equal (text, "cdn.other.test");
  uint8_t w1[FK_DNS_WIRE_NAME_MAX], w2[FK_DNS_WIRE_NAME_MAX];
  size_t n1, n2;
  assert_int_equal (fk_dns_name_canon (m.b, m.n, a.rr[0].rdata_off, w1, &n1, &err), 0);
  assert_int_equal (fk_dns_name_canon (m.b, m.n, a.rr[1].name_off, w2, &n2, &err), 0);
  assert_int_equal (n1, n2);
  assert_memory_equal (w1, w2, n1);
  assert_int_equal (fk_dns_name_canon (m.b, m.n, a.rr[0].name_off, w1, &n1, &err), 0);
  assert_memory_equal (w1, "\3www\7allowed\4test", n1);
  assert_int_equal (a.rr[1].type, FK_DNS_TYPE_A);
  assert_memory_equal (a.rr[1].addr, "\xcb\x00\x71\x07", 4);
  assert_int_equal (a.rr[1].ttl, 7200);
  /* TTL and id rewritten in place. */
  fk_dns_set_ttl (m.b, a.rr[1].ttl_off, 3600);
  fk_dns_set_id (m.b, 0xbeef);
  fk_dns_msg_t b;
  assert_int_equal (fk_dns_parse (m.b, m.n, &b, &err), 0);
  assert_int_equal (b.rr[1].ttl, 3600);
  assert_int_equal (b.id, 0xbeef);
  fk_dns_msg_clear (&b);
  fk_dns_msg_clear (&a);

  /* Lies: an A of 5 bytes, a CNAME whose length says less than its name, counts with no bytes. */
  m.b[m.n - 11 - 4 - 1] = 5;
  assert_int_equal (fk_dns_parse (m.b, m.n, &a, &err), -1);
  fk_error_clear (&err);
  fk_dns_msg_clear (&a);
  header (&m, 1, FK_DNS_FLAG_QR, 0, 65535, 65535, 65535);
  assert_int_equal (fk_dns_parse (m.b, m.n, &a, &err), -1);
  fk_error_clear (&err);
  fk_dns_msg_clear (&a);
}

static void
builds_queries_and_replies (void **state)
{
  buf_t m;
  header (&m, 0x4242, FK_DNS_FLAG_RD | FK_DNS_FLAG_CD, 1, 0, 0, 1);
  question (&m, "Api.Example.com", FK_DNS_TYPE_A);
  opt (&m, 65000, 1);
  fk_dns_msg_t q;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_dns_parse_query (m.b, m.n, &q, &err), 0);

  uint8_t out[512];
  size_t len;
  assert_int_equal (fk_dns_build_query (out, sizeof out, 9, q.flags | FK_DNS_FLAG_AA, &q.question,
                                        1232, 1, &len, &err),
                    0);
  fk_dns_msg_t r;
  assert_int_equal (fk_dns_parse_query (out, len, &r, &err), 0);
  assert_int_equal (r.id, 9);
  assert_int_equal (r.flags, FK_DNS_FLAG_RD | FK_DNS_FLAG_CD); /* nothing else passes */
  assert_string_equal (r.question.name, "Api.Example.com");
  assert_int_equal (r.edns_size, 1232);
  assert_true (r.edns_do);

  assert_int_equal (fk_dns_build_reply (out, sizeof out, &q, FK_DNS_RCODE_NXDOMAIN, 0, &len, &err),
                    0);
  fk_dns_msg_t a;
  assert_int_equal (fk_dns_parse (out, len, &a, &err), 0);
  assert_int_equal (a.id, 0x4242);
  assert_true (a.flags & FK_DNS_FLAG_QR);
  assert_true (a.flags & FK_DNS_FLAG_RD);
  assert_int_equal (FK_DNS_RCODE (a.flags), FK_DNS_RCODE_NXDOMAIN);
  assert_false (a.flags & FK_DNS_FLAG_TC);
  assert_string_equal (a.question.name, "Api.Example.com");
  assert_true (a.has_edns);
  fk_dns_msg_clear (&a);

  /* Truncated: TC, the question, no records. */
  assert_int_equal (fk_dns_build_reply (out, sizeof out, &q, FK_DNS_RCODE_NOERROR, 1, &len, &err),
                    0);
  assert_int_equal (fk_dns_parse (out, len, &a, &err), 0);
  assert_true (a.flags & FK_DNS_FLAG_TC);
  assert_int_equal (a.ancount, 0);
  fk_dns_msg_clear (&a);

  /* No room. */
  assert_int_equal (fk_dns_build_reply (out, 20, &q, 0, 0, &len, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  fk_error_clear (&err);
}

static void
resolver_files (void **state)
{
  char dir[] = "/tmp/fk-test-dns.XXXXXX";
  assert_non_null (mkdtemp (dir));
  cleanup_free char *path = xasprintf ("%s/rules", dir);
  fk_error_t err = FK_ERROR_INIT;
  const char *allow[] = { "pypi.org", "*.github.com", "1.2.3.4", NULL };
  const char *deny[] = { "0.0.0.0/0", NULL };
  assert_int_equal (fk_resolver_rules_write (path, 4294967295u, allow, deny, &err), 0);
  fk_net_rules_t r;
  uint32_t gen = 0;
  assert_int_equal (fk_resolver_rules_read (path, &r, &gen, &err), 0);
  assert_int_equal (gen, 4294967295u);
  assert_int_equal (r.n_allow, 3);
  assert_int_equal (r.n_deny, 1);
  assert_true (fk_net_rules_name_resolves (&r, "api.github.com"));
  assert_false (fk_net_rules_name_resolves (&r, "example.com"));
  fk_net_rules_clear (&r);
  /* Bad rules are refused before anything is written. */
  const char *bad[] = { "a b", NULL };
  assert_int_equal (fk_resolver_rules_write (path, 7, bad, NULL, &err), -1);
  fk_error_clear (&err);
  FILE *f = fopen (path, "w");
  fputs ("# c\n\nallow x.test\npermit y.test\n", f);
  fclose (f);
  assert_int_equal (fk_resolver_rules_read (path, &r, NULL, &err), -1);
  assert_non_null (strstr (fk_error_message (&err), "line 4"));
  fk_error_clear (&err);
  /* Generation 0 writes none; a file without one reads as 0. */
  assert_int_equal (fk_resolver_rules_write (path, 0, allow, NULL, &err), 0);
  gen = 9;
  assert_int_equal (fk_resolver_rules_read (path, &r, &gen, &err), 0);
  assert_int_equal (gen, 0);
  fk_net_rules_clear (&r);
  /* One generation, a number from 1 to 2^32-1, nothing else. */
  static const char *const bad_gen[] = { "generation 0\n",
                                         "generation 4294967296\n",
                                         "generation -1\n",
                                         "generation 0x10\n",
                                         "generation 5\ngeneration 5\n",
                                         "generation\n",
                                         "generation 5 6\n",
                                         "generation +5\n" };
  for (size_t i = 0; i < sizeof bad_gen / sizeof *bad_gen; i++)
    {
      f = fopen (path, "w");
      fputs (bad_gen[i], f);
      fclose (f);
      if (fk_resolver_rules_read (path, &r, &gen, &err) == 0)
        fail_msg ("`%s' was read", bad_gen[i]);
      fk_error_clear (&err);
    }

  /* Upstreams: resolv.conf text and lists. */
  struct sockaddr_storage ss[8];
  assert_int_equal (
      fk_resolver_upstreams_parse ("# x\nnameserver 10.0.0.1\nsearch a\nnameserver fe80::1%eth0\n"
                                   "nameserver 2001:db8::53\n",
                                   ss, 8, &err),
      2);
  assert_int_equal (ss[0].ss_family, AF_INET);
  assert_int_equal (ss[1].ss_family, AF_INET6);
  assert_int_equal (fk_resolver_upstreams_parse ("1.1.1.1, 9.9.9.9#5353", ss, 8, &err), 2);
  assert_int_equal (ntohs (((struct sockaddr_in *)&ss[1])->sin_port), 5353);
  assert_int_equal (fk_resolver_upstreams_parse ("example.com", ss, 8, &err), -1);
  fk_error_clear (&err);
  assert_int_equal (fk_resolver_upstreams_parse ("", ss, 8, &err), -1);
  fk_error_clear (&err);
  cleanup_free char *conf = xasprintf ("%s/resolv.conf", dir);
  f = fopen (conf, "w");
  fputs ("nameserver 127.0.0.53\noptions edns0\n", f);
  fclose (f);
  cleanup_free char *ups = NULL;
  assert_int_equal (fk_resolver_upstreams_read (conf, &ups, &err), 0);
  assert_string_equal (ups, "127.0.0.53");

  /* Table and set names. */
  char family[64], table[64];
  assert_int_equal (
      fk_resolver_table_parse ("inet firkin", "sb_1_dns4", "sb_1_dns6", family, table, &err), 0);
  assert_string_equal (family, "inet");
  assert_string_equal (table, "firkin");
  assert_int_equal (fk_resolver_table_parse ("firkin", "s4", "s6", family, table, &err), 0);
  assert_string_equal (family, "inet");
  assert_int_equal (fk_resolver_table_parse ("bridge firkin", "s4", "s6", family, table, &err), -1);
  fk_error_clear (&err);
  assert_int_equal (
      fk_resolver_table_parse ("inet firkin", "s4; flush ruleset", "s6", family, table, &err), -1);
  fk_error_clear (&err);

  unlink (conf);
  unlink (path);
  rmdir (dir);
}

static void
spawn_refuses_bad_options (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  pid_t pid;
  fk_resolver_opts_t o = FK_RESOLVER_OPTIONS_INIT;
  o.program = "/bin/true";
  assert_int_equal (fk_resolver_spawn (&o, &pid, &err), -1);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
  o.version = 99;
  assert_int_equal (fk_resolver_spawn (&o, &pid, &err), -1);
  assert_non_null (strstr (fk_error_message (&err), "FK_RESOLVER_OPTIONS_INIT"));
  fk_error_clear (&err);
  o.version = FK_RESOLVER_OPTIONS_VERSION;
  o.program = "/nonexistent/fk-resolver";
  assert_int_equal (fk_resolver_spawn (&o, &pid, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (parses_a_query),
    cmocka_unit_test (escapes_odd_bytes),
    cmocka_unit_test (refuses_bad_queries),
    cmocka_unit_test (compression_cannot_loop),
    cmocka_unit_test (parses_an_answer_with_cname),
    cmocka_unit_test (builds_queries_and_replies),
    cmocka_unit_test (resolver_files),
    cmocka_unit_test (spawn_refuses_bad_options),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
