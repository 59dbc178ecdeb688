/* agent/shellscript.c: see shellscript.h. */
#include "shellscript.h"

#include <stdio.h>
#include <string.h>

/* The first command of every sh: SIGINT (cancel) ends the running command, not the shell: a
   handler (unlike an ignore) is reset for the commands it starts. */
static const char shell_init[] = "trap : INT\n";

/* bash's driver: each turn writes the status of the last run (first: of the trap), then reads
   a run's length and text (ASCII: see put_quoted) and evals it. A read that fails at EOF (the
   agent closed the pipe) ends the shell; one cut short by a trapped signal or by a TMOUT the
   runs set (status over 128) is read again. Every command is `builtin': a run may define
   functions named read, eval, test or printf (needs bash 4.1: read -N). What a run can still do
   to its own shell: redefine `builtin' itself, `enable -n' a builtin, `set -n', alias
   `builtin' under expand_aliases (the next runs hang or misreport: give runs a timeout), and
   under `set -x' or a DEBUG trap the driver's own lines are traced into the next run's
   stderr. The driver keeps the length and the text in an array, __fk: bash never exports an
   array, so even under `set -a' the run's commands do not get them in their environment. */
static const char shell_driver[]
    = "trap : INT\n"
      "while builtin :; do while builtin :; do while builtin printf '%d\\n' \"$?\" >&9; "
      "until builtin read -r -N 8 '__fk[0]'; do builtin test \"$?\" -gt 128 || builtin exit 0; "
      "done; builtin read -r -N \"$((10#${__fk[0]}))\" '__fk[1]' || builtin exit 0; "
      "do builtin eval \"${__fk[1]}\"; done; done; done; builtin exit 0\n";

/* A run's text in the driver's framing: the 8-digit length goes first. */
#define DRIVER_LEN_DIGITS 8

const char *
shell_script_prelude (int driver, size_t *ret_len, int *ret_skip_status)
{
  *ret_len = driver ? sizeof shell_driver - 1 : sizeof shell_init - 1;
  *ret_skip_status = driver ? 1 : 0;
  return driver ? shell_driver : shell_init;
}

/* Appends s single-quoted for sh: every byte but ' stands for itself inside '...'. For bash's
   driver, text with bytes over 0x7f is quoted $'...' with those bytes as \xHH: the run's text
   stays ASCII, so the driver's `read -N' (which counts characters in the shell's locale) reads
   exactly its bytes whatever locale a run exports. */
static void
put_quoted (fk_wire_buf_t *b, const char *s, int ascii)
{
  int high = 0;
  for (const unsigned char *q = (const unsigned char *)s; ascii && *q && !high; q++)
    high = *q >= 0x80;
  if (high)
    {
      static const char hex[] = "0123456789abcdef";
      fk_wire_put_raw (b, "$'", 2);
      for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        {
          char e[4] = { '\\', 'x', hex[*q >> 4], hex[*q & 15] };
          if (*q >= 0x80)
            fk_wire_put_raw (b, e, 4);
          else if (*q == '\'' || *q == '\\')
            {
              e[1] = (char)*q;
              fk_wire_put_raw (b, e, 2);
            }
          else
            fk_wire_put_raw (b, q, 1);
        }
      fk_wire_put_raw (b, "'", 1);
      return;
    }
  fk_wire_put_raw (b, "'", 1);
  for (const char *q; (q = strchr (s, '\'')) != NULL; s = q + 1)
    {
      fk_wire_put_raw (b, s, (size_t)(q - s));
      fk_wire_put_raw (b, "'\\''", 4);
    }
  fk_wire_put_raw (b, s, strlen (s));
  fk_wire_put_raw (b, "'", 1);
}

static int
valid_name (const char *s, size_t len)
{
  if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
          || (s[i] >= '0' && s[i] <= '9')))
      return 0;
  return 1;
}

const char *
shell_script_bad_env (char *const *env)
{
  for (char *const *e = env; e && *e; e++)
    if (!valid_name (*e, (size_t)(strchrnul (*e, '=') - *e)))
      return *e;
  return NULL;
}

void
shell_script_build (fk_wire_buf_t *b, const shell_script_t *s)
{
  size_t start = b->len;
  const char *cwd = s->cwd && s->cwd[0] ? s->cwd : NULL;
  int sub = cwd != NULL || s->env != NULL;
  if (s->driver)
    fk_wire_put_raw (b, "00000000", DRIVER_LEN_DIGITS); /* the length, filled in below */
  fk_wire_put_raw (b, sub ? "( " : "{ ", 2);
  if (cwd != NULL)
    {
      fk_wire_put_raw (b, "cd -- ", 6);
      put_quoted (b, cwd, s->driver);
      fk_wire_put_raw (b, " || exit 1\n", 11);
    }
  for (char *const *e = s->env; e && *e; e++)
    {
      fk_wire_put_raw (b, "export ", 7);
      put_quoted (b, *e, s->driver);
      fk_wire_put_raw (b, "\n", 1);
    }
  /* `command' keeps a syntax error from ending a POSIX-mode shell; bash's `builtin' keeps a
     run's function named command from taking over. */
  if (s->driver)
    fk_wire_put_raw (b, "builtin ", 8);
  fk_wire_put_raw (b, "command eval ", 13);
  put_quoted (b, s->cmd, s->driver);
  fk_wire_put_raw (b, sub ? "\n) " : "\n} ", 3);
  if (s->stdin_path != NULL)
    {
      fk_wire_put_raw (b, "<", 1);
      put_quoted (b, s->stdin_path, s->driver);
    }
  else
    fk_wire_put_raw (b, "<&8 8<&-", 8);
  fk_wire_put_raw (b, " 9>&-", 5);
  if (s->driver)
    {
      char len[DRIVER_LEN_DIGITS + 1];
      snprintf (len, sizeof len, "%0*zu", DRIVER_LEN_DIGITS, b->len - start - DRIVER_LEN_DIGITS);
      memcpy (b->data + start, len, DRIVER_LEN_DIGITS);
    }
  else
    {
      static const char status[] = "; command printf '%d\\n' \"$?\" >&9\n";
      fk_wire_put_raw (b, status, sizeof status - 1);
    }
}
