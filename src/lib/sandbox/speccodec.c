/* sandbox/speccodec.c: the spec's fields, listed once. The table below drives dup, equal, free,
   the size rules and the JSON form, so a field added to fk_sandbox_spec_t is one entry here
   (tests/unit/test_spec_codec.c fails until it is). The decoder takes untrusted input (request
   bodies, files): bounded sizes, strict types, unknown fields refused; sandbox/spec.c checks the
   values on top of it (fk_sandbox_spec_from_json). */
#include "sandbox/speccodec.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "net/rules.h"
#include "base/xalloc.h"

typedef enum
{
  K_STR,    /* const char *; NULL (JSON null): unset */
  K_STRV,   /* const char *const *, NULL-terminated; NULL (JSON null): unset */
  K_DOUBLE, /* double */
  K_U64,    /* uint64_t (JSON integers stop at INT64_MAX) */
  K_USHORT, /* unsigned short */
  K_BOOL,   /* int used as a flag */
  K_ENUM,   /* an enum (int-sized), by name in JSON */
} kind_t;

enum
{
  EMPTY_DIFFERS = 1 << 0, /* K_STRV: NULL and an empty list ask for different things */
};

typedef struct
{
  const char *group; /* the nested object holding it ("resources"); NULL: the top level */
  const char *name;  /* its JSON name: the C member's */
  kind_t kind;
  size_t offset;
  size_t max;               /* K_STR: most bytes; K_STRV: most entries (0: no bound) */
  size_t max_entry;         /* K_STRV: most bytes of an entry */
  const char *const *names; /* K_ENUM: the names of 0, 1, ..., NULL-terminated */
  unsigned flags;
} field_t;

/* The offset of member m, which must have type t (else the pointer comparison, never
   evaluated, does not compile): a table entry cannot disagree with the struct. */
#define AT(m, t)                                                                                   \
  (offsetof (fk_sandbox_spec_t, m) + 0 * sizeof (&((fk_sandbox_spec_t *)0)->m == (t *)0))
#define TOP(m, k, t, ...)                                                                          \
  {                                                                                                \
    .name = #m, .kind = k, .offset = AT (m, t), __VA_ARGS__                                        \
  }
#define SUB(g, m, k, t, ...)                                                                       \
  {                                                                                                \
    .group = #g, .name = #m, .kind = k, .offset = AT (g.m, t), __VA_ARGS__                         \
  }

_Static_assert(sizeof (fk_data_plane_kind_t) == sizeof (int), "enums are read as int");
_Static_assert(sizeof (fk_init_stdio_t) == sizeof (int), "enums are read as int");
_Static_assert(sizeof (fk_timeout_action_t) == sizeof (int), "enums are read as int");

/* Bounds: generous for any real sandbox, small enough that a spec stays well under the 1 MiB a
   state file may take. */
#define PATH_BYTES 4096u       /* PATH_MAX */
#define NAME_BYTES 256u        /* a user or host name */
#define SYSCALL_BYTES 64u      /* a syscall name */
#define ARG_BYTES (128u << 10) /* MAX_ARG_STRLEN: the kernel's most for one argv or env entry */
#define LABEL_BYTES 4096u      /* a metadata entry */
#define MAX_LAYERS 500u        /* overlayfs stacks at most 500 lower layers */
#define MAX_ENV 4096u
#define MAX_METADATA 256u
#define MAX_SYSCALLS 512u /* more than the kernel has */
#define MAX_ARGS 4096u
#define MAX_NET_RULES FK_NET_RULES_MAX
#define NET_RULE_BYTES FK_NET_RULE_TEXT_MAX

static const char *const data_plane_names[] = { "none", "egress", NULL };
static const char *const init_stdio_names[] = { "null", "pipes", "tty", NULL };
static const char *const timeout_action_names[] = { "delete", "pause", NULL };

/* In the struct's order, which is the JSON's. */
static const field_t fields[] = {
  TOP (template_id, K_STR, const char *, .max = PATH_BYTES),
  TOP (layers, K_STRV, const char *const *, .max = MAX_LAYERS, .max_entry = PATH_BYTES),
  SUB (resources, vcpus, K_DOUBLE, double),
  SUB (resources, memory_bytes, K_U64, uint64_t),
  SUB (resources, disk_bytes, K_U64, uint64_t),
  SUB (resources, pids, K_U64, uint64_t),
  TOP (env, K_STRV, const char *const *, .max = MAX_ENV, .max_entry = ARG_BYTES),
  TOP (workdir, K_STR, const char *, .max = PATH_BYTES),
  TOP (user, K_STR, const char *, .max = NAME_BYTES),
  TOP (hostname, K_STR, const char *, .max = NAME_BYTES),
  TOP (timeout_sec, K_U64, uint64_t),
  TOP (timeout_action, K_ENUM, fk_timeout_action_t, .names = timeout_action_names),
  TOP (metadata, K_STRV, const char *const *, .max = MAX_METADATA, .max_entry = LABEL_BYTES),
  SUB (data_plane, kind, K_ENUM, fk_data_plane_kind_t, .names = data_plane_names),
  SUB (data_plane, allow_out, K_STRV, const char *const *, .max = MAX_NET_RULES,
       .max_entry = NET_RULE_BYTES),
  SUB (data_plane, deny_out, K_STRV, const char *const *, .max = MAX_NET_RULES,
       .max_entry = NET_RULE_BYTES),
  SUB (data_plane, egress_bytes_per_sec, K_U64, uint64_t),
  SUB (data_plane, max_connections, K_U64, uint64_t),
  SUB (seccomp, unconfined, K_BOOL, int),
  SUB (seccomp, deny, K_STRV, const char *const *, .max = MAX_SYSCALLS, .max_entry = SYSCALL_BYTES),
  SUB (seccomp, allow, K_STRV, const char *const *, .max = MAX_SYSCALLS,
       .max_entry = SYSCALL_BYTES),
  TOP (init, K_STRV, const char *const *, .max = MAX_ARGS, .max_entry = ARG_BYTES,
       .flags = EMPTY_DIFFERS),
  TOP (init_stdio, K_ENUM, fk_init_stdio_t, .names = init_stdio_names),
  TOP (init_rows, K_USHORT, unsigned short),
  TOP (init_cols, K_USHORT, unsigned short),
};

#define N_FIELDS (sizeof fields / sizeof fields[0])

/* ---- access ---- */

static const void *
field_cptr (const fk_sandbox_spec_t *spec, const field_t *f)
{
  return (const char *)spec + f->offset;
}

static void *
field_ptr (fk_sandbox_spec_t *spec, const field_t *f)
{
  return (char *)spec + f->offset;
}

/* The member f of spec, as a type. */
#define CVAL(type, spec, f) (*(const type *)field_cptr (spec, f))
#define VAL(type, spec, f) (*(type *)field_ptr (spec, f))

static const char *
get_str (const fk_sandbox_spec_t *spec, const field_t *f)
{
  return *(const char *const *)field_cptr (spec, f);
}

static const char *const *
get_strv (const fk_sandbox_spec_t *spec, const field_t *f)
{
  return *(const char *const *const *)field_cptr (spec, f);
}

/* "resources.vcpus" or "env", for messages. */
static const char *
path_of (const field_t *f, char *buf, size_t size)
{
  if (f->group == NULL)
    return f->name;
  snprintf (buf, size, "%s.%s", f->group, f->name);
  return buf;
}

static size_t
strv_len (const char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

/* ---- dup, free, equal ---- */

static const char **
strv_dup (const char *const *v)
{
  if (v == NULL)
    return NULL;
  size_t n = strv_len (v);
  const char **out = xcalloc (n + 1, sizeof *out);
  for (size_t i = 0; i < n; i++)
    out[i] = xstrdup (v[i]);
  return out;
}

static void
strv_free (const char *const *v)
{
  for (size_t i = 0; v && v[i]; i++)
    free ((char *)v[i]);
  free ((void *)v);
}

void
fk_sandbox_spec_init (fk_sandbox_spec_t *spec)
{
  memset (spec, 0, sizeof *spec);
  spec->resources.vcpus = FK_SPEC_DEFAULT_VCPUS;
  spec->resources.memory_bytes = FK_SPEC_DEFAULT_MEMORY_BYTES;
  spec->resources.disk_bytes = FK_SPEC_DEFAULT_DISK_BYTES;
  spec->resources.pids = FK_SPEC_DEFAULT_PIDS;
  spec->data_plane.kind = FK_DATA_PLANE_NONE;
}

void
fk_sandbox_spec_dup (const fk_sandbox_spec_t *src, fk_sandbox_spec_t **ret_spec)
{
  fk_sandbox_spec_t *s = xmalloc (sizeof *s);
  *s = *src;
  for (size_t i = 0; i < N_FIELDS; i++)
    {
      const field_t *f = &fields[i];
      if (f->kind == K_STR)
        {
          const char *v = get_str (src, f);
          VAL (const char *, s, f) = v ? xstrdup (v) : NULL;
        }
      else if (f->kind == K_STRV)
        VAL (const char **, s, f) = strv_dup (get_strv (src, f));
    }
  *ret_spec = s;
}

void
fk_sandbox_spec_free (fk_sandbox_spec_t *spec)
{
  if (spec == NULL)
    return;
  for (size_t i = 0; i < N_FIELDS; i++)
    {
      const field_t *f = &fields[i];
      if (f->kind == K_STR)
        free ((char *)get_str (spec, f));
      else if (f->kind == K_STRV)
        strv_free (get_strv (spec, f));
    }
  free (spec);
}

static int
str_equal (const char *a, const char *b)
{
  return a == b || (a != NULL && b != NULL && strcmp (a, b) == 0);
}

static int
strv_equal (const char *const *a, const char *const *b, int empty_differs)
{
  if (empty_differs && (a == NULL) != (b == NULL))
    return 0;
  size_t i = 0;
  for (; a && a[i] && b && b[i]; i++)
    if (strcmp (a[i], b[i]) != 0)
      return 0;
  return (a == NULL || a[i] == NULL) && (b == NULL || b[i] == NULL);
}

static int
field_equal (const field_t *f, const fk_sandbox_spec_t *a, const fk_sandbox_spec_t *b)
{
  switch (f->kind)
    {
    case K_STR:
      return str_equal (get_str (a, f), get_str (b, f));
    case K_STRV:
      return strv_equal (get_strv (a, f), get_strv (b, f), (f->flags & EMPTY_DIFFERS) != 0);
    case K_DOUBLE:
      return CVAL (double, a, f) == CVAL (double, b, f);
    case K_U64:
      return CVAL (uint64_t, a, f) == CVAL (uint64_t, b, f);
    case K_USHORT:
      return CVAL (unsigned short, a, f) == CVAL (unsigned short, b, f);
    case K_BOOL:
      return !CVAL (int, a, f) == !CVAL (int, b, f);
    case K_ENUM:
      return CVAL (int, a, f) == CVAL (int, b, f);
    }
  return 0;
}

int
fk_sandbox_spec_equal (const fk_sandbox_spec_t *a, const fk_sandbox_spec_t *b)
{
  for (size_t i = 0; i < N_FIELDS; i++)
    if (!field_equal (&fields[i], a, b))
      return 0;
  return 1;
}

/* ---- sizes ---- */

static int
check_size (const field_t *f, const fk_sandbox_spec_t *spec, fk_error_t *err)
{
  char buf[64];
  if (f->max == 0)
    return 0;
  if (f->kind == K_STR)
    {
      const char *s = get_str (spec, f);
      if (s && strlen (s) > f->max)
        return fk_error_set (err, EINVAL, "sandbox spec: `%s' is longer than %zu bytes",
                             path_of (f, buf, sizeof buf), f->max);
    }
  else if (f->kind == K_STRV)
    {
      const char *const *v = get_strv (spec, f);
      size_t n = 0;
      for (; v && v[n]; n++)
        {
          if (n == f->max)
            return fk_error_set (err, EINVAL, "sandbox spec: `%s' has more than %zu entries",
                                 path_of (f, buf, sizeof buf), f->max);
          if (strlen (v[n]) > f->max_entry)
            return fk_error_set (err, EINVAL, "sandbox spec: `%s'[%zu] is longer than %zu bytes",
                                 path_of (f, buf, sizeof buf), n, f->max_entry);
        }
    }
  return 0;
}

int
fk_spec_check_sizes (const fk_sandbox_spec_t *spec, fk_error_t *err)
{
  for (size_t i = 0; i < N_FIELDS; i++)
    if (check_size (&fields[i], spec, err) < 0)
      return -1;
  return 0;
}

/* ---- JSON ---- */

static int
selected (const field_t *f, const char *const *only)
{
  if (only == NULL)
    return 1;
  const char *top = f->group ? f->group : f->name;
  for (size_t i = 0; only[i]; i++)
    if (strcmp (only[i], top) == 0)
      return 1;
  return 0;
}

static int
encode_string (const char *s, const char *path, size_t i, int in_list, json_t **ret,
               fk_error_t *err)
{
  json_t *j = json_string (s);
  if (j == NULL)
    {
      if (in_list)
        return fk_error_set (err, EINVAL, "sandbox spec: `%s'[%zu] is not UTF-8", path, i);
      return fk_error_set (err, EINVAL, "sandbox spec: `%s' is not UTF-8", path);
    }
  *ret = j;
  return 0;
}

static int
encode_field (const field_t *f, const fk_sandbox_spec_t *spec, json_t **ret, fk_error_t *err)
{
  char buf[64];
  const char *path = path_of (f, buf, sizeof buf);
  switch (f->kind)
    {
    case K_STR:
      {
        const char *s = get_str (spec, f);
        if (s == NULL)
          {
            *ret = json_null ();
            return 0;
          }
        return encode_string (s, path, 0, 0, ret, err);
      }
    case K_STRV:
      {
        const char *const *v = get_strv (spec, f);
        if (v == NULL)
          {
            *ret = json_null ();
            return 0;
          }
        cleanup_json json_t *a = json_array ();
        for (size_t i = 0; v[i]; i++)
          {
            json_t *e = NULL;
            if (encode_string (v[i], path, i, 1, &e, err) < 0)
              return -1;
            json_array_append_new (a, e);
          }
        *ret = steal_pointer (&a);
        return 0;
      }
    case K_DOUBLE:
      {
        json_t *j = json_real (CVAL (double, spec, f));
        if (j == NULL)
          return fk_error_set (err, EINVAL, "sandbox spec: `%s' is not a finite number", path);
        *ret = j;
        return 0;
      }
    case K_U64:
      {
        uint64_t v = CVAL (uint64_t, spec, f);
        if (v > INT64_MAX)
          return fk_error_set (err, EINVAL, "sandbox spec: `%s' %llu is above %lld", path,
                               (unsigned long long)v, (long long)INT64_MAX);
        *ret = json_integer ((json_int_t)v);
        return 0;
      }
    case K_USHORT:
      *ret = json_integer (CVAL (unsigned short, spec, f));
      return 0;
    case K_BOOL:
      *ret = json_boolean (CVAL (int, spec, f) != 0);
      return 0;
    case K_ENUM:
      {
        int v = CVAL (int, spec, f);
        if (v < 0 || (size_t)v >= strv_len (f->names))
          return fk_error_set (err, EINVAL, "sandbox spec: `%s' %d has no name", path, v);
        *ret = json_string (f->names[v]);
        return 0;
      }
    }
  return fk_error_set (err, EINVAL, "sandbox spec: `%s' has no JSON form", path);
}

int
fk_spec_json_encode (const fk_sandbox_spec_t *spec, const char *const *only, json_t **ret_json,
                     fk_error_t *err)
{
  cleanup_json json_t *root = json_object ();
  for (size_t i = 0; i < N_FIELDS; i++)
    {
      const field_t *f = &fields[i];
      if (!selected (f, only))
        continue;
      json_t *v = NULL;
      if (encode_field (f, spec, &v, err) < 0)
        return -1;
      json_t *obj = root;
      if (f->group)
        {
          obj = json_object_get (root, f->group);
          if (obj == NULL)
            {
              obj = json_object ();
              json_object_set_new (root, f->group, obj);
            }
        }
      json_object_set_new (obj, f->name, v);
    }
  *ret_json = steal_pointer (&root);
  return 0;
}

int
fk_sandbox_spec_to_json (const fk_sandbox_spec_t *spec, char **ret_text, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (fk_spec_json_encode (spec, NULL, &j, err) < 0)
    return -1;
  char *text = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (text == NULL)
    return fk_error_set (err, ENOMEM, "sandbox spec: cannot serialise it");
  *ret_text = text;
  return 0;
}

static const char *
type_name (const json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
      return "an integer";
    case JSON_REAL:
      return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    case JSON_NULL:
      return "null";
    }
  return "unknown";
}

static int
wrong_type (const char *path, const char *want, const json_t *v, fk_error_t *err)
{
  return fk_error_set (err, EINVAL, "sandbox spec: `%s' must be %s, not %s", path, want,
                       type_name (v));
}

static int
decode_field (const field_t *f, const json_t *v, fk_sandbox_spec_t *spec, fk_error_t *err)
{
  char buf[64];
  const char *path = path_of (f, buf, sizeof buf);
  switch (f->kind)
    {
    case K_STR:
      if (json_is_null (v))
        return 0;
      if (!json_is_string (v))
        return wrong_type (path, "a string or null", v, err);
      if (f->max && json_string_length (v) > f->max)
        return fk_error_set (err, EINVAL, "sandbox spec: `%s' is longer than %zu bytes", path,
                             f->max);
      VAL (const char *, spec, f) = xstrdup (json_string_value (v));
      return 0;
    case K_STRV:
      {
        if (json_is_null (v))
          return 0;
        if (!json_is_array (v))
          return wrong_type (path, "an array of strings or null", v, err);
        size_t n = json_array_size (v);
        if (f->max && n > f->max)
          return fk_error_set (err, EINVAL, "sandbox spec: `%s' has more than %zu entries", path,
                               f->max);
        for (size_t i = 0; i < n; i++)
          {
            const json_t *e = json_array_get (v, i);
            if (!json_is_string (e))
              return fk_error_set (err, EINVAL, "sandbox spec: `%s'[%zu] must be a string, not %s",
                                   path, i, type_name (e));
            if (f->max_entry && json_string_length (e) > f->max_entry)
              return fk_error_set (err, EINVAL, "sandbox spec: `%s'[%zu] is longer than %zu bytes",
                                   path, i, f->max_entry);
          }
        const char **out = xcalloc (n + 1, sizeof *out);
        for (size_t i = 0; i < n; i++)
          out[i] = xstrdup (json_string_value (json_array_get (v, i)));
        VAL (const char **, spec, f) = out;
        return 0;
      }
    case K_DOUBLE:
      if (!json_is_number (v))
        return wrong_type (path, "a number", v, err);
      VAL (double, spec, f) = json_number_value (v);
      return 0;
    case K_U64:
      if (!json_is_integer (v))
        return wrong_type (path, "a whole number", v, err);
      if (json_integer_value (v) < 0)
        return fk_error_set (err, EINVAL, "sandbox spec: `%s' is negative (%lld)", path,
                             (long long)json_integer_value (v));
      VAL (uint64_t, spec, f) = (uint64_t)json_integer_value (v);
      return 0;
    case K_USHORT:
      if (!json_is_integer (v))
        return wrong_type (path, "a whole number", v, err);
      if (json_integer_value (v) < 0 || json_integer_value (v) > USHRT_MAX)
        return fk_error_set (err, EINVAL, "sandbox spec: `%s' %lld is out of range (0 to %d)", path,
                             (long long)json_integer_value (v), USHRT_MAX);
      VAL (unsigned short, spec, f) = (unsigned short)json_integer_value (v);
      return 0;
    case K_BOOL:
      if (!json_is_boolean (v))
        return wrong_type (path, "true or false", v, err);
      VAL (int, spec, f) = json_is_true (v);
      return 0;
    case K_ENUM:
      {
        if (!json_is_string (v))
          return wrong_type (path, "a string", v, err);
        const char *s = json_string_value (v);
        for (size_t i = 0; f->names[i]; i++)
          if (strcmp (s, f->names[i]) == 0)
            {
              VAL (int, spec, f) = (int)i;
              return 0;
            }
        char choices[128] = "";
        for (size_t i = 0; f->names[i]; i++)
          snprintf (choices + strlen (choices), sizeof choices - strlen (choices), "%s%s",
                    i ? ", " : "", f->names[i]);
        /* The value may be long: its first bytes say enough. */
        return fk_error_set (err, EINVAL, "sandbox spec: `%s' is `%.64s': expected one of %s", path,
                             s, choices);
      }
    }
  return fk_error_set (err, EINVAL, "sandbox spec: `%s' has no JSON form", path);
}

/* The JSON field (group NULL: top level) named key, or NULL. */
static const field_t *
find_field (const char *group, const char *key)
{
  for (size_t i = 0; i < N_FIELDS; i++)
    {
      const field_t *f = &fields[i];
      if (strcmp (f->name, key) != 0)
        continue;
      if (group == NULL ? f->group == NULL : f->group && strcmp (f->group, group) == 0)
        return f;
    }
  return NULL;
}

static int
is_group (const char *key)
{
  for (size_t i = 0; i < N_FIELDS; i++)
    if (fields[i].group && strcmp (fields[i].group, key) == 0)
      return 1;
  return 0;
}

/* Every key of obj must be a field (or, at the top, a group holding an object). */
static int
check_keys (const json_t *obj, const char *group, fk_error_t *err)
{
  const char *key;
  json_t *v;
  json_object_foreach ((json_t *)obj, key, v)
  {
    if (group == NULL && is_group (key))
      {
        if (!json_is_object (v))
          return wrong_type (key, "an object", v, err);
        if (check_keys (v, key, err) < 0)
          return -1;
        continue;
      }
    if (find_field (group, key) == NULL)
      return fk_error_set (err, EINVAL, "sandbox spec: unknown field `%s%s%.64s'",
                           group ? group : "", group ? "." : "", key);
  }
  return 0;
}

int
fk_spec_json_decode (const json_t *json, fk_sandbox_spec_t **ret_spec, fk_error_t *err)
{
  if (!json_is_object (json))
    return fk_error_set (err, EINVAL, "sandbox spec: must be an object, not %s", type_name (json));
  if (check_keys (json, NULL, err) < 0)
    return -1;
  fk_sandbox_spec_t *spec = xmalloc (sizeof *spec);
  fk_sandbox_spec_init (spec);
  for (size_t i = 0; i < N_FIELDS; i++)
    {
      const field_t *f = &fields[i];
      const json_t *obj = f->group ? json_object_get (json, f->group) : json;
      const json_t *v = obj ? json_object_get (obj, f->name) : NULL;
      if (v != NULL && decode_field (f, v, spec, err) < 0)
        {
          fk_sandbox_spec_free (spec);
          return -1;
        }
    }
  *ret_spec = spec;
  return 0;
}
