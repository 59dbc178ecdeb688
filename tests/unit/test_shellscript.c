/* Unit tests for agent/shellscript: the text of a persistent shell's runs, exactly, and what
   real shells (sh, and bash through the driver loop) make of hostile input: quotes, newlines,
   `$', backticks, backslashes, every non-NUL byte, empty values, env and cwd that do not stick,
   a run's stdin file, statuses on fd 9. */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "shellscript.h"

static char *
build (const shell_script_t *s)
{
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  shell_script_build (&b, s);
  char *text = xstrndup ((const char *)b.data, b.len);
  fk_wire_buf_free (&b);
  return text;
}

static void
text_for_sh (void **state)
{
  cleanup_free char *plain = build (&(shell_script_t){ .cmd = "echo hi" });
  assert_string_equal (plain, "{ command eval 'echo hi'\n} <&8 8<&- 9>&-; command printf '%d\\n' "
                              "\"$?\" >&9\n");
  char *env[] = { (char *)"A=it's", NULL };
  cleanup_free char *sub
      = build (&(shell_script_t){ .cmd = "a'b", .env = env, .cwd = "/t'mp", .stdin_path = "/x y" });
  assert_string_equal (sub, "( cd -- '/t'\\''mp' || exit 1\n"
                            "export 'A=it'\\''s'\n"
                            "command eval 'a'\\''b'\n"
                            ") <'/x y' 9>&-; command printf '%d\\n' \"$?\" >&9\n");
  /* An empty cwd is the shell's own: no subshell. */
  cleanup_free char *empty = build (&(shell_script_t){ .cmd = "", .cwd = "" });
  assert_string_equal (empty, "{ command eval ''\n} <&8 8<&- 9>&-; command printf '%d\\n' \"$?\" "
                              ">&9\n");
}

static void
text_for_driver (void **state)
{
  cleanup_free char *plain = build (&(shell_script_t){ .cmd = "echo hi", .driver = 1 });
  const char *body = "{ builtin command eval 'echo hi'\n} <&8 8<&- 9>&-";
  char want[128];
  snprintf (want, sizeof want, "%08zu%s", strlen (body), body);
  assert_string_equal (plain, want);

  /* Bytes over 0x7f make the string $'...' with \xHH (and \' \\): the text stays ASCII. */
  cleanup_free char *high = build (&(shell_script_t){ .cmd = "a'b\\\xc3\xa9", .driver = 1 });
  assert_non_null (strstr (high, "eval $'a\\'b\\\\\\xc3\\xa9'\n"));
  for (const unsigned char *p = (const unsigned char *)high; *p; p++)
    assert_true (*p < 0x80);
  /* sh gets the bytes as they are. */
  cleanup_free char *raw = build (&(shell_script_t){ .cmd = "\xc3\xa9" });
  assert_non_null (strstr (raw, "eval '\xc3\xa9'\n"));

  /* The length counts what follows it, after a prefix already in the buffer too. */
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_put_raw (&b, "xyz", 3);
  shell_script_build (&b, &(shell_script_t){ .cmd = "true", .driver = 1 });
  char len[9];
  memcpy (len, b.data + 3, 8);
  len[8] = '\0';
  assert_int_equal (strtoul (len, NULL, 10), b.len - 3 - 8);
  fk_wire_buf_free (&b);
}

static void
bad_env_names (void **state)
{
  char *ok[] = { (char *)"A=1", (char *)"_x9=", (char *)"abc=a=b", NULL };
  assert_null (shell_script_bad_env (ok));
  assert_null (shell_script_bad_env (NULL));
  const char *bad[] = { "=x", "1A=x", "A-B=x", "A B=x", "A.B=x", "\xc3\xa9=x", "A;rm=x", "$A=x" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      char *env[] = { (char *)"GOOD=1", (char *)bad[i], NULL };
      const char *got = shell_script_bad_env (env);
      assert_non_null (got);
      assert_string_equal (got, bad[i]);
    }
}

/* ---- real shells ---- */

typedef struct ran
{
  char *out; /* stdout and stderr */
  size_t out_len;
  int status[16]; /* the runs' statuses from fd 9 */
  int n_status;
} ran_t;

static void
ran_clear (ran_t *r)
{
  free (r->out);
  memset (r, 0, sizeof *r);
}

static size_t
read_to_eof (int fd, char **ret)
{
  size_t len = 0, cap = 4096;
  char *buf = xmalloc (cap + 1);
  for (;;)
    {
      if (len == cap)
        buf = xrealloc (buf, (cap *= 2) + 1);
      ssize_t n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      assert_true (n >= 0);
      if (n == 0)
        break;
      len += (size_t)n;
    }
  buf[len] = '\0';
  *ret = buf;
  return len;
}

/* Starts shell (bash as the agent starts it when driver) in cwd with fd 8 /dev/null and fd 9 a
   status pipe, sends it the prelude and the runs, closes its stdin and collects what it wrote. */
static void
run_shell (const char *shell, int driver, const char *cwd, const shell_script_t *runs, size_t n,
           ran_t *ret)
{
  fk_wire_buf_t in = FK_WIRE_BUF_INIT;
  size_t plen;
  int skip;
  const char *prelude = shell_script_prelude (driver, &plen, &skip);
  fk_wire_put_raw (&in, prelude, plen);
  for (size_t i = 0; i < n; i++)
    {
      shell_script_t s = runs[i];
      s.driver = driver;
      shell_script_build (&in, &s);
    }
  int inp[2], outp[2], stp[2];
  assert_int_equal (pipe2 (inp, O_CLOEXEC), 0);
  assert_int_equal (pipe2 (outp, O_CLOEXEC), 0);
  assert_int_equal (pipe2 (stp, O_CLOEXEC), 0);
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true (devnull >= 0);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      int from[] = { inp[0], outp[1], outp[1], devnull, stp[1] };
      const int to[] = { 0, 1, 2, SHELL_NULL_FD, SHELL_STATUS_FD };
      for (size_t i = 0; i < 5; i++)
        if ((from[i] = fcntl (from[i], F_DUPFD_CLOEXEC, 20)) < 0)
          _exit (126);
      for (size_t i = 0; i < 5; i++)
        if (dup2 (from[i], to[i]) < 0)
          _exit (126);
      if (chdir (cwd) < 0)
        _exit (126);
      char *envp[] = { (char *)"PATH=/usr/bin:/bin", (char *)"LANG=C.UTF-8", NULL };
      if (driver)
        execle (shell, "bash", "--noprofile", "--norc", "-s", (char *)NULL, envp);
      else
        execle (shell, "sh", "-s", (char *)NULL, envp);
      _exit (127);
    }
  close (inp[0]);
  close (outp[1]);
  close (stp[1]);
  close (devnull);
  assert_int_equal (fk_write_all (inp[1], in.data, in.len, NULL), 0);
  close (inp[1]);
  fk_wire_buf_free (&in);
  memset (ret, 0, sizeof *ret);
  ret->out_len = read_to_eof (outp[0], &ret->out);
  cleanup_free char *st = NULL;
  read_to_eof (stp[0], &st);
  close (outp[0]);
  close (stp[0]);
  int ws;
  assert_int_equal (waitpid (pid, &ws, 0), pid);
  assert_true (WIFEXITED (ws));
  for (char *line = st, *nl; (nl = strchr (line, '\n')) != NULL; line = nl + 1)
    {
      if (skip > 0)
        {
          skip--;
          continue;
        }
      assert_true (ret->n_status < 16);
      ret->status[ret->n_status++] = atoi (line);
    }
}

typedef struct shells
{
  const char *path;
  int driver;
} shells_t;

static const shells_t shells[] = { { "/bin/sh", 0 }, { "/bin/bash", 1 } };

static void
assert_bytes (const char *got, size_t got_len, const char *want, size_t want_len)
{
  if (got_len != want_len || memcmp (got, want, want_len) != 0)
    {
      fprintf (stderr, "# got %zu bytes:\n", got_len);
      fwrite (got, 1, got_len, stderr);
      fprintf (stderr, "\n# want %zu bytes:\n", want_len);
      fwrite (want, 1, want_len, stderr);
      fprintf (stderr, "\n");
      fail_msg ("output differs");
    }
}

static void
hostile_env_and_command (void **state)
{
  const char *dir = *state;
  /* Every byte from 1 to 255: what a binary value can hold in an environment. */
  char bin[256];
  for (int i = 1; i < 256; i++)
    bin[i - 1] = (char)i;
  bin[255] = '\0';
  const char *nasty = "it's \"q\" $HOME ${X:-y} `id` $(id) \\ \\n \\'\nline two\t\x01\x7f end '";
  cleanup_free char *v_bin = xasprintf ("VBIN=%s", bin);
  cleanup_free char *v_nasty = xasprintf ("VN=%s", nasty);
  char *env[] = { v_nasty, (char *)"VE=", v_bin, (char *)"VD=-n", NULL };
  /* The command text itself is hostile: a quoted here-document echoes it byte for byte. */
  const char *doc = "'\"$`\\ \xc3\xa9 \xff $(x) ${y} `z` \\\n\\";
  cleanup_free char *cmd = xasprintf (
      "printf '%%s|' \"$VN\" \"$VE\" \"${VE+set}\" \"$VBIN\" \"$VD\"; cat <<'EOF'\n%s\nEOF", doc);
  cleanup_free char *want = xasprintf ("%s||set|%s|-n|%s\n", nasty, bin, doc);
  for (size_t k = 0; k < sizeof shells / sizeof shells[0]; k++)
    {
      if (access (shells[k].path, X_OK) < 0)
        continue;
      ran_t r;
      shell_script_t run = { .cmd = cmd, .env = env };
      run_shell (shells[k].path, shells[k].driver, dir, &run, 1, &r);
      assert_bytes (r.out, r.out_len, want, strlen (want));
      assert_int_equal (r.n_status, 1);
      assert_int_equal (r.status[0], 0);
      ran_clear (&r);
    }
}

static void
hostile_cwd_and_stdin (void **state)
{
  const char *dir = *state;
  cleanup_free char *cwd = xasprintf ("%s/d i'r $x `y` \"z\"\n\xc3\xa9 \\", dir);
  assert_int_equal (mkdir (cwd, 0755), 0);
  cleanup_free char *in_path = xasprintf ("%s/in put'$1", dir);
  const char data[] = "stdin: 'q' $x\n\xff\xfe end";
  assert_int_equal (fk_write_file_atomic_at (AT_FDCWD, in_path, data, sizeof data - 1, 0600, NULL),
                    0);
  cleanup_free char *want = xasprintf ("%s\n%s", cwd, data);
  for (size_t k = 0; k < sizeof shells / sizeof shells[0]; k++)
    {
      if (access (shells[k].path, X_OK) < 0)
        continue;
      ran_t r;
      shell_script_t run = { .cmd = "pwd; cat", .cwd = cwd, .stdin_path = in_path };
      run_shell (shells[k].path, shells[k].driver, dir, &run, 1, &r);
      assert_bytes (r.out, r.out_len, want, strlen (want));
      assert_int_equal (r.n_status, 1);
      assert_int_equal (r.status[0], 0);
      ran_clear (&r);

      /* A cwd that does not exist fails the run (status 1), not the shell. */
      shell_script_t runs2[]
          = { { .cmd = "echo no", .cwd = "/nonexistent/x" }, { .cmd = "echo yes" } };
      run_shell (shells[k].path, shells[k].driver, dir, runs2, 2, &r);
      assert_int_equal (r.n_status, 2);
      assert_int_equal (r.status[0], 1);
      assert_int_equal (r.status[1], 0);
      assert_non_null (strstr (r.out, "yes\n"));
      assert_null (strstr (r.out, "no\n"));
      ran_clear (&r);
    }
}

static void
runs_do_not_leak_into_the_next (void **state)
{
  const char *dir = *state;
  cleanup_free char *sub = xasprintf ("%s/sub", dir);
  assert_int_equal (mkdir (sub, 0755), 0);
  char *env[] = { (char *)"X=1", NULL };
  cleanup_free char *want = xasprintf ("1 %s\nunset %s\n\n", sub, dir);
  for (size_t k = 0; k < sizeof shells / sizeof shells[0]; k++)
    {
      if (access (shells[k].path, X_OK) < 0)
        continue;
      shell_script_t runs[] = {
        { .cmd = "echo \"$X\" \"$(pwd)\"", .env = env, .cwd = sub },
        { .cmd = "echo \"${X-unset}\" \"$(pwd)\"" },
        /* Closing fds 8 and 9 inside a run reaches neither the status nor the next run. */
        { .cmd = "exec 8<&- 9>&-; false" },
        { .cmd = "cat; echo" },
        { .cmd = "" },
        { .cmd = "exit 7", .env = env },
        { .cmd = "(exit 3)" },
      };
      ran_t r;
      run_shell (shells[k].path, shells[k].driver, dir, runs, sizeof runs / sizeof runs[0], &r);
      assert_bytes (r.out, r.out_len, want, strlen (want));
      int statuses[] = { 0, 0, 1, 0, 0, 7, 3 };
      assert_int_equal (r.n_status, 7);
      for (int i = 0; i < 7; i++)
        assert_int_equal (r.status[i], statuses[i]);
      ran_clear (&r);
    }
}

static int
setup (void **state)
{
  *state = test_tmpdir ();
  return 0;
}

static int
teardown (void **state)
{
  test_tmpdir_free (*state);
  return 0;
}

int
main (void)
{
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (text_for_sh),
    cmocka_unit_test (text_for_driver),
    cmocka_unit_test (bad_env_names),
    cmocka_unit_test_setup_teardown (hostile_env_and_command, setup, teardown),
    cmocka_unit_test_setup_teardown (hostile_cwd_and_stdin, setup, teardown),
    cmocka_unit_test_setup_teardown (runs_do_not_leak_into_the_next, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
