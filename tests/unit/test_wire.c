/* Unit tests for wire/frame and wire/msg: round trips of every frame type and every way a
   frame or a field list can be malformed. */
#include "testutil.h"

#include <errno.h>

#include "base/xalloc.h"

#include "wire/frame.h"
#include "wire/msg.h"

static void
header_round_trip (void **state)
{
  uint8_t h[FK_WIRE_HEADER_LEN];
  fk_wire_header_write (h, FK_WIRE_R_STDOUT, FK_WIRE_F_END, 0xdeadbeef, 12345);
  fk_wire_frame_t f;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_wire_header_parse (h, sizeof h, &f, &err), 1);
  assert_int_equal (f.type, FK_WIRE_R_STDOUT);
  assert_int_equal (f.flags, FK_WIRE_F_END);
  assert_int_equal (f.id, 0xdeadbeef);
  assert_int_equal (f.len, 12345);
  /* A short header asks for more. */
  for (size_t n = 0; n < FK_WIRE_HEADER_LEN; n++)
    assert_int_equal (fk_wire_header_parse (h, n, &f, &err), 0);
  /* A whole frame needs its payload. */
  assert_int_equal (fk_wire_frame_parse (h, sizeof h, &f, &err), 0);
}

static void
header_rejects_bad (void **state)
{
  uint8_t h[FK_WIRE_HEADER_LEN];
  fk_wire_frame_t f;
  fk_error_t err = FK_ERROR_INIT;
  fk_wire_header_write (h, FK_WIRE_EXEC, 0, 1, FK_WIRE_MAX_PAYLOAD + 1);
  assert_true (fk_wire_header_parse (h, sizeof h, &f, &err) < 0);
  assert_int_equal (err.code, EMSGSIZE);
  assert_error_contains (&err, "over the limit");
  fk_wire_header_write (h, FK_WIRE_EXEC, 0, 1, 0xffffffffu);
  assert_true (fk_wire_frame_parse (h, sizeof h, &f, &err) < 0);
  assert_error_contains (&err, "over the limit");
  fk_wire_header_write (h, 0, 0, 1, 0);
  assert_true (fk_wire_header_parse (h, sizeof h, &f, &err) < 0);
  assert_error_contains (&err, "unknown frame type 0");
  fk_wire_header_write (h, 50, 0, 1, 0);
  assert_true (fk_wire_header_parse (h, sizeof h, &f, &err) < 0);
  assert_error_contains (&err, "unknown frame type 50");
  fk_wire_header_write (h, 200, 0, 1, 0);
  assert_true (fk_wire_header_parse (h, sizeof h, &f, &err) < 0);
  fk_error_clear (&err);
  fk_wire_header_write (h, FK_WIRE_EXEC, 0x80, 1, 0);
  assert_true (fk_wire_header_parse (h, sizeof h, &f, &err) < 0);
  assert_error_contains (&err, "flags");
  /* The max payload itself is fine. */
  fk_wire_header_write (h, FK_WIRE_DATA, FK_WIRE_F_EOF, 1, FK_WIRE_MAX_PAYLOAD);
  assert_int_equal (fk_wire_header_parse (h, sizeof h, &f, &err), 1);
}

static void
exec_round_trip (void **state)
{
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_error_t err = FK_ERROR_INIT;
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 7);
  fk_wire_put_str (&b, FK_TAG_ARG, "ls");
  fk_wire_put_str (&b, FK_TAG_ARG, "-l");
  fk_wire_put_str (&b, FK_TAG_ARG, "");
  fk_wire_put_str (&b, FK_TAG_ENV, "A=1");
  fk_wire_put_str (&b, FK_TAG_CWD, "/tmp");
  fk_wire_put_int (&b, FK_TAG_STDIN_MODE, FK_WIRE_STDIN_BYTES);
  fk_wire_put_bytes (&b, FK_TAG_STDIN_DATA, "a\0b", 3);
  fk_wire_put_int (&b, FK_TAG_TIMEOUT_MS, 1500);
  fk_wire_put_int (&b, 60, 99); /* a field from a newer peer: skipped */
  assert_int_equal (fk_wire_end (&b, &err), 0);
  /* A second frame in the same buffer. */
  fk_wire_put_data_frame (&b, FK_WIRE_STDIN, FK_WIRE_F_EOF, 7, "xyz", 3);

  fk_wire_frame_t f;
  long used = fk_wire_frame_parse (b.data, b.len, &f, &err);
  assert_true (used > 0 && (size_t)used < b.len);
  assert_int_equal (f.type, FK_WIRE_EXEC);
  assert_int_equal (f.id, 7);
  fk_wire_msg_t m;
  assert_int_equal (fk_wire_frame_decode (&f, &m, &err), 0);
  assert_string_equal (m.argv[0], "ls");
  assert_string_equal (m.argv[1], "-l");
  assert_string_equal (m.argv[2], "");
  assert_null (m.argv[3]);
  assert_string_equal (m.env[0], "A=1");
  assert_null (m.env[1]);
  assert_string_equal (m.str[FK_TAG_CWD], "/tmp");
  assert_int_equal (m.num[FK_TAG_TIMEOUT_MS], 1500);
  assert_int_equal (m.bytes[FK_TAG_STDIN_DATA].len, 3);
  assert_memory_equal (m.bytes[FK_TAG_STDIN_DATA].data, "a\0b", 3);
  assert_true (fk_wire_msg_has (&m, FK_TAG_CWD));
  assert_false (fk_wire_msg_has (&m, FK_TAG_USER));
  fk_wire_msg_clear (&m);

  fk_wire_frame_t g;
  long used2 = fk_wire_frame_parse (b.data + used, b.len - (size_t)used, &g, &err);
  assert_int_equal ((size_t)used + (size_t)used2, b.len);
  assert_int_equal (g.type, FK_WIRE_STDIN);
  assert_int_equal (g.flags, FK_WIRE_F_EOF);
  assert_int_equal (g.len, 3);
  assert_memory_equal (g.payload, "xyz", 3);
  /* Data frames have no fields to decode. */
  assert_true (fk_wire_frame_decode (&g, &m, &err) < 0);
  assert_error_contains (&err, "no fields");
  fk_wire_buf_free (&b);
}

static void
nested_entries_round_trip (void **state)
{
  fk_wire_buf_t b = FK_WIRE_BUF_INIT, e = FK_WIRE_BUF_INIT;
  fk_error_t err = FK_ERROR_INIT;
  fk_wire_begin (&b, FK_WIRE_R_OK, FK_WIRE_F_END, 3);
  for (int i = 0; i < 100; i++)
    {
      fk_wire_buf_reset (&e);
      char p[16];
      snprintf (p, sizeof p, "f%d", i);
      fk_wire_put_str (&e, FK_TAG_PATH, p);
      fk_wire_put_int (&e, FK_TAG_SIZE, (uint64_t)i);
      fk_wire_put_bytes (&b, FK_TAG_ENTRY, e.data, e.len);
    }
  assert_int_equal (fk_wire_end (&b, &err), 0);
  fk_wire_frame_t f;
  assert_true (fk_wire_frame_parse (b.data, b.len, &f, &err) > 0);
  fk_wire_msg_t m;
  assert_int_equal (fk_wire_frame_decode (&f, &m, &err), 0);
  assert_int_equal (m.n_entries, 100);
  for (size_t i = 0; i < m.n_entries; i++)
    {
      fk_wire_msg_t x;
      assert_int_equal (fk_wire_msg_decode (m.entries[i].data, m.entries[i].len, &x, &err), 0);
      assert_int_equal (x.num[FK_TAG_SIZE], i);
      fk_wire_msg_clear (&x);
    }
  fk_wire_msg_clear (&m);
  fk_wire_buf_free (&b);
  fk_wire_buf_free (&e);
}

static void
oversized_frame_is_refused (void **state)
{
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_error_t err = FK_ERROR_INIT;
  fk_wire_put_data_frame (&b, FK_WIRE_DATA, 0, 1, "ab", 2);
  size_t before = b.len;
  char *big = xcalloc (1, FK_WIRE_MAX_PAYLOAD + 10);
  memset (big, 'x', FK_WIRE_MAX_PAYLOAD + 9);
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 2);
  fk_wire_put_str (&b, FK_TAG_SHELL, big);
  assert_true (fk_wire_end (&b, &err) < 0);
  assert_int_equal (err.code, E2BIG);
  fk_error_clear (&err);
  /* The failed frame is gone; what was before it is intact. */
  assert_int_equal (b.len, before);
  free (big);
  fk_wire_buf_free (&b);
}

/* Builds a payload from raw field bytes for the malformed cases. */
static size_t
field (uint8_t *out, uint16_t tag, uint32_t len, const void *v, size_t vlen)
{
  out[0] = (uint8_t)tag;
  out[1] = (uint8_t)(tag >> 8);
  for (int i = 0; i < 4; i++)
    out[2 + i] = (uint8_t)(len >> (8 * i));
  memcpy (out + 6, v, vlen);
  return 6 + vlen;
}

static void
msg_rejects_malformed (void **state)
{
  uint8_t p[256];
  fk_wire_msg_t m;
  fk_error_t err = FK_ERROR_INIT;
  size_t n;

  /* Truncated field header. */
  assert_true (fk_wire_msg_decode ((const uint8_t *)"\x01\x00\x02", 3, &m, &err) < 0);
  assert_error_contains (&err, "truncated field header");
  /* A length running past the payload. */
  n = field (p, FK_TAG_CWD, 100, "/x", 3);
  assert_true (fk_wire_msg_decode (p, n, &m, &err) < 0);
  assert_error_contains (&err, "runs past the payload");
  /* Integers must be 8 bytes. */
  n = field (p, FK_TAG_TIMEOUT_MS, 4, "\x01\x00\x00\x00", 4);
  assert_true (fk_wire_msg_decode (p, n, &m, &err) < 0);
  assert_error_contains (&err, "want 8");
  /* Strings carry exactly one NUL, at the end. */
  n = field (p, FK_TAG_CWD, 2, "/x", 2);
  assert_true (fk_wire_msg_decode (p, n, &m, &err) < 0);
  assert_error_contains (&err, "terminating NUL");
  n = field (p, FK_TAG_CWD, 0, "", 0);
  assert_true (fk_wire_msg_decode (p, n, &m, &err) < 0);
  assert_error_contains (&err, "terminating NUL");
  n = field (p, FK_TAG_ARG, 4, "a\0b", 4);
  assert_true (fk_wire_msg_decode (p, n, &m, &err) < 0);
  assert_error_contains (&err, "NUL inside");
  /* A single-valued field twice. */
  n = field (p, FK_TAG_CWD, 3, "/a", 3);
  n += field (p + n, FK_TAG_CWD, 3, "/b", 3);
  assert_true (fk_wire_msg_decode (p, n, &m, &err) < 0);
  assert_error_contains (&err, "given twice");
  /* An empty payload is an empty message. */
  assert_int_equal (fk_wire_msg_decode (p, 0, &m, &err), 0);
  assert_null (m.argv);
  fk_wire_msg_clear (&m);
}

static void
msg_rejects_too_many_repeats (void **state)
{
  size_t count = FK_WIRE_MAX_REPEAT + 1;
  uint8_t *p = xmalloc (count * 8);
  size_t n = 0;
  for (size_t i = 0; i < count; i++)
    n += field (p + n, FK_TAG_ENV, 2, "a", 2);
  fk_wire_msg_t m;
  fk_error_t err = FK_ERROR_INIT;
  assert_true (fk_wire_msg_decode (p, n, &m, &err) < 0);
  assert_error_contains (&err, "repeated fields");
  free (p);
}

static int
decode_type (uint16_t type, fk_wire_buf_t *b, fk_error_t *err)
{
  fk_wire_end (b, NULL);
  fk_wire_frame_t f;
  fk_wire_msg_t m;
  if (fk_wire_frame_parse (b->data, b->len, &f, err) <= 0)
    fail_msg ("frame did not parse");
  assert_int_equal (f.type, type);
  int r = fk_wire_frame_decode (&f, &m, err);
  if (r == 0)
    fk_wire_msg_clear (&m);
  fk_wire_buf_reset (b);
  return r;
}

static void
validate_requests (void **state)
{
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_error_t err = FK_ERROR_INIT;
  /* Hello needs the magic and a version. */
  fk_wire_begin (&b, FK_WIRE_HELLO, 0, 1);
  fk_wire_put_str (&b, FK_TAG_MAGIC, "NOPE");
  fk_wire_put_int (&b, FK_TAG_VERSION, 1);
  assert_true (decode_type (FK_WIRE_HELLO, &b, &err) < 0);
  assert_error_contains (&err, "bad magic");
  fk_wire_begin (&b, FK_WIRE_HELLO, 0, 1);
  fk_wire_put_str (&b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  assert_true (decode_type (FK_WIRE_HELLO, &b, &err) < 0);
  assert_error_contains (&err, "missing field");
  fk_wire_begin (&b, FK_WIRE_HELLO, 0, 1);
  fk_wire_put_str (&b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  fk_wire_put_int (&b, FK_TAG_VERSION, 1);
  assert_int_equal (decode_type (FK_WIRE_HELLO, &b, &err), 0);
  /* Exec: argv xor shell, K=V env, a known stdin mode. */
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 1);
  assert_true (decode_type (FK_WIRE_EXEC, &b, &err) < 0);
  assert_error_contains (&err, "either argv or a shell");
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 1);
  fk_wire_put_str (&b, FK_TAG_ARG, "ls");
  fk_wire_put_str (&b, FK_TAG_SHELL, "ls");
  assert_true (decode_type (FK_WIRE_EXEC, &b, &err) < 0);
  assert_error_contains (&err, "either argv or a shell");
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 1);
  fk_wire_put_str (&b, FK_TAG_ARG, "");
  assert_true (decode_type (FK_WIRE_EXEC, &b, &err) < 0);
  assert_error_contains (&err, "empty command");
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 1);
  fk_wire_put_str (&b, FK_TAG_SHELL, "true");
  fk_wire_put_str (&b, FK_TAG_ENV, "NOEQUALS");
  assert_true (decode_type (FK_WIRE_EXEC, &b, &err) < 0);
  assert_error_contains (&err, "not K=V");
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 1);
  fk_wire_put_str (&b, FK_TAG_SHELL, "true");
  fk_wire_put_int (&b, FK_TAG_STDIN_MODE, 9);
  assert_true (decode_type (FK_WIRE_EXEC, &b, &err) < 0);
  assert_error_contains (&err, "stdin mode");
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, 1);
  fk_wire_put_str (&b, FK_TAG_SHELL, "true");
  fk_wire_put_int (&b, FK_TAG_ROWS, 70000);
  assert_true (decode_type (FK_WIRE_EXEC, &b, &err) < 0);
  assert_error_contains (&err, "terminal size");
  /* Signals, files. */
  fk_wire_begin (&b, FK_WIRE_SIGNAL, 0, 1);
  fk_wire_put_int (&b, FK_TAG_SIGNAL, 9);
  assert_true (decode_type (FK_WIRE_SIGNAL, &b, &err) < 0);
  assert_error_contains (&err, "pid, a tag");
  fk_wire_begin (&b, FK_WIRE_SIGNAL, 0, 1);
  fk_wire_put_int (&b, FK_TAG_PID, 9);
  fk_wire_put_int (&b, FK_TAG_SIGNAL, 999);
  assert_true (decode_type (FK_WIRE_SIGNAL, &b, &err) < 0);
  assert_error_contains (&err, "bad signal");
  fk_wire_begin (&b, FK_WIRE_FILE_READ, 0, 1);
  fk_wire_put_str (&b, FK_TAG_PATH, "");
  assert_true (decode_type (FK_WIRE_FILE_READ, &b, &err) < 0);
  assert_error_contains (&err, "empty path");
  fk_wire_begin (&b, FK_WIRE_FILE_RENAME, 0, 1);
  fk_wire_put_str (&b, FK_TAG_PATH, "/a");
  assert_true (decode_type (FK_WIRE_FILE_RENAME, &b, &err) < 0);
  assert_error_contains (&err, "missing field");
  fk_wire_begin (&b, FK_WIRE_FILE_CHMOD, 0, 1);
  fk_wire_put_str (&b, FK_TAG_PATH, "/a");
  fk_wire_put_int (&b, FK_TAG_MODE, 010000);
  assert_true (decode_type (FK_WIRE_FILE_CHMOD, &b, &err) < 0);
  assert_error_contains (&err, "out of range");
  /* Replies. */
  fk_wire_begin (&b, FK_WIRE_R_ERROR, FK_WIRE_F_END, 1);
  fk_wire_put_int (&b, FK_TAG_ERRNO, 2);
  assert_true (decode_type (FK_WIRE_R_ERROR, &b, &err) < 0);
  assert_error_contains (&err, "missing field");
  fk_wire_begin (&b, FK_WIRE_R_EXIT, FK_WIRE_F_END, 1);
  assert_true (decode_type (FK_WIRE_R_EXIT, &b, &err) < 0);
  assert_error_contains (&err, "neither an exit code");
  fk_wire_begin (&b, FK_WIRE_R_EXIT, FK_WIRE_F_END, 1);
  fk_wire_put_int (&b, FK_TAG_EXIT_CODE, 256);
  assert_true (decode_type (FK_WIRE_R_EXIT, &b, &err) < 0);
  assert_error_contains (&err, "out of range");
  fk_wire_buf_free (&b);
}

static void
type_names (void **state)
{
  assert_string_equal (fk_wire_type_name (FK_WIRE_EXEC), "exec");
  assert_string_equal (fk_wire_type_name (FK_WIRE_R_EXIT), "exit");
  assert_string_equal (fk_wire_type_name (FK_WIRE_SHELL_RUN), "shell-run");
  assert_string_equal (fk_wire_type_name (0), "unknown");
  assert_string_equal (fk_wire_type_name (63), "unknown");
  assert_string_equal (fk_wire_type_name (1000), "unknown");
  assert_true (fk_wire_type_is_data (FK_WIRE_R_STDERR));
  assert_false (fk_wire_type_is_data (FK_WIRE_R_EXIT));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (header_round_trip),
    cmocka_unit_test (header_rejects_bad),
    cmocka_unit_test (exec_round_trip),
    cmocka_unit_test (nested_entries_round_trip),
    cmocka_unit_test (oversized_frame_is_refused),
    cmocka_unit_test (msg_rejects_malformed),
    cmocka_unit_test (msg_rejects_too_many_repeats),
    cmocka_unit_test (validate_requests),
    cmocka_unit_test (type_names),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
