/* cli/spec_opts.c: sandbox options for create and run. */
#include "cli/spec_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/spec.h" /* fk_size_parse */

enum
{
  O_MEMORY = 1000,
  O_CPUS,
  O_PIDS,
  O_DISK,
  O_ENV,
  O_TIMEOUT,
  O_ROOTFS,
  O_METADATA,
  O_HOSTNAME,
  O_WORKDIR,
  O_USER,
  O_SECCOMP,
  O_SECCOMP_DENY,
  O_SECCOMP_ALLOW,
  O_AGENT,
  O_SPEC,
  O_NETWORK,
  O_ALLOW_OUT,
  O_DENY_OUT,
  O_EGRESS_RATE,
  O_MAX_CONNECTIONS,
};

const struct option fk_cli_spec_options[] = {
  { "memory", required_argument, NULL, O_MEMORY },
  { "cpus", required_argument, NULL, O_CPUS },
  { "pids", required_argument, NULL, O_PIDS },
  { "disk", required_argument, NULL, O_DISK },
  { "env", required_argument, NULL, O_ENV },
  { "timeout", required_argument, NULL, O_TIMEOUT },
  { "rootfs", required_argument, NULL, O_ROOTFS },
  { "metadata", required_argument, NULL, O_METADATA },
  { "hostname", required_argument, NULL, O_HOSTNAME },
  { "workdir", required_argument, NULL, O_WORKDIR },
  { "user", required_argument, NULL, O_USER },
  { "seccomp", required_argument, NULL, O_SECCOMP },
  { "seccomp-deny", required_argument, NULL, O_SECCOMP_DENY },
  { "seccomp-allow", required_argument, NULL, O_SECCOMP_ALLOW },
  { "agent", required_argument, NULL, O_AGENT },
  { "spec", required_argument, NULL, O_SPEC },
  { "network", required_argument, NULL, O_NETWORK },
  { "allow-out", required_argument, NULL, O_ALLOW_OUT },
  { "deny-out", required_argument, NULL, O_DENY_OUT },
  { "egress-rate", required_argument, NULL, O_EGRESS_RATE },
  { "max-connections", required_argument, NULL, O_MAX_CONNECTIONS },
  { NULL, 0, NULL, 0 },
};

const char fk_cli_spec_usage[]
    = "  --memory SIZE        memory limit, /tmp and the disk included (default 2G; max: none)\n"
      "  --cpus N             CPU quota in CPUs, 0.5 or 4 (default 2; max: none)\n"
      "  --pids N             most processes and threads at once (default 1024; max: none)\n"
      "  --disk SIZE          writable layer size (default 1G); past it writes get ENOSPC\n"
      "  --env K=V            environment (repeatable)\n"
      "  --timeout S          delete the sandbox S seconds after creation\n"
      "  --rootfs DIR         a lower layer directory instead of a template (repeatable, bottom "
      "first)\n"
      "  --metadata K=V       a label kept in the state (repeatable)\n"
      "  --hostname NAME      host name (default fk-<id>)\n"
      "  --workdir DIR        default cwd of commands\n"
      "  --user SPEC          default user of commands\n"
      "  --seccomp MODE       default (the deny list), or unconfined: no seccomp filter\n"
      "  --seccomp-deny NAME  also deny syscall NAME (repeatable)\n"
      "  --seccomp-allow NAME allow syscall NAME, whatever its arguments (repeatable)\n"
      "  --network PLANE      none (default: loopback only) or egress (its own addresses, NAT,\n"
      "                       rules; docs/network.md)\n"
      "  --allow-out RULE     egress: allow an address, CIDR block or domain name "
      "(*.example.com);\n"
      "                       allow beats deny (repeatable)\n"
      "  --deny-out RULE      egress: deny an address or CIDR block; 0.0.0.0/0 denies all\n"
      "                       (repeatable)\n"
      "  --egress-rate SIZE   egress: most bytes a second the sandbox sends (10M; default: none)\n"
      "  --max-connections N  egress: most connections open at once (default: none)\n"
      "  --agent PATH         the fk-agent binary (default: $FIRKIN_AGENT, or next to fk)\n"
      "  --spec FILE          a sandbox spec as JSON (docs/sandbox.md; - for stdin); the other\n"
      "                       options override it, or add to its lists\n";

void
fk_cli_spec_init (fk_cli_spec_t *s)
{
  memset (s, 0, sizeof *s);
  fk_sandbox_spec_init (&s->spec);
}

void
fk_cli_spec_free (fk_cli_spec_t *s)
{
  fk_sandbox_spec_free (s->file);
  free (s->env);
  for (size_t i = 0; i < s->n_layers; i++)
    free (s->layers[i]);
  free (s->layers);
  free (s->metadata);
  free (s->deny);
  free (s->allow);
  free (s->allow_out);
  free (s->deny_out);
}

static void
push (char ***v, size_t *n, const char *arg)
{
  *v = xrealloc (*v, (*n + 2) * sizeof (char *));
  (*v)[(*n)++] = (char *)arg;
  (*v)[*n] = NULL;
}

/* "max" (or "unlimited") lifts a limit; the spec says so with 0, which is accepted too. */
static int
no_limit (const char *arg)
{
  return strcmp (arg, "max") == 0 || strcmp (arg, "unlimited") == 0;
}

static int
size_opt (const char *name, const char *arg, uint64_t *ret)
{
  fk_error_t err = FK_ERROR_INIT;
  if (fk_size_parse (arg, ret, &err) < 0)
    {
      fprintf (stderr, "fk: --%s: %s\n", name, fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  return 0;
}

static int
number_opt (const char *name, const char *arg, unsigned long long *ret)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull (arg, &end, 10);
  if (arg[0] < '0' || arg[0] > '9' || *end || errno)
    {
      fprintf (stderr, "fk: --%s: `%s' is not a whole number\n", name, arg);
      return -1;
    }
  *ret = v;
  return 0;
}

int
fk_cli_spec_option (fk_cli_spec_t *s, int c, const char *arg)
{
  unsigned long long n;
  switch (c)
    {
    case O_MEMORY:
      if (no_limit (arg))
        {
          s->spec.resources.memory_bytes = 0;
          return 1;
        }
      return size_opt ("memory", arg, &s->spec.resources.memory_bytes) < 0 ? -1 : 1;
    case O_DISK:
      return size_opt ("disk", arg, &s->spec.resources.disk_bytes) < 0 ? -1 : 1;
    case O_CPUS:
      {
        if (no_limit (arg))
          {
            s->spec.resources.vcpus = 0;
            return 1;
          }
        char *end;
        double v = strtod (arg, &end);
        if (*arg == '\0' || *end || !(v >= 0) || isinf (v))
          {
            fprintf (stderr, "fk: --cpus: `%s' is not a number of CPUs (or max)\n", arg);
            return -1;
          }
        s->spec.resources.vcpus = v;
        return 1;
      }
    case O_PIDS:
      if (no_limit (arg))
        {
          s->spec.resources.pids = 0;
          return 1;
        }
      if (number_opt ("pids", arg, &n) < 0)
        return -1;
      s->spec.resources.pids = n;
      return 1;
    case O_TIMEOUT:
      if (number_opt ("timeout", arg, &n) < 0)
        return -1;
      s->spec.timeout_sec = n;
      return 1;
    case O_ENV:
      push (&s->env, &s->n_env, arg);
      return 1;
    case O_ROOTFS:
      {
        /* The spec wants absolute layer paths; the user may type relative ones. */
        char *abs = realpath (arg, NULL);
        push (&s->layers, &s->n_layers, abs ? abs : xstrdup (arg));
        return 1;
      }
    case O_METADATA:
      push (&s->metadata, &s->n_metadata, arg);
      return 1;
    case O_HOSTNAME:
      s->spec.hostname = arg;
      return 1;
    case O_WORKDIR:
      s->spec.workdir = arg;
      return 1;
    case O_USER:
      s->spec.user = arg;
      return 1;
    case O_SECCOMP:
      if (strcmp (arg, "unconfined") != 0 && strcmp (arg, "default") != 0)
        {
          fprintf (stderr, "fk: --seccomp: `%s': expected default or unconfined\n", arg);
          return -1;
        }
      s->spec.seccomp.unconfined = strcmp (arg, "unconfined") == 0;
      return 1;
    case O_SECCOMP_DENY:
      push (&s->deny, &s->n_deny, arg);
      return 1;
    case O_SECCOMP_ALLOW:
      push (&s->allow, &s->n_allow, arg);
      return 1;
    case O_AGENT:
      s->agent_path = arg;
      return 1;
    case O_NETWORK:
      if (strcmp (arg, "none") == 0)
        s->spec.data_plane.kind = FK_DATA_PLANE_NONE;
      else if (strcmp (arg, "egress") == 0)
        s->spec.data_plane.kind = FK_DATA_PLANE_EGRESS;
      else
        {
          fprintf (stderr, "fk: --network: `%s': expected none or egress\n", arg);
          return -1;
        }
      return 1;
    case O_ALLOW_OUT:
      push (&s->allow_out, &s->n_allow_out, arg);
      return 1;
    case O_DENY_OUT:
      push (&s->deny_out, &s->n_deny_out, arg);
      return 1;
    case O_EGRESS_RATE:
      return size_opt ("egress-rate", arg, &s->spec.data_plane.egress_bytes_per_sec) < 0 ? -1 : 1;
    case O_MAX_CONNECTIONS:
      if (number_opt ("max-connections", arg, &n) < 0)
        return -1;
      s->spec.data_plane.max_connections = n;
      return 1;
    default:
      return 0;
    }
}

void
fk_cli_spec_finish (fk_cli_spec_t *s, const char *template_id)
{
  s->spec.env = (const char *const *)s->env;
  s->spec.metadata = (const char *const *)s->metadata;
  s->spec.seccomp.deny = (const char *const *)s->deny;
  s->spec.seccomp.allow = (const char *const *)s->allow;
  s->spec.data_plane.allow_out = (const char *const *)s->allow_out;
  s->spec.data_plane.deny_out = (const char *const *)s->deny_out;
  if (s->n_layers)
    s->spec.layers = (const char *const *)s->layers;
  else if (template_id != NULL || s->spec.template_id == NULL)
    s->spec.template_id = template_id ? template_id : "base";
}

/* --spec FILE: the file's spec becomes the base the other options change. */
static int
load_spec_file (fk_cli_spec_t *s, const char *path)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_close int fd
      = strcmp (path, "-") == 0 ? dup (STDIN_FILENO) : open (path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *text = NULL;
  size_t len = 0;
  fk_sandbox_spec_t *spec = NULL;
  if (fd < 0)
    fk_error_set_errno (&err, "open");
  else if (fk_read_all (fd, FK_SANDBOX_SPEC_JSON_MAX, &text, &len, &err) == 0)
    fk_sandbox_spec_from_json (text, len, &spec, &err);
  if (spec == NULL)
    {
      fprintf (stderr, "fk: --spec %s: %s\n", path, fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  s->file = spec;
  s->spec = *spec;
  for (size_t i = 0; spec->env && spec->env[i]; i++)
    push (&s->env, &s->n_env, spec->env[i]);
  for (size_t i = 0; spec->layers && spec->layers[i]; i++)
    push (&s->layers, &s->n_layers, xstrdup (spec->layers[i]));
  for (size_t i = 0; spec->metadata && spec->metadata[i]; i++)
    push (&s->metadata, &s->n_metadata, spec->metadata[i]);
  for (size_t i = 0; spec->seccomp.deny && spec->seccomp.deny[i]; i++)
    push (&s->deny, &s->n_deny, spec->seccomp.deny[i]);
  for (size_t i = 0; spec->seccomp.allow && spec->seccomp.allow[i]; i++)
    push (&s->allow, &s->n_allow, spec->seccomp.allow[i]);
  for (size_t i = 0; spec->data_plane.allow_out && spec->data_plane.allow_out[i]; i++)
    push (&s->allow_out, &s->n_allow_out, spec->data_plane.allow_out[i]);
  for (size_t i = 0; spec->data_plane.deny_out && spec->data_plane.deny_out[i]; i++)
    push (&s->deny_out, &s->n_deny_out, spec->data_plane.deny_out[i]);
  return 0;
}

int
fk_cli_spec_parse (fk_cli_spec_t *s, int argc, char **argv, void (*usage) (FILE *out))
{
  struct option opts[FK_CLI_SPEC_OPTIONS_N + 1];
  memcpy (opts, fk_cli_spec_options, sizeof (struct option) * FK_CLI_SPEC_OPTIONS_N);
  opts[FK_CLI_SPEC_OPTIONS_N - 1] = (struct option){ "help", no_argument, NULL, 'h' };
  opts[FK_CLI_SPEC_OPTIONS_N] = (struct option){ NULL, 0, NULL, 0 };
  /* A first pass for --spec alone (quiet: the second reports bad options). */
  const char *spec_file = NULL;
  int c, saved_opterr = opterr;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1)
    if (c == O_SPEC)
      {
        if (spec_file != NULL)
          {
            opterr = saved_opterr;
            fprintf (stderr, "fk: --spec given twice\n");
            fk_cli_spec_free (s);
            return 2;
          }
        spec_file = optarg;
      }
  opterr = saved_opterr;
  if (spec_file != NULL && load_spec_file (s, spec_file) < 0)
    {
      fk_cli_spec_free (s);
      return 2;
    }
  optind = 0;
  while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1)
    {
      if (c == O_SPEC)
        continue;
      if (c == 'h')
        {
          usage (stdout);
          fk_cli_spec_free (s);
          return 0;
        }
      int r = fk_cli_spec_option (s, c, optarg);
      if (r <= 0)
        {
          if (r == 0)
            usage (stderr);
          fk_cli_spec_free (s);
          return 2;
        }
    }
  return -1;
}
