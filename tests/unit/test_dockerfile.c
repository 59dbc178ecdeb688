/* Unit tests for template/dockerfile: instructions, continuations, comments, the escape
   directive, exec and shell forms, word expansion, and each refused form naming its line. */
#include "testutil.h"

#include <string.h>

#include "template/dockerfile.h"

static fk_dockerfile_t *
parse_ok (const char *text)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_dockerfile_t *df = NULL;
  if (fk_dockerfile_parse (text, strlen (text), &df, &err) < 0)
    fail_msg ("rejected: %s", fk_error_message (&err));
  return df;
}

static void
expect_error (const char *text, size_t len, const char *msg)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_dockerfile_t *df = NULL;
  assert_int_equal (fk_dockerfile_parse (text, len, &df, &err), -1);
  if (strstr (fk_error_message (&err), msg) == NULL)
    fail_msg ("`%s' not in `%s'", msg, fk_error_message (&err));
  fk_error_clear (&err);
}

static void
test_instructions (void **state)
{
  fk_dockerfile_t *df = parse_ok ("# a comment\n"
                                  "ARG BASE=busybox\n"
                                  "from $BASE\n"
                                  "RUN echo a && \\\n"
                                  "  # a comment inside\n"
                                  "  echo b\n"
                                  "RUN [\"/bin/sh\", \"-c\", \"x\"]\n"
                                  "COPY --chown=1:2 --chmod=640 a b /dst/\n"
                                  "COPY [\"with space\", \"/x\"]\n"
                                  "ENV A=1 B=\"two words\"\n"
                                  "ENV OLD the rest\n"
                                  "CMD [\"x\"]\n"
                                  "EXPOSE 80 53/udp\n");
  assert_int_equal (df->n, 10);
  assert_int_equal (df->instrs[1].kind, FK_DF_FROM);
  assert_int_equal (df->instrs[2].kind, FK_DF_RUN);
  assert_int_equal (df->instrs[2].line, 4);
  assert_false (df->instrs[2].exec_form);
  assert_string_equal (df->instrs[2].args[0], "echo a && echo b");
  assert_true (df->instrs[3].exec_form);
  assert_int_equal (df->instrs[3].n_args, 3);
  assert_string_equal (df->instrs[4].chown, "1:2");
  assert_string_equal (df->instrs[4].chmod, "640");
  assert_int_equal (df->instrs[4].n_args, 3);
  assert_int_equal (df->instrs[6].n_args, 4);
  assert_string_equal (df->instrs[6].args[2], "B");
  assert_string_equal (df->instrs[7].args[1], "the rest");
  assert_int_equal (df->instrs[9].n_args, 2);
  char *w = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_dockerfile_word (df->instrs[5].args[0], '\\', NULL, &w, &err), 0);
  assert_string_equal (w, "with space");
  free (w);
  fk_dockerfile_free (df);
}

static void
test_escape_directive (void **state)
{
  fk_dockerfile_t *df = parse_ok ("# escape=`\nFROM x\nRUN a `\n  b\nCOPY c:\\dir /d\n");
  assert_int_equal (df->escape, '`');
  assert_string_equal (df->instrs[1].args[0], "a b");
  fk_dockerfile_free (df);
}

static void
expect_word (const char *raw, const char *want)
{
  static const char *const vars[] = { "A=1", "B=two words", "E=", "A=3", NULL };
  fk_error_t err = FK_ERROR_INIT;
  char *w = NULL;
  if (fk_dockerfile_word (raw, '\\', vars, &w, &err) < 0)
    fail_msg ("`%s': %s", raw, fk_error_message (&err));
  assert_string_equal (w, want);
  free (w);
}

static void
test_words (void **state)
{
  expect_word ("$A", "3");
  expect_word ("${B}", "two words");
  expect_word ("'$A'", "$A");
  expect_word ("\"$A x\"", "3 x");
  expect_word ("\\$A", "$A");
  expect_word ("${E:-dflt}", "dflt");
  expect_word ("${NONE:-${A}}", "3");
  expect_word ("${A:+set}", "set");
  expect_word ("${E:+set}", "");
  expect_word ("$", "$");
  expect_word ("a$1", "a$1");
}

static void
test_refused (void **state)
{
  expect_error ("FROM x\nFROBNICATE y\n", 20, "line 2: unknown instruction `FROBNICATE'");
  expect_error ("FROM x\nHEALTHCHECK CMD y\n", 25, "line 2: HEALTHCHECK");
  expect_error ("FROM x\nONBUILD RUN y\n", 21, "line 2: ONBUILD");
  expect_error ("FROM x\nSHELL [\"a\"]\n", 19, "line 2: SHELL");
  expect_error ("FROM x AS y\n", 12, "line 1: FROM ... AS");
  expect_error ("FROM x\nFROM y\n", 14, "line 2: a second FROM");
  expect_error ("FROM x\nCOPY --from=a b c\n", 25, "line 2: COPY --from");
  expect_error ("FROM x\nCOPY --link b c\n", 23, "unsupported flag `--link'");
  expect_error ("FROM x\nCOPY b\n", 14, "line 2: COPY needs a source and a destination");
  expect_error ("RUN x\nFROM y\n", 13, "line 1: RUN before FROM");
  expect_error ("ARG A\n", 6, "no FROM");
  expect_error ("FROM x\nRUN a\0b\n", 14, "line 2: the Dockerfile has a NUL byte");
  expect_error ("FROM x\nENV A='b\n", 16, "line 2: unterminated");
  expect_error ("FROM x\nENV 1A=b\n", 16, "line 2: `1A' is not a variable name");
  expect_error ("FROM x\nCOPY ${A b\n", 18, "line 2");
  expect_error ("# escape=x\nFROM x\n", 18, "line 1: the escape directive");
}

static void
test_bounds (void **state)
{
  size_t n = FK_DOCKERFILE_MAX + 1;
  char *big = malloc (n);
  memset (big, '#', n);
  expect_error (big, n, "more than");
  free (big);
  /* a word that doubles at each level stays bounded */
  static const char *const vars[] = { NULL };
  char raw[4096] = "";
  for (int i = 0; i < 20; i++)
    strcat (raw, "${X:-");
  strcat (raw, "y");
  for (int i = 0; i < 20; i++)
    strcat (raw, "}");
  fk_error_t err = FK_ERROR_INIT;
  char *w = NULL;
  assert_int_equal (fk_dockerfile_word (raw, '\\', vars, &w, &err), -1);
  fk_error_clear (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_instructions), cmocka_unit_test (test_escape_directive),
    cmocka_unit_test (test_words),        cmocka_unit_test (test_refused),
    cmocka_unit_test (test_bounds),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
