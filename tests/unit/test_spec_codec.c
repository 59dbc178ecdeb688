/* Unit tests for sandbox/speccodec: every field round trips through JSON and dup, equal sees
   every field, and the decoder refuses hostile input with a message naming the field. */
#include "testutil.h"

#include <errno.h>
#include <math.h>

#include "base/xalloc.h"
#include "firkin/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/speccodec.h"

/* sizeof (fk_sandbox_spec_t) on LP64 when the codec's table was last brought up to date.
   When it changes, a field was added or removed: update the table in
   src/lib/sandbox/speccodec.c, fill() and assert_filled() below, the JSON form in
   docs/sandbox.md, then this number. */
#define SPEC_SIZE_KNOWN 184

static const char *const layers[] = { "/store/l0", "/store/l1", NULL };
static const char *const env[] = { "A=1", "B=x=y", "A=2", NULL };
static const char *const metadata[] = { "owner=me", "purpose=tests", NULL };
static const char *const deny[] = { "ptrace", "mount", NULL };
static const char *const allow[] = { "personality", NULL };
static const char *const allow_out[] = { "pypi.org", "*.pythonhosted.org", "1.2.3.0/24", NULL };
static const char *const deny_out[] = { "0.0.0.0/0", NULL };
static const char *const init[] = { "sh", "-c", "echo \"hi\"\n", NULL };

/* Every field away from its default. */
static void
fill (fk_sandbox_spec_t *s)
{
  fk_sandbox_spec_init (s);
  s->template_id = "python-3.12";
  s->layers = layers;
  s->resources.vcpus = 0.25;
  s->resources.memory_bytes = 3ULL << 30;
  s->resources.disk_bytes = 5ULL << 20;
  s->resources.pids = 77;
  s->env = env;
  s->workdir = "/work";
  s->user = "1000:1000";
  s->hostname = "box.example";
  s->timeout_sec = 3600;
  s->timeout_action = FK_TIMEOUT_PAUSE;
  s->metadata = metadata;
  s->data_plane.kind = FK_DATA_PLANE_EGRESS;
  s->data_plane.allow_out = allow_out;
  s->data_plane.deny_out = deny_out;
  s->data_plane.egress_bytes_per_sec = 1 << 20;
  s->data_plane.max_connections = 64;
  s->seccomp.unconfined = 1;
  s->seccomp.deny = deny;
  s->seccomp.allow = allow;
  s->init = init;
  s->init_stdio = FK_INIT_STDIO_TTY;
  s->init_rows = 40;
  s->init_cols = 132;
}

static void
assert_strv (const char *const *got, const char *const *want)
{
  assert_non_null (got);
  size_t i = 0;
  for (; want[i]; i++)
    {
      assert_non_null (got[i]);
      assert_string_equal (got[i], want[i]);
    }
  assert_null (got[i]);
}

/* What fill() set, checked member by member (not through the codec's table). */
static void
assert_filled (const fk_sandbox_spec_t *s)
{
  assert_string_equal (s->template_id, "python-3.12");
  assert_strv (s->layers, layers);
  assert_true (s->resources.vcpus == 0.25);
  assert_int_equal (s->resources.memory_bytes, 3ULL << 30);
  assert_int_equal (s->resources.disk_bytes, 5ULL << 20);
  assert_int_equal (s->resources.pids, 77);
  assert_strv (s->env, env);
  assert_string_equal (s->workdir, "/work");
  assert_string_equal (s->user, "1000:1000");
  assert_string_equal (s->hostname, "box.example");
  assert_int_equal (s->timeout_sec, 3600);
  assert_int_equal (s->timeout_action, FK_TIMEOUT_PAUSE);
  assert_strv (s->metadata, metadata);
  assert_int_equal (s->data_plane.kind, FK_DATA_PLANE_EGRESS);
  assert_strv (s->data_plane.allow_out, allow_out);
  assert_strv (s->data_plane.deny_out, deny_out);
  assert_int_equal (s->data_plane.egress_bytes_per_sec, 1 << 20);
  assert_int_equal (s->data_plane.max_connections, 64);
  assert_int_equal (s->seccomp.unconfined, 1);
  assert_strv (s->seccomp.deny, deny);
  assert_strv (s->seccomp.allow, allow);
  assert_strv (s->init, init);
  assert_int_equal (s->init_stdio, FK_INIT_STDIO_TTY);
  assert_int_equal (s->init_rows, 40);
  assert_int_equal (s->init_cols, 132);
}

static void
layout_is_known (void **state)
{
#if __SIZEOF_POINTER__ == 8
  if (sizeof (fk_sandbox_spec_t) != SPEC_SIZE_KNOWN)
    fail_msg ("fk_sandbox_spec_t is %zu bytes, the codec knows a %d-byte one: add the field to "
              "src/lib/sandbox/speccodec.c and this test, then update SPEC_SIZE_KNOWN",
              sizeof (fk_sandbox_spec_t), SPEC_SIZE_KNOWN);
#else
  skip ();
#endif
}

static fk_sandbox_spec_t *
parse_ok (const char *text)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t *s = NULL;
  if (fk_sandbox_spec_from_json (text, strlen (text), &s, &err) < 0)
    fail_msg ("%s: %s", text, fk_error_message (&err));
  return s;
}

static char *
to_json_ok (const fk_sandbox_spec_t *s)
{
  fk_error_t err = FK_ERROR_INIT;
  char *text = NULL;
  if (fk_sandbox_spec_to_json (s, &text, &err) < 0)
    fail_msg ("to_json: %s", fk_error_message (&err));
  return text;
}

static void
round_trip_every_field (void **state)
{
  fk_sandbox_spec_t a;
  fill (&a);
  char *text = to_json_ok (&a);
  assert_non_null (strstr (text, "\"init_stdio\": \"tty\""));
  fk_sandbox_spec_t *b = parse_ok (text);
  assert_filled (b);
  assert_true (fk_sandbox_spec_equal (&a, b));
  /* One text for one spec. */
  char *again = to_json_ok (b);
  assert_string_equal (text, again);
  free (again);
  free (text);
  fk_sandbox_spec_free (b);

  /* The internal object form, restricted to some fields, reads back the same. */
  const char *const only[] = { "resources", "metadata", NULL };
  json_t *j = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_spec_json_encode (&a, only, &j, &err), 0);
  assert_int_equal (json_object_size (j), 2);
  assert_int_equal (fk_spec_json_decode (j, &b, &err), 0);
  assert_int_equal (fk_spec_check_values (b, &err), 0);
  assert_null (b->template_id);
  assert_int_equal (b->resources.pids, 77);
  assert_strv (b->metadata, metadata);
  fk_sandbox_spec_free (b);
  json_decref (j);
}

static void
defaults_and_nulls (void **state)
{
  fk_sandbox_spec_t d;
  fk_sandbox_spec_init (&d);
  fk_sandbox_spec_t *s = parse_ok ("{}");
  assert_true (fk_sandbox_spec_equal (&d, s));
  assert_true (s->resources.vcpus == 2.0);
  assert_int_equal (s->resources.pids, 1024);
  fk_sandbox_spec_free (s);

  /* A missing member of a nested object keeps its default too; null is a string's or a list's
     default. */
  s = parse_ok ("{\"resources\": {\"pids\": 10}, \"template_id\": null, \"env\": null,"
                " \"seccomp\": {}}");
  assert_int_equal (s->resources.pids, 10);
  assert_int_equal (s->resources.memory_bytes, FK_SPEC_DEFAULT_MEMORY_BYTES);
  assert_null (s->template_id);
  assert_null (s->env);
  fk_sandbox_spec_free (s);

  /* The default spec's text reads back as the default spec; integral vcpus may be written as
     an integer. */
  char *text = to_json_ok (&d);
  s = parse_ok (text);
  assert_true (fk_sandbox_spec_equal (&d, s));
  fk_sandbox_spec_free (s);
  free (text);
  s = parse_ok ("{\"resources\": {\"vcpus\": 3}}");
  assert_true (s->resources.vcpus == 3.0);
  fk_sandbox_spec_free (s);

  /* An empty list stays an empty list (init's is refused: an empty command). */
  s = parse_ok ("{\"env\": [], \"layers\": []}");
  assert_non_null (s->env);
  assert_null (s->env[0]);
  assert_true (fk_sandbox_spec_equal (&d, s));
  fk_sandbox_spec_free (s);
}

static void
dup_owns_everything (void **state)
{
  fk_sandbox_spec_t a;
  fill (&a);
  fk_sandbox_spec_t *b = NULL;
  fk_sandbox_spec_dup (&a, &b);
  assert_filled (b);
  assert_true (fk_sandbox_spec_equal (&a, b));
  /* Nothing shared: every string and list is the copy's own. */
  assert_ptr_not_equal (b->template_id, a.template_id);
  assert_ptr_not_equal (b->layers, a.layers);
  assert_ptr_not_equal (b->layers[0], a.layers[0]);
  assert_ptr_not_equal (b->env, a.env);
  assert_ptr_not_equal (b->workdir, a.workdir);
  assert_ptr_not_equal (b->user, a.user);
  assert_ptr_not_equal (b->hostname, a.hostname);
  assert_ptr_not_equal (b->metadata, a.metadata);
  assert_ptr_not_equal (b->seccomp.deny, a.seccomp.deny);
  assert_ptr_not_equal (b->seccomp.allow, a.seccomp.allow);
  assert_ptr_not_equal (b->init, a.init);
  assert_ptr_not_equal (b->init[2], a.init[2]);
  /* A copy of a copy, then freeing the first: the second stands alone. */
  fk_sandbox_spec_t *c = NULL;
  fk_sandbox_spec_dup (b, &c);
  fk_sandbox_spec_free (b);
  assert_filled (c);
  fk_sandbox_spec_free (c);
  fk_sandbox_spec_free (NULL);

  /* NULLs stay NULL, empty lists stay empty. */
  fk_sandbox_spec_t d;
  fk_sandbox_spec_init (&d);
  static const char *const empty[] = { NULL };
  d.env = empty;
  fk_sandbox_spec_dup (&d, &b);
  assert_null (b->template_id);
  assert_null (b->layers);
  assert_non_null (b->env);
  assert_null (b->env[0]);
  fk_sandbox_spec_free (b);
}

static void
equal_sees_every_field (void **state)
{
  static const char *const other[] = { "X=1", NULL };
  static const char *const other_layers[] = { "/other", NULL };
  static const char *const other_names[] = { "chroot", NULL };
  static const char *const other_init[] = { "true", NULL };
  static const char *const empty[] = { NULL };
  fk_sandbox_spec_t a;
  fill (&a);
  fk_sandbox_spec_t b;
#define DIFFERS(stmt)                                                                              \
  do                                                                                               \
    {                                                                                              \
      b = a;                                                                                       \
      stmt;                                                                                        \
      if (fk_sandbox_spec_equal (&a, &b) || fk_sandbox_spec_equal (&b, &a))                        \
        fail_msg ("equal misses `%s'", #stmt);                                                     \
    }                                                                                              \
  while (0)
  DIFFERS (b.template_id = "python-3.13");
  DIFFERS (b.template_id = NULL);
  DIFFERS (b.layers = other_layers);
  DIFFERS (b.resources.vcpus = 0.5);
  DIFFERS (b.resources.memory_bytes++);
  DIFFERS (b.resources.disk_bytes++);
  DIFFERS (b.resources.pids++);
  DIFFERS (b.env = other);
  DIFFERS (b.env = NULL);
  DIFFERS (b.workdir = "/");
  DIFFERS (b.user = "root");
  DIFFERS (b.hostname = "other");
  DIFFERS (b.timeout_sec = 1);
  DIFFERS (b.timeout_action = FK_TIMEOUT_DELETE);
  DIFFERS (b.metadata = other);
  DIFFERS (b.data_plane.kind = FK_DATA_PLANE_NONE);
  DIFFERS (b.data_plane.allow_out = other);
  DIFFERS (b.data_plane.deny_out = NULL);
  DIFFERS (b.data_plane.egress_bytes_per_sec = 0);
  DIFFERS (b.data_plane.max_connections++);
  DIFFERS (b.seccomp.unconfined = 0);
  DIFFERS (b.seccomp.deny = other_names);
  DIFFERS (b.seccomp.allow = other_names);
  DIFFERS (b.init = other_init);
  DIFFERS (b.init = NULL);
  DIFFERS (b.init_stdio = FK_INIT_STDIO_PIPES);
  DIFFERS (b.init_rows = 41);
  DIFFERS (b.init_cols = 80);
  /* A prefix of a list is not the list. */
  DIFFERS (b.env = env + 1);
#undef DIFFERS

  /* NULL and an empty list ask for the same thing, except init; flags compare by truth. */
  fk_sandbox_spec_t x, y;
  fk_sandbox_spec_init (&x);
  fk_sandbox_spec_init (&y);
  y.env = empty;
  y.layers = empty;
  y.metadata = empty;
  y.seccomp.deny = empty;
  y.seccomp.allow = empty;
  assert_true (fk_sandbox_spec_equal (&x, &y));
  y.init = empty;
  assert_false (fk_sandbox_spec_equal (&x, &y));
  y.init = NULL;
  x.seccomp.unconfined = 1;
  y.seccomp.unconfined = 5;
  assert_true (fk_sandbox_spec_equal (&x, &y));
  assert_true (fk_sandbox_spec_equal (&a, &a));
}

/* Decoding text fails, with an EINVAL message containing want. */
static void
refused (const char *text, const char *want)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t *s = NULL;
  if (fk_sandbox_spec_from_json (text, strlen (text), &s, &err) == 0)
    fail_msg ("accepted: %s", text);
  assert_null (s);
  if (strstr (fk_error_message (&err), want) == NULL)
    fail_msg ("%s: error `%s' does not mention `%s'", text, fk_error_message (&err), want);
  fk_error_clear (&err);
}

static void
decoder_refuses_bad_input (void **state)
{
  /* Not JSON, not an object. */
  refused ("", "invalid JSON");
  refused ("{\"template_id\": \"a\"", "invalid JSON");
  refused ("{} {}", "invalid JSON");
  refused ("[]", "must be an object, not an array");
  refused ("\"spec\"", "invalid JSON");
  refused ("{\"template_id\": \"a\", \"template_id\": \"b\"}", "duplicate");
  refused ("{\"env\": [\"A=\\u0000\"]}", "invalid JSON");
  /* Wrong types. */
  refused ("{\"template_id\": 5}", "`template_id' must be a string or null, not an integer");
  refused ("{\"layers\": \"/l\"}", "`layers' must be an array of strings or null, not a string");
  refused ("{\"env\": [\"A=1\", 2]}", "`env'[1] must be a string, not an integer");
  refused ("{\"env\": {\"A\": \"1\"}}", "`env' must be an array");
  refused ("{\"resources\": []}", "`resources' must be an object, not an array");
  refused ("{\"resources\": null}", "`resources' must be an object, not null");
  refused ("{\"resources\": {\"vcpus\": \"2\"}}", "`resources.vcpus' must be a number");
  refused ("{\"resources\": {\"vcpus\": null}}", "`resources.vcpus' must be a number, not null");
  refused ("{\"resources\": {\"memory_bytes\": 1.5}}",
           "`resources.memory_bytes' must be a whole number, not a real number");
  refused ("{\"resources\": {\"pids\": true}}", "`resources.pids' must be a whole number");
  refused ("{\"timeout_sec\": \"60\"}", "`timeout_sec' must be a whole number, not a string");
  refused ("{\"seccomp\": {\"unconfined\": 1}}", "`seccomp.unconfined' must be true or false");
  refused ("{\"init_stdio\": 1}", "`init_stdio' must be a string");
  refused ("{\"timeout_action\": \"kill\"}",
           "`timeout_action' is `kill': expected one of delete, pause");
  refused ("{\"init_stdio\": \"fancy\"}",
           "`init_stdio' is `fancy': expected one of null, pipes, tty");
  refused ("{\"data_plane\": {\"kind\": \"bridge\"}}",
           "`data_plane.kind' is `bridge': expected one of none, egress");
  refused ("{\"data_plane\": {\"allow_out\": [\"1.2.3.4\"]}}",
           "egress rules and limits need the data plane egress");
  refused ("{\"data_plane\": {\"kind\": \"egress\", \"allow_out\": [\"a b.com\"]}}",
           "allow_out[0] `a b.com' is not an address");
  refused ("{\"data_plane\": {\"kind\": \"egress\", \"deny_out\": [\"evil.com\"]}}",
           "a domain name can only be allowed");
  /* Negative and overflowing numbers. */
  refused ("{\"resources\": {\"memory_bytes\": -1}}", "`resources.memory_bytes' is negative");
  refused ("{\"timeout_sec\": -5}", "`timeout_sec' is negative");
  refused ("{\"resources\": {\"pids\": 18446744073709551616}}", "invalid JSON");
  refused ("{\"resources\": {\"vcpus\": 1e999}}", "invalid JSON");
  refused ("{\"init_rows\": 65536}", "`init_rows' 65536 is out of range");
  refused ("{\"init_cols\": -1}", "`init_cols' -1 is out of range");
  /* Unknown fields, at the top and nested; which agent runs is the runtime's, not a spec's. */
  refused ("{\"memory\": 1}", "unknown field `memory'");
  refused ("{\"resources\": {\"memory\": 1}}", "unknown field `resources.memory'");
  refused ("{\"agent_path\": \"/bin/sh\"}", "unknown field `agent_path'");
  refused ("{\"seccomp\": {\"deny\": [], \"extra\": {}}}", "unknown field `seccomp.extra'");
  refused ("{\"vcpus\": 2}", "unknown field `vcpus'");
  /* Nested garbage. */
  refused ("{\"resources\": {\"vcpus\": {\"a\": [1, 2, {\"b\": null}]}}}",
           "`resources.vcpus' must be a number, not an object");
  refused ("{\"seccomp\": {\"deny\": [[\"ptrace\"]]}}", "`seccomp.deny'[0] must be a string");
  refused ("{\"layers\": [{}]}", "`layers'[0] must be a string, not an object");
  /* The value rules of fk_sandbox_create. */
  refused ("{\"seccomp\": {\"deny\": [\"not_a_syscall\"]}}", "unknown syscall `not_a_syscall'");
  refused ("{\"seccomp\": {\"allow\": [\"read\", \"nope\"]}}", "unknown syscall `nope'");
  refused ("{\"layers\": [\"relative\"]}", "`relative' is not an absolute path");
  refused ("{\"env\": [\"NOEQUALS\"]}", "env entry `NOEQUALS'");
  refused ("{\"metadata\": [\"=v\"]}", "metadata entry `=v'");
  refused ("{\"hostname\": \"bad host\"}", "hostname `bad host'");
  refused ("{\"workdir\": \"rel\"}", "workdir `rel' is not absolute");
  refused ("{\"timeout_sec\": 100000000}", "over a year");
  refused ("{\"resources\": {\"vcpus\": 2000}}", "vcpus 2000 is out of range");
  refused ("{\"resources\": {\"memory_bytes\": 1000}}", "below 4 MiB");
  refused ("{\"resources\": {\"pids\": 1}}", "pids 1 is below 2");
  refused ("{\"init\": []}", "init is an empty command");
}

static void
decoder_bounds_sizes (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t *s = NULL;
  /* The whole text: refused before parsing. */
  size_t big = FK_SANDBOX_SPEC_JSON_MAX + 1;
  char *text = xmalloc (big + 1);
  memset (text, ' ', big);
  text[0] = '{';
  text[big - 1] = '}';
  text[big] = '\0';
  assert_int_equal (fk_sandbox_spec_from_json (text, big, &s, &err), -1);
  assert_int_equal (err.code, EFBIG);
  fk_error_clear (&err);
  /* The same text one byte shorter is fine. */
  text[big - 2] = '}';
  assert_int_equal (fk_sandbox_spec_from_json (text, big - 1, &s, &err), 0);
  fk_sandbox_spec_free (s);
  free (text);

  /* A string over its field's bound. */
  char *long_path = xmalloc (5000);
  memset (long_path, 'a', 4999);
  long_path[0] = '/';
  long_path[4999] = '\0';
  text = xasprintf ("{\"workdir\": \"%s\"}", long_path);
  refused (text, "`workdir' is longer than 4096 bytes");
  free (text);
  text = xasprintf ("{\"layers\": [\"/a\", \"%s\"]}", long_path);
  refused (text, "`layers'[1] is longer than 4096 bytes");
  free (text);
  free (long_path);

  /* Too many entries. */
  size_t n = 600, off = 0;
  text = xmalloc (n * 8 + 32);
  off += (size_t)sprintf (text + off, "{\"seccomp\": {\"deny\": [");
  for (size_t i = 0; i < n; i++)
    off += (size_t)sprintf (text + off, "%s\"read\"", i ? "," : "");
  sprintf (text + off, "]}}");
  refused (text, "`seccomp.deny' has more than 512 entries");
  free (text);

  /* The same bounds hold for a spec built in C (fk_sandbox_create checks them). */
  const char **many = xcalloc (4098, sizeof *many);
  for (size_t i = 0; i < 4097; i++)
    many[i] = "K=V";
  fk_sandbox_spec_t c;
  fk_sandbox_spec_init (&c);
  c.template_id = "base";
  c.env = many;
  assert_int_equal (fk_spec_validate (&c, &err), -1);
  assert_error_contains (&err, "`env' has more than 4096 entries");
  many[4096] = NULL;
  assert_int_equal (fk_spec_validate (&c, &err), 0);
  free (many);
}

static void
encoder_refuses_what_json_cannot_hold (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *text = NULL;
  fk_sandbox_spec_t s;
  fk_sandbox_spec_init (&s);
  s.workdir = "/caf\xe9";
  assert_int_equal (fk_sandbox_spec_to_json (&s, &text, &err), -1);
  assert_error_contains (&err, "`workdir' is not UTF-8");
  s.workdir = NULL;
  static const char *const bad_env[] = { "A=1", "B=\xff", NULL };
  s.env = bad_env;
  assert_int_equal (fk_sandbox_spec_to_json (&s, &text, &err), -1);
  assert_error_contains (&err, "`env'[1] is not UTF-8");
  s.env = NULL;
  s.resources.vcpus = INFINITY;
  assert_int_equal (fk_sandbox_spec_to_json (&s, &text, &err), -1);
  assert_error_contains (&err, "`resources.vcpus' is not a finite number");
  s.resources.vcpus = 1;
  s.resources.memory_bytes = UINT64_MAX;
  assert_int_equal (fk_sandbox_spec_to_json (&s, &text, &err), -1);
  assert_error_contains (&err, "`resources.memory_bytes'");
  /* Which the rules refuse too, so a spec fk_sandbox_create takes always has a JSON form. */
  s.template_id = "base";
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "at most");
  s.resources.memory_bytes = 0;
  s.init_stdio = (fk_init_stdio_t)9;
  assert_int_equal (fk_sandbox_spec_to_json (&s, &text, &err), -1);
  assert_error_contains (&err, "`init_stdio' 9 has no name");
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "init stdio 9");
  assert_null (text);
}

/* A spec without a template is a valid decode (a front end adds it); creating needs one. */
static void
template_is_not_required_to_decode (void **state)
{
  fk_sandbox_spec_t *s = parse_ok ("{\"resources\": {\"memory_bytes\": 1073741824}}");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_spec_validate (s, &err), -1);
  assert_error_contains (&err, "a template or at least one layer");
  fk_sandbox_spec_free (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (layout_is_known),
    cmocka_unit_test (round_trip_every_field),
    cmocka_unit_test (defaults_and_nulls),
    cmocka_unit_test (dup_owns_everything),
    cmocka_unit_test (equal_sees_every_field),
    cmocka_unit_test (decoder_refuses_bad_input),
    cmocka_unit_test (decoder_bounds_sizes),
    cmocka_unit_test (encoder_refuses_what_json_cannot_hold),
    cmocka_unit_test (template_is_not_required_to_decode),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
