/* trace/envparse.c: see envparse.h. */
#include "trace/envparse.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

int
fk_trace_parse_usize (const char *s, size_t len, size_t *ret_value)
{
  size_t i = 0, v = 0;
  if (len > 0 && s[0] == '+')
    i = 1;
  if (i == len)
    return -1;
  for (; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return -1;
      if (__builtin_mul_overflow (v, 10, &v)
          || __builtin_add_overflow (v, (size_t)(s[i] - '0'), &v))
        return -1;
    }
  *ret_value = v;
  return 0;
}

/* Rust's OsStr::to_str: None unless the bytes are valid UTF-8 (no overlongs, no surrogates,
   nothing past U+10FFFF). */
static int
valid_utf8 (const unsigned char *s)
{
  while (*s)
    {
      unsigned c = *s;
      size_t n;
      uint32_t cp;
      if (c < 0x80)
        {
          s++;
          continue;
        }
      else if (c >= 0xc2 && c <= 0xdf)
        n = 1, cp = c & 0x1f;
      else if (c >= 0xe0 && c <= 0xef)
        n = 2, cp = c & 0x0f;
      else if (c >= 0xf0 && c <= 0xf4)
        n = 3, cp = c & 0x07;
      else
        return 0;
      for (size_t i = 1; i <= n; i++)
        {
          if ((s[i] & 0xc0) != 0x80)
            return 0;
          cp = (cp << 6) | (s[i] & 0x3f);
        }
      if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
          || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
      s += n + 1;
    }
  return 1;
}

/* Length of the Unicode White_Space character (Rust's char::is_whitespace) at s, or 0. */
static size_t
space_at (const unsigned char *s, size_t len)
{
  if (len >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || s[0] == 0x20))
    return 1;
  if (len >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
    return 2;
  if (len >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) /* U+1680 */
    return 3;
  if (len >= 3 && s[0] == 0xe2 && s[1] == 0x80
      && ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
    return 3; /* U+2000..200A, U+2028, U+2029, U+202F */
  if (len >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) /* U+205F */
    return 3;
  if (len >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) /* U+3000 */
    return 3;
  return 0;
}

/* Length of the whitespace character ending at s + len, or 0. */
static size_t
space_before (const unsigned char *s, size_t len)
{
  for (size_t n = 1; n <= 3 && n <= len; n++)
    if (space_at (s + len - n, n) == n)
      return n;
  return 0;
}

static void
trim (const char **s, size_t *len)
{
  const unsigned char *p = (const unsigned char *)*s;
  size_t n = *len, k;
  while ((k = space_at (p, n)) > 0)
    p += k, n -= k;
  while ((k = space_before (p, n)) > 0)
    n -= k;
  *s = (const char *)p;
  *len = n;
}

size_t
fk_trace_env_repeat_count (const char *value, size_t def)
{
  size_t v;
  if (value == NULL || !valid_utf8 ((const unsigned char *)value))
    return def;
  if (fk_trace_parse_usize (value, strlen (value), &v) < 0 || v == 0)
    return def;
  return v;
}

/* Splits value at ','; each trimmed item goes to levels when valid and positive, else (when
   strict) err names it. */
static int
split_levels (const char *value, int strict, size_t **ret_levels, size_t *ret_n, fk_error_t *err)
{
  cleanup_free size_t *levels = NULL;
  size_t n = 0, cap = 0;
  const char *p = value;
  for (;;)
    {
      const char *comma = strchr (p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen (p);
      const char *item = p;
      size_t ilen = len, level;
      trim (&item, &ilen);
      if (fk_trace_parse_usize (item, ilen, &level) == 0 && level > 0)
        {
          xgrow ((void **)&levels, &cap, n + 1, sizeof *levels);
          levels[n++] = level;
        }
      else if (strict)
        return fk_error_set (err, EINVAL,
                             "invalid concurrency level `%.*s' in `%s' (expected "
                             "positive numbers separated by commas)",
                             (int)ilen, item, value);
      if (comma == NULL)
        break;
      p = comma + 1;
    }
  *ret_levels = steal_pointer (&levels);
  *ret_n = n;
  return 0;
}

void
fk_trace_env_levels (const char *value, const size_t *def, size_t ndef, size_t **ret_levels,
                     size_t *ret_n)
{
  size_t *levels = NULL, n = 0;
  if (value != NULL && valid_utf8 ((const unsigned char *)value))
    split_levels (value, 0, &levels, &n, NULL);
  if (n == 0)
    {
      free (levels);
      levels = xmalloc ((ndef ? ndef : 1) * sizeof *levels);
      if (ndef)
        memcpy (levels, def, ndef * sizeof *levels);
      n = ndef;
    }
  *ret_levels = levels;
  *ret_n = n;
}

int
fk_trace_levels_parse (const char *value, size_t **ret_levels, size_t *ret_n, fk_error_t *err)
{
  size_t *levels = NULL, n = 0;
  if (split_levels (value, 1, &levels, &n, err) < 0)
    return -1;
  if (n == 0)
    {
      free (levels);
      return fk_error_set (err, EINVAL, "no concurrency level in `%s'", value);
    }
  *ret_levels = levels;
  *ret_n = n;
  return 0;
}
