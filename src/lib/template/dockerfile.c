/* template/dockerfile.c: the Dockerfile parser (dockerfile.h). Two passes over untrusted text:
   lines to logical instructions (comments, continuations, the escape directive), then each
   instruction's arguments to raw words, checked for the form firkin builds. Variables are
   expanded later, by the build, with fk_dockerfile_word. */
#include "template/dockerfile.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

#define EXPAND_DEPTH_MAX 16

static const char *const kind_names[] = {
  [FK_DF_FROM] = "FROM",       [FK_DF_RUN] = "RUN",
  [FK_DF_COPY] = "COPY",       [FK_DF_ADD] = "ADD",
  [FK_DF_ENV] = "ENV",         [FK_DF_ARG] = "ARG",
  [FK_DF_WORKDIR] = "WORKDIR", [FK_DF_USER] = "USER",
  [FK_DF_LABEL] = "LABEL",     [FK_DF_ENTRYPOINT] = "ENTRYPOINT",
  [FK_DF_CMD] = "CMD",         [FK_DF_EXPOSE] = "EXPOSE",
};

/* Known instructions firkin does not build, and why. */
static const struct
{
  const char *name, *why;
} unsupported[] = {
  { "HEALTHCHECK", "health checks are not supported" },
  { "ONBUILD", "triggers for later builds are not supported" },
  { "SHELL", "changing the shell is not supported (RUN uses /bin/sh -c)" },
  { "STOPSIGNAL", "stop signals are not supported" },
  { "VOLUME", "volumes are not supported" },
  { "MAINTAINER", "MAINTAINER is deprecated: use LABEL maintainer=..." },
};

const char *
fk_dockerfile_kind_name (fk_df_kind_t kind)
{
  return kind <= FK_DF_EXPOSE ? kind_names[kind] : "?";
}

static void
instr_clear (fk_df_instr_t *in)
{
  free (in->text);
  for (size_t i = 0; i < in->n_args; i++)
    free (in->args[i]);
  free (in->args);
  free (in->chown);
  free (in->chmod);
}

void
fk_dockerfile_free (fk_dockerfile_t *df)
{
  if (df == NULL)
    return;
  for (size_t i = 0; i < df->n; i++)
    instr_clear (&df->instrs[i]);
  free (df->instrs);
  free (df);
}

FK_DEFINE_CLEANUP (fk_dockerfile_t *, fk_dockerfile_free)

static void
add_arg (fk_df_instr_t *in, char *s)
{
  in->args = xrealloc (in->args, (in->n_args + 1) * sizeof *in->args);
  in->args[in->n_args++] = s;
}

static int
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Splits s into raw words at unquoted white space; quotes and escapes stay in the words. */
static int
split_words (const char *s, char esc, unsigned line, char ***ret, size_t *ret_n, fk_error_t *err)
{
  char **v = NULL;
  size_t n = 0;
  const char *p = s;
  while (*p)
    {
      while (is_space (*p))
        p++;
      if (!*p)
        break;
      const char *start = p;
      char quote = 0;
      while (*p && (quote || !is_space (*p)))
        {
          if (*p == esc && quote != '\'' && p[1])
            p += 2;
          else
            {
              if (quote == 0 && (*p == '\'' || *p == '"'))
                quote = *p;
              else if (*p == quote)
                quote = 0;
              p++;
            }
        }
      if (quote)
        {
          for (size_t i = 0; i < n; i++)
            free (v[i]);
          free (v);
          return fk_error_set (err, EINVAL, "line %u: unterminated %c quote", line, quote);
        }
      v = xrealloc (v, (n + 1) * sizeof *v);
      v[n++] = xstrndup (start, (size_t)(p - start));
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

static void
free_words (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

/* A JSON array of strings (the exec form): 1 with the strings added to in, 0 when text is not
   one (then it is the shell form). */
static int
parse_exec_form (const char *text, fk_df_instr_t *in)
{
  if (text[0] != '[')
    return 0;
  json_error_t jerr;
  cleanup_json json_t *a = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_array (a))
    return 0;
  for (size_t i = 0; i < json_array_size (a); i++)
    if (!json_is_string (json_array_get (a, i)))
      return 0;
  for (size_t i = 0; i < json_array_size (a); i++)
    {
      json_t *s = json_array_get (a, i);
      /* A NUL in a JSON string (\u0000) could not be an argument. */
      if (strlen (json_string_value (s)) != json_string_length (s))
        return 0;
      add_arg (in, xstrdup (json_string_value (s)));
    }
  in->exec_form = 1;
  return 1;
}

static int
valid_name (const char *s, size_t n)
{
  if (n == 0 || !(isalpha ((unsigned char)s[0]) || s[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum ((unsigned char)s[i]) || s[i] == '_'))
      return 0;
  return 1;
}

/* ENV and LABEL: K=V words, or the older `K rest of the line' (one pair). */
static int
parse_pairs (fk_df_instr_t *in, char esc, int names_only, fk_error_t *err)
{
  const char *what = fk_dockerfile_kind_name (in->kind);
  char **w = NULL;
  size_t n = 0;
  if (split_words (in->text, esc, in->line, &w, &n, err) < 0)
    return -1;
  int rc = -1;
  if (n == 0)
    {
      fk_error_set (err, EINVAL, "line %u: %s needs at least one KEY=VALUE", in->line, what);
      goto out;
    }
  if (strchr (w[0], '=') == NULL)
    {
      /* ENV KEY VALUE...: the value is the rest of the line. */
      const char *rest = in->text + strspn (in->text, " \t");
      rest += strlen (w[0]);
      rest += strspn (rest, " \t");
      if (n < 2)
        {
          fk_error_set (err, EINVAL, "line %u: %s %s has no value (write %s=VALUE)", in->line, what,
                        w[0], w[0]);
          goto out;
        }
      if (names_only && !valid_name (w[0], strlen (w[0])))
        {
          fk_error_set (err, EINVAL, "line %u: `%s' is not a variable name", in->line, w[0]);
          goto out;
        }
      add_arg (in, xstrdup (w[0]));
      add_arg (in, xstrdup (rest));
      rc = 0;
      goto out;
    }
  for (size_t i = 0; i < n; i++)
    {
      char *eq = strchr (w[i], '=');
      if (eq == NULL || eq == w[i])
        {
          fk_error_set (err, EINVAL, "line %u: %s: `%s' is not KEY=VALUE", in->line, what, w[i]);
          goto out;
        }
      if (names_only && !valid_name (w[i], (size_t)(eq - w[i])))
        {
          fk_error_set (err, EINVAL, "line %u: `%.*s' is not a variable name", in->line,
                        (int)(eq - w[i]), w[i]);
          goto out;
        }
      add_arg (in, xstrndup (w[i], (size_t)(eq - w[i])));
      add_arg (in, xstrdup (eq + 1));
    }
  rc = 0;
out:
  free_words (w, n);
  return rc;
}

static int
parse_arg (fk_df_instr_t *in, char esc, fk_error_t *err)
{
  char **w = NULL;
  size_t n = 0;
  if (split_words (in->text, esc, in->line, &w, &n, err) < 0)
    return -1;
  int rc = 0;
  if (n == 0)
    rc = fk_error_set (err, EINVAL, "line %u: ARG needs a NAME[=DEFAULT]", in->line);
  for (size_t i = 0; rc == 0 && i < n; i++)
    {
      char *eq = strchr (w[i], '=');
      size_t klen = eq ? (size_t)(eq - w[i]) : strlen (w[i]);
      if (!valid_name (w[i], klen))
        {
          rc = fk_error_set (err, EINVAL, "line %u: `%.*s' is not a variable name", in->line,
                             (int)klen, w[i]);
          break;
        }
      add_arg (in, xstrndup (w[i], klen));
      add_arg (in, eq ? xstrdup (eq + 1) : NULL);
    }
  free_words (w, n);
  return rc;
}

static int
parse_copy (fk_df_instr_t *in, char esc, fk_error_t *err)
{
  const char *what = fk_dockerfile_kind_name (in->kind);
  char **w = NULL;
  size_t n = 0;
  if (split_words (in->text, esc, in->line, &w, &n, err) < 0)
    return -1;
  int rc = -1;
  size_t i = 0;
  for (; i < n && strncmp (w[i], "--", 2) == 0; i++)
    {
      if (strncmp (w[i], "--chown=", 8) == 0 && w[i][8] && !in->chown)
        in->chown = xstrdup (w[i] + 8);
      else if (strncmp (w[i], "--chmod=", 8) == 0 && w[i][8] && !in->chmod)
        in->chmod = xstrdup (w[i] + 8);
      else if (strncmp (w[i], "--from=", 7) == 0)
        {
          fk_error_set (err, EINVAL, "line %u: %s --from: multi-stage builds are not supported",
                        in->line, what);
          goto out;
        }
      else
        {
          fk_error_set (err, EINVAL,
                        "line %u: %s: unsupported flag `%s' (only --chown and "
                        "--chmod)",
                        in->line, what, w[i]);
          goto out;
        }
    }
  /* The exec form: the words after the flags as a JSON array. */
  const char *rest = in->text;
  for (size_t k = 0; k < i; k++)
    {
      rest += strspn (rest, " \t");
      rest += strlen (w[k]);
    }
  rest += strspn (rest, " \t");
  fk_df_instr_t tmp = { .kind = in->kind };
  if (parse_exec_form (rest, &tmp))
    {
      for (size_t k = 0; k < tmp.n_args; k++)
        {
          /* Quote each string so that the build's word processing gives it back as it is. */
          json_t *s = json_string (tmp.args[k]);
          add_arg (in, json_dumps (s, JSON_ENCODE_ANY));
          json_decref (s);
        }
      instr_clear (&tmp);
    }
  else
    for (size_t k = i; k < n; k++)
      add_arg (in, xstrdup (w[k]));
  if (in->n_args < 2)
    {
      fk_error_set (err, EINVAL, "line %u: %s needs a source and a destination", in->line, what);
      goto out;
    }
  rc = 0;
out:
  free_words (w, n);
  return rc;
}

static int
parse_instruction (fk_df_instr_t *in, const char *word, char esc, fk_error_t *err)
{
  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
    if (strcasecmp (word, unsupported[i].name) == 0)
      return fk_error_set (err, EINVAL, "line %u: %s: %s", in->line, unsupported[i].name,
                           unsupported[i].why);
  int found = 0;
  for (int k = 0; k <= FK_DF_EXPOSE; k++)
    if (strcasecmp (word, kind_names[k]) == 0)
      {
        in->kind = (fk_df_kind_t)k;
        found = 1;
      }
  if (!found)
    return fk_error_set (err, EINVAL, "line %u: unknown instruction `%s'", in->line, word);
  const char *what = kind_names[in->kind];
  if (in->text[0] == '\0' && in->kind != FK_DF_CMD && in->kind != FK_DF_ENTRYPOINT)
    return fk_error_set (err, EINVAL, "line %u: %s needs arguments", in->line, what);
  char **w = NULL;
  size_t n = 0;
  switch (in->kind)
    {
    case FK_DF_RUN:
      if (strncmp (in->text, "--", 2) == 0)
        return fk_error_set (err, EINVAL, "line %u: RUN flags (%.*s) are not supported", in->line,
                             (int)strcspn (in->text, " \t="), in->text);
      __attribute__ ((fallthrough));
    case FK_DF_CMD:
    case FK_DF_ENTRYPOINT:
      if (!parse_exec_form (in->text, in))
        add_arg (in, xstrdup (in->text));
      if (in->kind == FK_DF_RUN && (in->n_args == 0 || in->args[0][0] == '\0'))
        return fk_error_set (err, EINVAL, "line %u: RUN needs a command", in->line);
      return 0;
    case FK_DF_COPY:
    case FK_DF_ADD:
      return parse_copy (in, esc, err);
    case FK_DF_ENV:
      return parse_pairs (in, esc, 1, err);
    case FK_DF_LABEL:
      return parse_pairs (in, esc, 0, err);
    case FK_DF_ARG:
      return parse_arg (in, esc, err);
    case FK_DF_WORKDIR:
      add_arg (in, xstrdup (in->text));
      return 0;
    case FK_DF_FROM:
    case FK_DF_USER:
    case FK_DF_EXPOSE:
      if (split_words (in->text, esc, in->line, &w, &n, err) < 0)
        return -1;
      if (in->kind == FK_DF_FROM && n > 0 && strncmp (w[0], "--", 2) == 0)
        {
          fk_error_set (err, EINVAL, "line %u: FROM %s is not supported", in->line, w[0]);
          free_words (w, n);
          return -1;
        }
      if (in->kind == FK_DF_FROM && n == 3 && strcasecmp (w[1], "AS") == 0)
        {
          free_words (w, n);
          return fk_error_set (
              err, EINVAL, "line %u: FROM ... AS: multi-stage builds are not supported", in->line);
        }
      if (in->kind != FK_DF_EXPOSE && n != 1)
        {
          free_words (w, n);
          return fk_error_set (err, EINVAL, "line %u: %s takes one argument", in->line, what);
        }
      for (size_t i = 0; i < n; i++)
        add_arg (in, w[i]);
      free (w);
      return 0;
    }
  return 0;
}

/* `# escape=X' before the first instruction (other directives are comments). */
static int
directive (const char *line, size_t len, char *esc, unsigned lineno, fk_error_t *err)
{
  if (len == 0 || line[0] != '#')
    return 0;
  size_t i = 1;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (len - i < 7 || strncasecmp (line + i, "escape", 6) != 0)
    return 1;
  i += 6;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (i >= len || line[i] != '=')
    return 1;
  i++;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  size_t e = len;
  while (e > i && is_space (line[e - 1]))
    e--;
  if (e - i != 1 || (line[i] != '\\' && line[i] != '`'))
    return fk_error_set (err, EINVAL, "line %u: the escape directive takes `\\' or ``'", lineno);
  *esc = line[i];
  return 1;
}

int
fk_dockerfile_parse (const char *text, size_t len, fk_dockerfile_t **ret, fk_error_t *err)
{
  if (len > FK_DOCKERFILE_MAX)
    return fk_error_set (err, EFBIG, "the Dockerfile has %zu bytes: more than %u", len,
                         FK_DOCKERFILE_MAX);
  FK_CLEANUP (fk_dockerfile_free) fk_dockerfile_t *df = xcalloc (1, sizeof *df);
  df->escape = '\\';
  const char *p = text, *end = text + len;
  unsigned lineno = 0, start_line = 0;
  int directives = 1, continuing = 0;
  size_t cap = 0, used = 0;
  cleanup_free char *cur = NULL;
  while (p < end || continuing)
    {
      const char *nl = p < end ? memchr (p, '\n', (size_t)(end - p)) : NULL;
      size_t llen = p < end ? (nl ? (size_t)(nl - p) : (size_t)(end - p)) : 0;
      const char *line = p;
      int at_eof = p >= end;
      p = nl ? nl + 1 : end;
      if (!at_eof)
        lineno++;
      if (!at_eof && memchr (line, '\0', llen))
        return fk_error_set (err, EINVAL, "line %u: the Dockerfile has a NUL byte", lineno);
      if (llen && line[llen - 1] == '\r')
        llen--;
      if (directives && !continuing)
        {
          int d = directive (line, llen, &df->escape, lineno, err);
          if (d < 0)
            return -1;
          if (d == 0 || line[0] != '#')
            directives = 0;
          if (d > 0)
            continue;
        }
      size_t i = 0;
      while (i < llen && is_space (line[i]))
        i++;
      int finish = at_eof;
      if (!at_eof)
        {
          if (i == llen || line[i] == '#')
            {
              /* A blank line or a comment, also between continued lines. */
              if (!(at_eof && continuing))
                continue;
            }
          size_t e = llen;
          while (e > i && is_space (line[e - 1]))
            e--;
          int cont = e > i && line[e - 1] == df->escape;
          if (cont)
            e--;
          if (!continuing)
            start_line = lineno;
          if (used + (e - i) + 2 > cap)
            {
              cap = (used + (e - i) + 2) * 2;
              cur = xrealloc (cur, cap);
            }
          memcpy (cur + used, line + i, e - i);
          used += e - i;
          cur[used] = '\0';
          continuing = cont;
          finish = !cont;
        }
      if (!finish)
        continue;
      continuing = 0;
      if (used == 0)
        continue;
      if (df->n >= FK_DOCKERFILE_MAX_INSTR)
        return fk_error_set (err, EFBIG, "line %u: more than %u instructions", start_line,
                             FK_DOCKERFILE_MAX_INSTR);
      size_t wl = strcspn (cur, " \t");
      cleanup_free char *word = xstrndup (cur, wl);
      const char *rest = cur + wl;
      rest += strspn (rest, " \t");
      df->instrs = xrealloc (df->instrs, (df->n + 1) * sizeof *df->instrs);
      fk_df_instr_t *in = &df->instrs[df->n++];
      memset (in, 0, sizeof *in);
      in->line = start_line;
      in->text = xstrdup (rest);
      used = 0;
      if (parse_instruction (in, word, df->escape, err) < 0)
        return -1;
    }
  /* FROM first (ARGs may come before it), once. */
  size_t from = 0, froms = 0;
  for (size_t i = 0; i < df->n; i++)
    if (df->instrs[i].kind == FK_DF_FROM)
      {
        if (froms++ == 0)
          from = i;
        else
          return fk_error_set (err, EINVAL,
                               "line %u: a second FROM: multi-stage builds are not supported",
                               df->instrs[i].line);
      }
  if (froms == 0)
    return fk_error_set (err, EINVAL, "the Dockerfile has no FROM");
  for (size_t i = 0; i < from; i++)
    if (df->instrs[i].kind != FK_DF_ARG)
      return fk_error_set (err, EINVAL, "line %u: %s before FROM (only ARG may come first)",
                           df->instrs[i].line, fk_dockerfile_kind_name (df->instrs[i].kind));
  /* Every word must process (quotes closed, ${...} well formed). */
  for (size_t i = 0; i < df->n; i++)
    {
      fk_df_instr_t *in = &df->instrs[i];
      int words = in->kind != FK_DF_RUN && in->kind != FK_DF_CMD && in->kind != FK_DF_ENTRYPOINT;
      for (size_t k = 0; words && k < in->n_args; k++)
        {
          if (in->args[k] == NULL)
            continue;
          cleanup_free char *w = NULL;
          if (fk_dockerfile_word (in->args[k], df->escape, NULL, &w, err) < 0)
            return fk_error_wrap (err, "line %u", in->line);
        }
    }
  *ret = steal_pointer (&df);
  return 0;
}

/* ---- words ---- */

typedef struct
{
  char *buf;
  size_t len, cap;
} sbuf_t;

static int
put (sbuf_t *b, const char *s, size_t n, fk_error_t *err)
{
  if (b->len + n > FK_DOCKERFILE_WORD_MAX)
    return fk_error_set (err, EFBIG, "a word expands to more than %u bytes",
                         FK_DOCKERFILE_WORD_MAX);
  if (b->len + n + 1 > b->cap)
    {
      b->cap = (b->len + n + 1) * 2;
      b->buf = xrealloc (b->buf, b->cap);
    }
  memcpy (b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
  return 0;
}

static const char *
lookup (const char *const *vars, const char *name, size_t n)
{
  const char *v = NULL;
  for (size_t i = 0; vars && vars[i]; i++)
    if (strncmp (vars[i], name, n) == 0 && vars[i][n] == '=')
      v = vars[i] + n + 1;
  return v;
}

static int process (const char *s, size_t n, char esc, const char *const *vars, int depth,
                    int in_braces, sbuf_t *out, fk_error_t *err);

/* At s (just after `$'): a variable; *used is how many bytes it took. */
static int
expand_var (const char *s, size_t n, char esc, const char *const *vars, int depth, sbuf_t *out,
            size_t *used, fk_error_t *err)
{
  if (n > 0 && s[0] == '{')
    {
      size_t i = 1;
      while (i < n && (isalnum ((unsigned char)s[i]) || s[i] == '_'))
        i++;
      if (!valid_name (s + 1, i - 1))
        return fk_error_set (err, EINVAL, "bad variable substitution `${%.*s'", (int)(i - 1),
                             s + 1);
      const char *val = lookup (vars, s + 1, i - 1);
      if (i < n && s[i] == '}')
        {
          *used = i + 1;
          return val ? put (out, val, strlen (val), err) : 0;
        }
      if (i + 1 < n && s[i] == ':' && (s[i + 1] == '-' || s[i + 1] == '+'))
        {
          char op = s[i + 1];
          size_t j = i + 2, level = 1;
          for (; j < n; j++)
            {
              if (s[j] == esc && j + 1 < n)
                j++;
              else if (s[j] == '{')
                level++;
              else if (s[j] == '}' && --level == 0)
                break;
            }
          if (j >= n)
            return fk_error_set (err, EINVAL, "missing `}' in `${%.*s'", (int)(i - 1), s + 1);
          *used = j + 1;
          int set = val && *val;
          if ((op == '-' && set) || (op == '+' && !set))
            return op == '-' ? put (out, val, strlen (val), err) : 0;
          return process (s + i + 2, j - (i + 2), esc, vars, depth + 1, 1, out, err);
        }
      return fk_error_set (err, EINVAL,
                           "unsupported substitution `${%.*s': only ${NAME}, "
                           "${NAME:-WORD} and ${NAME:+WORD}",
                           (int)(i < n ? i + 1 : i), s);
    }
  size_t i = 0;
  while (i < n && (isalnum ((unsigned char)s[i]) || s[i] == '_'))
    i++;
  if (i == 0 || !valid_name (s, i))
    {
      *used = 0;
      return put (out, "$", 1, err);
    }
  *used = i;
  const char *val = lookup (vars, s, i);
  return val ? put (out, val, strlen (val), err) : 0;
}

static int
process (const char *s, size_t n, char esc, const char *const *vars, int depth, int in_braces,
         sbuf_t *out, fk_error_t *err)
{
  if (depth > EXPAND_DEPTH_MAX)
    return fk_error_set (err, EINVAL, "substitutions nested deeper than %d", EXPAND_DEPTH_MAX);
  char quote = 0;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      if (quote == '\'')
        {
          if (c == '\'')
            quote = 0;
          else if (put (out, &c, 1, err) < 0)
            return -1;
          continue;
        }
      if (c == esc)
        {
          if (i + 1 >= n)
            {
              if (put (out, &c, 1, err) < 0)
                return -1;
              continue;
            }
          char d = s[++i];
          /* In double quotes, an escape keeps its meaning only before what is special there. */
          if (quote == '"' && d != '"' && d != '$' && d != esc)
            if (put (out, &c, 1, err) < 0)
              return -1;
          if (put (out, &d, 1, err) < 0)
            return -1;
          continue;
        }
      if (c == '$')
        {
          size_t used = 0;
          if (expand_var (s + i + 1, n - i - 1, esc, vars, depth, out, &used, err) < 0)
            return -1;
          i += used;
          continue;
        }
      if (!in_braces && quote == 0 && (c == '\'' || c == '"'))
        {
          quote = c;
          continue;
        }
      if (!in_braces && quote == '"' && c == '"')
        {
          quote = 0;
          continue;
        }
      if (put (out, &c, 1, err) < 0)
        return -1;
    }
  if (quote)
    return fk_error_set (err, EINVAL, "unterminated %c quote", quote);
  return 0;
}

int
fk_dockerfile_word (const char *raw, char escape, const char *const *vars, char **ret,
                    fk_error_t *err)
{
  sbuf_t b = { 0 };
  if (put (&b, "", 0, err) < 0 || process (raw, strlen (raw), escape, vars, 0, 0, &b, err) < 0)
    {
      free (b.buf);
      return -1;
    }
  *ret = b.buf;
  return 0;
}
