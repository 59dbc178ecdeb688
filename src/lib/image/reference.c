/* image/reference.c: see reference.h. The grammar is Docker's distribution/reference. */
#include "image/reference.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/xalloc.h"

#define DEFAULT_REGISTRY "docker.io"
#define MAX_NAME_LEN 255
#define MAX_TAG_LEN 128

void
fk_reference_free (fk_reference_t *ref)
{
  if (ref == NULL)
    return;
  free (ref->registry);
  free (ref->repository);
  free (ref->tag);
  free (ref->digest);
  free (ref->path);
  free (ref->name);
  free (ref);
}

static int
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static int
check_component (const char *s, size_t len, const char **why)
{
  if (len == 0)
    {
      *why = "has an empty path component";
      return -1;
    }
  size_t i = 0;
  while (i < len)
    {
      if (!is_lower_alnum (s[i]))
        {
          if (isupper ((unsigned char)s[i]))
            *why = "must be lower-case";
          else if (s[i] == '.' || s[i] == '_' || s[i] == '-')
            *why = "has a separator (., _, -) that does not sit between letters or digits";
          else
            *why = "has a character outside [a-z0-9._-]";
          return -1;
        }
      while (i < len && is_lower_alnum (s[i]))
        i++;
      if (i == len)
        break;
      size_t sep = i;
      if (s[i] == '.')
        i++;
      else if (s[i] == '_')
        i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
      else if (s[i] == '-')
        while (i < len && s[i] == '-')
          i++;
      if (i == sep)
        {
          *why = isupper ((unsigned char)s[i]) ? "must be lower-case"
                                               : "has a character outside [a-z0-9._-]";
          return -1;
        }
      if (i == len || !is_lower_alnum (s[i]))
        {
          *why = "has a separator (., _, -) that does not sit between letters or digits";
          return -1;
        }
    }
  return 0;
}

/* host[:port], host = label(.label)*, label = [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?, or [ipv6]. */
static int
check_registry (const char *s, const char **why)
{
  const char *port = NULL;
  if (s[0] == '[')
    {
      const char *end = strchr (s, ']');
      if (end == NULL || end == s + 1)
        {
          *why = "has an unterminated or empty [IPv6] address";
          return -1;
        }
      for (const char *p = s + 1; p < end; p++)
        if (!isxdigit ((unsigned char)*p) && *p != ':' && *p != '.')
          {
            *why = "has a bad character in its [IPv6] address";
            return -1;
          }
      if (end[1] != '\0' && end[1] != ':')
        {
          *why = "has text after its [IPv6] address";
          return -1;
        }
      port = end[1] == ':' ? end + 1 : NULL;
    }
  else
    {
      const char *p = s;
      for (;;)
        {
          const char *start = p;
          while (isalnum ((unsigned char)*p) || *p == '-')
            p++;
          if (p == start || start[0] == '-' || p[-1] == '-')
            {
              *why = "has an empty host label or one that starts or ends with `-'";
              return -1;
            }
          if (*p == '.')
            {
              p++;
              continue;
            }
          break;
        }
      if (*p != '\0' && *p != ':')
        {
          *why = "has a character outside [A-Za-z0-9.-] in its host name";
          return -1;
        }
      port = *p == ':' ? p : NULL;
    }
  if (port != NULL)
    {
      const char *d = port + 1;
      if (*d == '\0' || strlen (d) > 5)
        {
          *why = "has an empty or too long port";
          return -1;
        }
      for (; *d; d++)
        if (!isdigit ((unsigned char)*d))
          {
            *why = "has a port that is not a number";
            return -1;
          }
      if (atoi (port + 1) == 0 || atoi (port + 1) > 65535)
        {
          *why = "has a port outside 1-65535";
          return -1;
        }
    }
  return 0;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static int
check_tag (const char *s, const char **why)
{
  size_t len = strlen (s);
  if (len == 0)
    {
      *why = "is empty";
      return -1;
    }
  if (len > MAX_TAG_LEN)
    {
      *why = "is longer than 128 characters";
      return -1;
    }
  if (s[0] == '.' || s[0] == '-')
    {
      *why = "must start with a letter, digit or `_'";
      return -1;
    }
  for (size_t i = 0; i < len; i++)
    if (!isalnum ((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      {
        *why = "has a character outside [A-Za-z0-9_.-]";
        return -1;
      }
  return 0;
}

static int
parse_archive (const char *s, fk_ref_kind_t kind, const char *prefix, fk_reference_t *ref,
               fk_error_t *err)
{
  const char *rest = s + strlen (prefix);
  const char *colon = kind == FK_REF_DOCKER_ARCHIVE ? NULL : strchr (rest, ':');
  size_t plen = colon ? (size_t)(colon - rest) : strlen (rest);
  if (plen == 0)
    return fk_error_set (err, EINVAL, "invalid reference `%s': the path after `%s' is empty", s,
                         prefix);
  ref->kind = kind;
  ref->path = xstrndup (rest, plen);
  if (colon != NULL)
    {
      const char *name = colon + 1;
      if (*name == '\0')
        return fk_error_set (err, EINVAL, "invalid reference `%s': the tag after the path is empty",
                             s);
      for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
          return fk_error_set (err, EINVAL,
                               "invalid reference `%s': the tag has a control character", s);
      ref->name = xstrdup (name);
    }
  return 0;
}

int
fk_reference_parse (const char *s, fk_reference_t **ret, fk_error_t *err)
{
  cleanup_reference fk_reference_t *ref = xcalloc (1, sizeof *ref);
  cleanup_free char *name = NULL;
  const char *why = NULL;

  if (s == NULL || s[0] == '\0')
    return fk_error_set (err, EINVAL, "invalid reference: it is empty");
  if (strncmp (s, "oci:", 4) == 0)
    {
      if (parse_archive (s, FK_REF_OCI_DIR, "oci:", ref, err) < 0)
        return -1;
      goto done;
    }
  if (strncmp (s, "oci-archive:", 12) == 0)
    {
      if (parse_archive (s, FK_REF_OCI_ARCHIVE, "oci-archive:", ref, err) < 0)
        return -1;
      goto done;
    }
  if (strncmp (s, "docker-archive:", 15) == 0)
    {
      if (parse_archive (s, FK_REF_DOCKER_ARCHIVE, "docker-archive:", ref, err) < 0)
        return -1;
      goto done;
    }
  if (strncmp (s, "docker://", 9) == 0)
    s += 9;

  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f)
      return fk_error_set (err, EINVAL,
                           "invalid reference `%s': it has a space or control character", s);

  const char *at = strchr (s, '@');
  if (at != NULL)
    {
      fk_error_t derr = FK_ERROR_INIT;
      if (fk_digest_validate (at + 1, &derr) < 0)
        {
          fk_error_set (err, EINVAL, "invalid reference `%s': bad digest: %s", s,
                        fk_error_message (&derr));
          fk_error_clear (&derr);
          return -1;
        }
      ref->digest = xstrdup (at + 1);
      name = xstrndup (s, (size_t)(at - s));
    }
  else
    name = xstrdup (s);

  /* The tag follows the last ':' that comes after the last '/' (a registry port comes before). */
  char *slash = strrchr (name, '/');
  char *colon = strrchr (slash ? slash : name, ':');
  if (colon != NULL)
    {
      *colon = '\0';
      if (check_tag (colon + 1, &why) < 0)
        return fk_error_set (err, EINVAL, "invalid reference `%s': tag `%s' %s", s, colon + 1, why);
      ref->tag = xstrdup (colon + 1);
    }
  if (name[0] == '\0')
    return fk_error_set (err, EINVAL, "invalid reference `%s': the repository is empty", s);

  /* Docker's rule: the first component is a registry when it has a '.' or ':', is "localhost",
     or has an upper-case letter; else the name lives on docker.io. */
  const char *repo = name;
  char *first = strchr (name, '/');
  if (first != NULL)
    {
      size_t n = (size_t)(first - name);
      int is_registry = memchr (name, '.', n) || memchr (name, ':', n) || memchr (name, '[', n)
                        || (n == 9 && strncmp (name, "localhost", 9) == 0);
      for (size_t i = 0; i < n && !is_registry; i++)
        is_registry = isupper ((unsigned char)name[i]);
      if (is_registry)
        {
          *first = '\0';
          if (check_registry (name, &why) < 0)
            return fk_error_set (err, EINVAL, "invalid reference `%s': registry `%s' %s", s, name,
                                 why);
          ref->registry = xstrdup (name);
          repo = first + 1;
        }
    }
  else if (strchr (name, ':') != NULL)
    return fk_error_set (err, EINVAL, "invalid reference `%s': repository `%s' has a `:'", s, name);
  if (ref->registry == NULL)
    ref->registry = xstrdup (DEFAULT_REGISTRY);
  else if (strcmp (ref->registry, "index.docker.io") == 0)
    {
      free (ref->registry);
      ref->registry = xstrdup (DEFAULT_REGISTRY);
    }

  if (*repo == '\0')
    return fk_error_set (err, EINVAL, "invalid reference `%s': the repository is empty", s);
  for (const char *c = repo;;)
    {
      const char *e = strchr (c, '/');
      size_t n = e ? (size_t)(e - c) : strlen (c);
      if (check_component (c, n, &why) < 0)
        return fk_error_set (err, EINVAL, "invalid reference `%s': repository `%s' %s", s, repo,
                             why);
      if (e == NULL)
        break;
      c = e + 1;
    }
  if (strcmp (ref->registry, DEFAULT_REGISTRY) == 0 && strchr (repo, '/') == NULL)
    ref->repository = xasprintf ("library/%s", repo);
  else
    ref->repository = xstrdup (repo);
  if (strlen (ref->registry) + 1 + strlen (ref->repository) > MAX_NAME_LEN)
    return fk_error_set (err, EINVAL,
                         "invalid reference `%s': repository name is longer than %d characters", s,
                         MAX_NAME_LEN);
  if (ref->tag == NULL && ref->digest == NULL)
    ref->tag = xstrdup ("latest");
  ref->kind = FK_REF_REGISTRY;

done:
  *ret = steal_pointer (&ref);
  return 0;
}

char *
fk_reference_format (const fk_reference_t *ref)
{
  switch (ref->kind)
    {
    case FK_REF_OCI_DIR:
    case FK_REF_OCI_ARCHIVE:
      return xasprintf ("%s:%s%s%s", ref->kind == FK_REF_OCI_DIR ? "oci" : "oci-archive", ref->path,
                        ref->name ? ":" : "", ref->name ? ref->name : "");
    case FK_REF_DOCKER_ARCHIVE:
      return xasprintf ("docker-archive:%s", ref->path);
    case FK_REF_REGISTRY:
    default:
      return xasprintf ("%s/%s%s%s%s%s", ref->registry, ref->repository, ref->tag ? ":" : "",
                        ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                        ref->digest ? ref->digest : "");
    }
}

const char *
fk_reference_api_host (const fk_reference_t *ref)
{
  if (ref->registry != NULL && strcmp (ref->registry, DEFAULT_REGISTRY) == 0)
    {
      const char *mirror = getenv ("FIRKIN_DOCKER_HUB_MIRROR");
      return mirror && *mirror ? mirror : "registry-1.docker.io";
    }
  return ref->registry;
}

const char *
fk_reference_object (const fk_reference_t *ref)
{
  return ref->digest ? ref->digest : ref->tag;
}
