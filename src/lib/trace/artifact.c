/* trace/artifact.c: see artifact.h. */
#include "trace/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "trace/confidence.h"

/* jansson prints reals with "%.17g" (0.6 becomes 0.59999999999999998); serde_json, which wrote
   the reference's artifacts, prints the shortest text that reads back as the same double. */
static void
format_real (FILE *out, double v)
{
  char buf[64];
  double a = fabs (v);
  if (v == 0)
    {
      fputs (signbit (v) ? "-0.0" : "0.0", out);
      return;
    }
  if (a >= 1e-5 && a < 1e16)
    for (int digits = 0; digits <= 17 + 5; digits++)
      {
        snprintf (buf, sizeof buf, "%.*f", digits, v);
        if (strtod (buf, NULL) == v)
          {
            fputs (buf, out);
            if (strchr (buf, '.') == NULL)
              fputs (".0", out);
            return;
          }
      }
  for (int digits = 1; digits <= 17; digits++)
    {
      snprintf (buf, sizeof buf, "%.*g", digits, v);
      if (strtod (buf, NULL) == v)
        break;
    }
  fputs (buf, out);
}

static void
indent (FILE *out, int depth)
{
  for (int i = 0; i < depth; i++)
    fputs ("  ", out);
}

static void
format_string (FILE *out, const char *s)
{
  json_t *j = json_string (s);
  char *text = json_dumps (j, JSON_ENCODE_ANY);
  json_decref (j);
  if (text == NULL)
    fk_oom (0);
  fputs (text, out);
  free (text);
}

/* serde_json's PrettyFormatter: "key": value, two spaces a level, empty containers inline. */
static void
format_json (FILE *out, const json_t *j, int depth)
{
  switch (json_typeof (j))
    {
    case JSON_OBJECT:
      {
        if (json_object_size (j) == 0)
          {
            fputs ("{}", out);
            return;
          }
        fputs ("{\n", out);
        const char *key;
        json_t *v;
        size_t i = 0, n = json_object_size (j);
        json_object_foreach ((json_t *)j, key, v)
        {
          indent (out, depth + 1);
          format_string (out, key);
          fputs (": ", out);
          format_json (out, v, depth + 1);
          fputs (++i < n ? ",\n" : "\n", out);
        }
        indent (out, depth);
        fputc ('}', out);
        return;
      }
    case JSON_ARRAY:
      {
        size_t n = json_array_size (j);
        if (n == 0)
          {
            fputs ("[]", out);
            return;
          }
        fputs ("[\n", out);
        for (size_t i = 0; i < n; i++)
          {
            indent (out, depth + 1);
            format_json (out, json_array_get (j, i), depth + 1);
            fputs (i + 1 < n ? ",\n" : "\n", out);
          }
        indent (out, depth);
        fputc (']', out);
        return;
      }
    case JSON_STRING:
      format_string (out, json_string_value (j));
      return;
    case JSON_INTEGER:
      fprintf (out, "%" JSON_INTEGER_FORMAT, json_integer_value (j));
      return;
    case JSON_REAL:
      format_real (out, json_real_value (j));
      return;
    case JSON_TRUE:
      fputs ("true", out);
      return;
    case JSON_FALSE:
      fputs ("false", out);
      return;
    case JSON_NULL:
      fputs ("null", out);
      return;
    }
}

int
fk_trace_artifact_format (const char *kind, const fk_trace_samples_t *samples, char **ret_text,
                          fk_error_t *err)
{
  cleanup_json json_t *root = json_object ();
  json_t *arr = json_array ();
  json_object_set_new (root, "kind", json_string (kind));
  json_object_set_new (root, "samples", arr);
  json_object_set_new (root, "traces", json_array ());
  for (size_t i = 0; i < samples->len; i++)
    {
      json_t *s = NULL;
      if (fk_trace_sample_to_json (samples->items[i], &s, err) < 0)
        return -1;
      json_array_append_new (arr, s);
    }
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream (&text, &len);
  if (out == NULL)
    fk_oom (0);
  format_json (out, root, 0);
  fputc ('\n', out);
  if (fclose (out) != 0)
    fk_oom (len);
  *ret_text = text;
  return 0;
}

int
fk_trace_artifact_write (const char *path, const char *kind, const fk_trace_samples_t *samples,
                         fk_error_t *err)
{
  size_t plen = strlen (path);
  if (plen == 0 || path[plen - 1] == '/')
    return fk_error_set (err, EINVAL, "artifact path `%s' does not name a file", path);
  cleanup_free char *text = NULL;
  if (fk_trace_artifact_format (kind, samples, &text, err) < 0)
    return fk_error_wrap (err, "artifact `%s'", path);
  cleanup_free char *dir = NULL;
  cleanup_free char *base = NULL;
  fk_path_split (path, &dir, &base);
  if (fk_mkdir_p (dir, 0755, err) < 0)
    return fk_error_wrap (err, "artifact `%s': create parent directory", path);
  return fk_write_file_atomic_at (AT_FDCWD, path, text, strlen (text), 0644, err);
}

int
fk_trace_density_artifact_write (const fk_trace_density_spec_t *spec, const char *path,
                                 fk_trace_samples_t *samples, fk_error_t *err)
{
  fk_trace_sample_t *breakpoint = NULL;
  int r = fk_trace_density_breakpoint (spec, samples, &breakpoint, err);
  if (r < 0)
    return -1;
  if (r > 0)
    fk_trace_samples_push (samples, breakpoint);
  if (fk_trace_confidence_tag_samples (samples, err) < 0)
    return -1;
  return fk_trace_artifact_write (path, spec->artifact_kind, samples, err);
}

void
fk_trace_artifact_free (fk_trace_artifact_t *artifact)
{
  if (artifact == NULL)
    return;
  free (artifact->kind);
  fk_trace_samples_clear (&artifact->samples);
  free (artifact);
}

int
fk_trace_artifact_parse (const char *buf, size_t len, fk_trace_artifact_t **ret_artifact,
                         fk_error_t *err)
{
  /* jansson directly rather than fk_json_parse, to tell a truncated file (the text stops
     inside a value: jansson reports "... near end of file" or "premature end of input") from
     one that is malformed in the middle. */
  json_error_t je;
  cleanup_json json_t *root
      = json_loadb (buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &je);
  if (root == NULL && len == 0)
    return fk_error_set (err, EINVAL, "invalid JSON: the file is empty");
  if (root == NULL
      && (strstr (je.text, "near end of file") != NULL
          || strstr (je.text, "premature end of input") != NULL))
    return fk_error_set (err, EINVAL,
                         "invalid JSON at line %d column %d: %s (the file is truncated: it "
                         "ends inside a value)",
                         je.line, je.column, je.text);
  if (root == NULL)
    return fk_error_set (err, EINVAL, "invalid JSON at line %d column %d: %s", je.line, je.column,
                         je.text);
  if (!json_is_object (root))
    return fk_error_set (err, EINVAL, "an artifact must be a JSON object");
  json_t *kind = json_object_get (root, "kind");
  if (kind == NULL)
    return fk_error_set (err, EINVAL, "missing `kind'");
  if (!json_is_string (kind))
    return fk_error_set (err, EINVAL, "`kind' must be a string");
  if (json_string_value (kind)[0] == '\0')
    return fk_error_set (err, EINVAL, "`kind' is empty");
  json_t *samples = json_object_get (root, "samples");
  if (samples == NULL)
    return fk_error_set (err, EINVAL, "missing `samples'");
  if (!json_is_array (samples))
    return fk_error_set (err, EINVAL, "`samples' must be an array");
  json_t *traces = json_object_get (root, "traces");
  if (traces == NULL)
    return fk_error_set (err, EINVAL, "missing `traces'");
  if (!json_is_array (traces))
    return fk_error_set (err, EINVAL, "`traces' must be an array");

  fk_trace_artifact_t *a = xcalloc (1, sizeof *a);
  a->kind = xstrdup (json_string_value (kind));
  a->n_traces = json_array_size (traces);
  for (size_t i = 0; i < json_array_size (samples); i++)
    {
      fk_trace_sample_t *s = NULL;
      if (fk_trace_sample_from_json (json_array_get (samples, i), &s, err) < 0)
        {
          fk_trace_artifact_free (a);
          return fk_error_wrap (err, "sample %zu", i);
        }
      fk_trace_samples_push (&a->samples, s);
    }
  *ret_artifact = a;
  return 0;
}

int
fk_trace_artifact_read (const char *path, fk_trace_artifact_t **ret_artifact, fk_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "artifact `%s'", path);
  if (fk_read_all (fd, FK_TRACE_ARTIFACT_MAX_BYTES, &buf, &len, err) < 0)
    return fk_error_wrap (err, "artifact `%s'", path);
  if (fk_trace_artifact_parse (buf, len, ret_artifact, err) < 0)
    return fk_error_wrap (err, "artifact `%s'", path);
  return 0;
}
