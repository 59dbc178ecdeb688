/* sandbox/spec.c: the spec's value rules, and its JSON text checked by them. */
#include "sandbox/spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "net/rules.h"
#include "sandbox/seccomp.h"
#include "sandbox/speccodec.h"

const char *
fk_sandbox_status_name (fk_sandbox_status_t s)
{
  switch (s)
    {
    case FK_SANDBOX_RUNNING:
      return "running";
    case FK_SANDBOX_PAUSED:
      return "paused";
    case FK_SANDBOX_STOPPED:
      return "stopped";
    case FK_SANDBOX_PAUSED_TO_DISK:
      return "paused-to-disk";
    }
  return "unknown";
}

int
fk_size_parse (const char *s, uint64_t *ret_bytes, fk_error_t *err)
{
  if (s == NULL || !isdigit ((unsigned char)s[0]))
    return fk_error_set (err, EINVAL, "size `%s': expected digits with an optional K, M, G or T",
                         s ? s : "");
  errno = 0;
  char *end;
  unsigned long long v = strtoull (s, &end, 10);
  if (errno == ERANGE)
    return fk_error_set (err, ERANGE, "size `%s' is too large", s);
  unsigned shift = 0;
  const char *suf = end;
  switch (toupper ((unsigned char)*suf))
    {
    case 'K':
      shift = 10;
      break;
    case 'M':
      shift = 20;
      break;
    case 'G':
      shift = 30;
      break;
    case 'T':
      shift = 40;
      break;
    default:
      break;
    }
  if (shift)
    {
      suf++;
      if (*suf == 'i')
        suf++;
    }
  if (toupper ((unsigned char)*suf) == 'B')
    suf++;
  if (*suf != '\0')
    return fk_error_set (err, EINVAL, "size `%s': unknown suffix `%s' (K, M, G or T)", s, end);
  if (shift && v > (UINT64_MAX >> shift))
    return fk_error_set (err, ERANGE, "size `%s' is too large", s);
  *ret_bytes = (uint64_t)v << shift;
  return 0;
}

int
fk_spec_check_kv (const char *entry, const char *what, fk_error_t *err)
{
  const char *eq = strchr (entry, '=');
  if (eq == NULL || eq == entry)
    return fk_error_set (err, EINVAL, "%s entry `%s': expected KEY=VALUE", what, entry);
  return 0;
}

static int
valid_hostname (const char *h)
{
  size_t n = strlen (h);
  if (n == 0 || n > 63 || h[0] == '-')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
      return 0;
  return 1;
}

int
fk_spec_check_values (const fk_sandbox_spec_t *spec, fk_error_t *err)
{
  if (fk_spec_check_sizes (spec, err) < 0)
    return -1;
  for (size_t i = 0; spec->layers && spec->layers[i]; i++)
    if (spec->layers[i][0] != '/')
      return fk_error_set (err, EINVAL, "sandbox spec: layer `%s' is not an absolute path",
                           spec->layers[i]);
  const fk_resources_t *r = &spec->resources;
  if (!(r->vcpus >= 0) || isinf (r->vcpus) || r->vcpus > 1024)
    return fk_error_set (err, EINVAL, "sandbox spec: vcpus %g is out of range (0 to 1024)",
                         r->vcpus);
  if (r->vcpus > 0 && r->vcpus < 0.01)
    return fk_error_set (err, EINVAL, "sandbox spec: vcpus %g is below 0.01", r->vcpus);
  /* Above INT64_MAX a limit means nothing to the kernel, and JSON integers stop there. */
  if (r->memory_bytes > INT64_MAX || r->disk_bytes > INT64_MAX || r->pids > INT64_MAX)
    return fk_error_set (err, EINVAL,
                         "sandbox spec: memory, disk and pids are at most %lld (0: no limit)",
                         (long long)INT64_MAX);
  if (r->memory_bytes && r->memory_bytes < (4u << 20))
    return fk_error_set (err, EINVAL, "sandbox spec: memory %llu bytes is below 4 MiB",
                         (unsigned long long)r->memory_bytes);
  if (r->disk_bytes && r->disk_bytes < (1u << 20))
    return fk_error_set (err, EINVAL, "sandbox spec: disk %llu bytes is below 1 MiB",
                         (unsigned long long)r->disk_bytes);
  if (r->pids && r->pids < 2)
    return fk_error_set (err, EINVAL,
                         "sandbox spec: pids %llu is below 2 (the agent and one "
                         "command)",
                         (unsigned long long)r->pids);
  for (size_t i = 0; spec->env && spec->env[i]; i++)
    if (fk_spec_check_kv (spec->env[i], "env", err) < 0)
      return -1;
  for (size_t i = 0; spec->metadata && spec->metadata[i]; i++)
    if (fk_spec_check_kv (spec->metadata[i], "metadata", err) < 0)
      return -1;
  if (spec->hostname && !valid_hostname (spec->hostname))
    return fk_error_set (err, EINVAL,
                         "sandbox spec: hostname `%s' is not a host name (letters, digits, '-', "
                         "'.', at most 63)",
                         spec->hostname);
  if (spec->workdir && spec->workdir[0] != '/')
    return fk_error_set (err, EINVAL, "sandbox spec: workdir `%s' is not absolute", spec->workdir);
  if (spec->timeout_sec > 366ULL * 24 * 3600)
    return fk_error_set (err, EINVAL, "sandbox spec: timeout %llu s is over a year",
                         (unsigned long long)spec->timeout_sec);
  const fk_data_plane_spec_t *dp = &spec->data_plane;
  if ((unsigned)dp->kind > FK_DATA_PLANE_EGRESS)
    return fk_error_set (err, EINVAL, "sandbox spec: data plane %d is not none or egress",
                         (int)dp->kind);
  if (dp->kind != FK_DATA_PLANE_EGRESS
      && ((dp->allow_out && dp->allow_out[0]) || (dp->deny_out && dp->deny_out[0])
          || dp->egress_bytes_per_sec || dp->max_connections))
    return fk_error_set (err, EINVAL,
                         "sandbox spec: egress rules and limits need the data plane egress");
  if (fk_net_rules_check (dp->allow_out, dp->deny_out, err) < 0)
    return fk_error_wrap (err, "sandbox spec");
  if (spec->init && spec->init[0] == NULL)
    return fk_error_set (err, EINVAL, "sandbox spec: init is an empty command");
  if ((unsigned)spec->timeout_action > FK_TIMEOUT_PAUSE)
    return fk_error_set (err, EINVAL, "sandbox spec: timeout action %d is not delete or pause",
                         (int)spec->timeout_action);
  if ((unsigned)spec->init_stdio > FK_INIT_STDIO_TTY)
    return fk_error_set (err, EINVAL, "sandbox spec: init stdio %d is not null, pipes or tty",
                         (int)spec->init_stdio);
  return fk_seccomp_check_names (&spec->seccomp, err);
}

int
fk_spec_validate (const fk_sandbox_spec_t *spec, fk_error_t *err)
{
  if (spec->template_id == NULL && (spec->layers == NULL || spec->layers[0] == NULL))
    return fk_error_set (err, EINVAL, "sandbox spec: a template or at least one layer is needed");
  if (fk_spec_check_values (spec, err) < 0)
    return -1;
  return fk_seccomp_validate (&spec->seccomp, err);
}

int
fk_sandbox_spec_from_json (const char *text, size_t len, fk_sandbox_spec_t **ret_spec,
                           fk_error_t *err)
{
  if (len > FK_SANDBOX_SPEC_JSON_MAX)
    return fk_error_set (err, EFBIG, "sandbox spec: %zu bytes of JSON, more than %u", len,
                         FK_SANDBOX_SPEC_JSON_MAX);
  cleanup_json json_t *j = NULL;
  if (fk_json_parse (text, len, &j, err) < 0)
    return fk_error_wrap (err, "sandbox spec");
  fk_sandbox_spec_t *spec = NULL;
  if (fk_spec_json_decode (j, &spec, err) < 0)
    return -1;
  if (fk_spec_check_values (spec, err) < 0)
    {
      fk_sandbox_spec_free (spec);
      return -1;
    }
  *ret_spec = spec;
  return 0;
}
