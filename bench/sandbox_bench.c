/* bench/sandbox_bench.c: sandbox benchmarks, firkin and its peers measured in the same run on the
   same busybox rootfs, samples interleaved so drift hits every peer alike:

     create   create a sandbox, run `true`, delete it: `fk run` vs `crun run` vs `bwrap`
              (same namespaces: user, mount, pid, ipc, uts, net, cgroup), plus firkin's
              library call for reference
     exec     `true` in a running sandbox: `fk exec` vs `crun exec`, plus the client library
     memory   host memory per idle sandbox over N idle sandboxes

   Each writes an artifact in the trace format ({"kind", "samples": [{metric, kind, unit, value,
   tags}], "traces"}) and prints p50/p90/p99 and the ratio to the peer.
   crun refuses this machine's hybrid cgroup layout, so the driver first enters a private mount
   namespace where /sys/fs/cgroup/unified is unmounted; every peer runs in it.

   usage: fk-bench-sandbox [--samples N] [--idle N] [--out DIR] [--rootfs DIR] create|exec|memory|all
   env: FK (the fk binary), FIRKIN_AGENT, FIRKIN_SRC (for scripts/busybox-rootfs.sh) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "firkin/runtime.h"
#include "firkin/sandbox.h"

static const char *fk_bin, *rootfs, *out_dir = "bench-out";
static char *work;
static int n_samples = 50, n_idle = 100;

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* Runs argv with stdio to /dev/null; returns its exit status (-1 when it could not start). */
static int
run_quiet (char *const argv[])
{
  pid_t pid = fork ();
  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDWR);
      dup2 (null, 0);
      dup2 (null, 1);
      if (!getenv ("BENCH_VERBOSE"))
        dup2 (null, 2);
      execvp (argv[0], argv);
      _exit (127);
    }
  int status;
  if (pid < 0 || waitpid (pid, &status, 0) < 0)
    return -1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static double
timed (char *const argv[], int *ret_status)
{
  double t0 = now_ms ();
  *ret_status = run_quiet (argv);
  return now_ms () - t0;
}

/* ---- samples and artifacts ---- */

typedef struct series
{
  const char *peer;
  double *v;
  size_t n;
} series_t;

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
pct (series_t *s, double p)
{
  if (s->n == 0)
    return 0;
  double *c = xmemdup (s->v, s->n * sizeof (double));
  qsort (c, s->n, sizeof (double), cmp_double);
  size_t i = (size_t) (p / 100.0 * (double) (s->n - 1) + 0.5);
  double r = c[i];
  free (c);
  return r;
}

static void
push_sample (json_t *samples, const char *metric, const char *kind, const char *unit,
             double value, const char *peer, size_t i)
{
  char buf[32];
  snprintf (buf, sizeof buf, "%zu", i);
  json_array_append_new (samples, json_pack ("{s:s, s:s, s:s, s:f, s:{s:s, s:s, s:s}}", "metric",
                                             metric, "kind", kind, "unit", unit, "value", value,
                                             "tags", "peer", peer, "sample", buf, "rootfs",
                                             "busybox"));
}

static void
write_artifact (const char *name, const char *kind, json_t *samples)
{
  fk_error_t err = FK_ERROR_INIT;
  if (fk_mkdir_p (out_dir, 0755, &err) < 0)
    {
      fprintf (stderr, "bench: %s\n", fk_error_message (&err));
      exit (1);
    }
  cleanup_json json_t *root = json_pack ("{s:s, s:O, s:[]}", "kind", kind, "samples", samples,
                                         "traces");
  cleanup_free char *path = xasprintf ("%s/%s", out_dir, name);
  if (fk_json_dump_file_atomic_at (AT_FDCWD, path, root, 1, &err) < 0)
    {
      fprintf (stderr, "bench: %s\n", fk_error_message (&err));
      exit (1);
    }
  printf ("artifact: %s (%zu samples)\n", path, json_array_size (samples));
}

static void
report (const char *what, series_t *s, size_t n, const char *peer_name)
{
  printf ("%s (%d samples each)\n", what, n_samples);
  printf ("  %-16s %9s %9s %9s\n", "", "p50 ms", "p90 ms", "p99 ms");
  for (size_t i = 0; i < n; i++)
    if (s[i].n)
      printf ("  %-16s %9.2f %9.2f %9.2f\n", s[i].peer, pct (&s[i], 50), pct (&s[i], 90),
              pct (&s[i], 99));
  for (size_t i = 0; i < n; i++)
    if (strcmp (s[i].peer, peer_name) == 0 && s[i].n && s[0].n)
      printf ("  ratio p50 %s / %s = %.3f\n", s[0].peer, peer_name,
              pct (&s[0], 50) / pct (&s[i], 50));
}

/* ---- setup ---- */

/* crun cannot handle the hybrid layout's empty cgroup2 mount: hide it in a private namespace. */
static void
enter_bench_namespace (void)
{
  if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    {
      perror ("bench: private mount namespace");
      exit (1);
    }
  if (umount2 ("/sys/fs/cgroup/unified", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    perror ("bench: umount /sys/fs/cgroup/unified");
}

static char *
crun_bundle (const char *name, const char *const *args)
{
  char *bundle = xasprintf ("%s/%s", work, name);
  char *argv[] = {"crun", "spec", "-b", bundle, NULL};
  mkdir (bundle, 0755);
  if (run_quiet (argv) != 0)
    {
      fprintf (stderr, "bench: crun spec failed\n");
      exit (1);
    }
  cleanup_free char *cfg = xasprintf ("%s/config.json", bundle);
  fk_error_t err = FK_ERROR_INIT;
  cleanup_json json_t *c = NULL;
  if (fk_json_load_file_at (AT_FDCWD, cfg, 1 << 20, &c, &err) < 0)
    {
      fprintf (stderr, "bench: %s\n", fk_error_message (&err));
      exit (1);
    }
  json_object_set_new (c, "root", json_pack ("{s:s, s:b}", "path", rootfs, "readonly", 1));
  json_t *proc = json_object_get (c, "process");
  json_object_set_new (proc, "terminal", json_false ());
  json_t *a = json_array ();
  for (size_t i = 0; args[i]; i++)
    json_array_append_new (a, json_string (args[i]));
  json_object_set_new (proc, "args", a);
  /* The same namespaces as a firkin sandbox: add the user namespace and firkin's mapping. */
  json_t *lnx = json_object_get (c, "linux");
  json_array_append_new (json_object_get (lnx, "namespaces"), json_pack ("{s:s}", "type", "user"));
  json_object_set_new (lnx, "uidMappings",
                       json_pack ("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", 1000000000,
                                  "size", 65536));
  json_object_set_new (lnx, "gidMappings",
                       json_pack ("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", 1000000000,
                                  "size", 65536));
  if (fk_json_dump_file_atomic_at (AT_FDCWD, cfg, c, 1, &err) < 0)
    {
      fprintf (stderr, "bench: %s\n", fk_error_message (&err));
      exit (1);
    }
  return bundle;
}

/* ---- create + true + delete ---- */

static void
bench_create (void)
{
  static const char *const true_args[] = {"true", NULL};
  cleanup_free char *bundle = crun_bundle ("crun-true", true_args);
  series_t s[] = {
    {"firkin-cli", xcalloc (n_samples, sizeof (double)), 0},
    {"firkin-lib", xcalloc (n_samples, sizeof (double)), 0},
    {"crun", xcalloc (n_samples, sizeof (double)), 0},
    {"bwrap", xcalloc (n_samples, sizeof (double)), 0},
  };
  char *fk_argv[] = {(char *) fk_bin, "run", "--rootfs", (char *) rootfs, "--", "true", NULL};
  char *crun_argv[] = {"crun", "run", "-b", bundle, "fk-bench-true", NULL};
  char *bwrap_argv[] = {"bwrap", "--unshare-all", "--uid", "0", "--gid", "0", "--ro-bind",
                        (char *) rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs",
                        "/tmp", "--die-with-parent", "true", NULL};
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt;
  if (fk_runtime_open (NULL, &rt, &err) < 0)
    {
      fprintf (stderr, "bench: %s\n", fk_error_message (&err));
      exit (1);
    }
  const char *layers[] = {rootfs, NULL};
  const char *init[] = {"true", NULL};
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  spec.init = init;
  for (int i = -2; i < n_samples; i++) /* two warm-up rounds */
    {
      int st;
      double t = timed (fk_argv, &st);
      if (st != 0)
        fprintf (stderr, "bench: fk run exited %d\n", st);
      else if (i >= 0)
        s[0].v[s[0].n++] = t;

      double t0 = now_ms ();
      fk_sandbox_t *sb;
      int status;
      if (fk_sandbox_create (rt, &spec, &sb, &err) < 0 || fk_sandbox_wait (sb, &status, &err) < 0
          || fk_sandbox_delete (sb, 1, &err) < 0)
        {
          fprintf (stderr, "bench: library: %s\n", fk_error_message (&err));
          fk_error_clear (&err);
        }
      else if (i >= 0)
        s[1].v[s[1].n++] = now_ms () - t0;
      fk_sandbox_free (sb);

      t = timed (crun_argv, &st);
      if (st != 0)
        fprintf (stderr, "bench: crun run exited %d\n", st);
      else if (i >= 0)
        s[2].v[s[2].n++] = t;
      t = timed (bwrap_argv, &st);
      if (st != 0)
        fprintf (stderr, "bench: bwrap exited %d\n", st);
      else if (i >= 0)
        s[3].v[s[3].n++] = t;
    }
  fk_runtime_close (rt);
  cleanup_json json_t *samples = json_array ();
  for (size_t k = 0; k < 4; k++)
    for (size_t i = 0; i < s[k].n; i++)
      push_sample (samples, "sandbox_create_true_delete_ms", "LifecycleLatency", "Milliseconds",
                   s[k].v[i], s[k].peer, i);
  report ("create + true + delete", s, 4, "crun");
  printf ("  ratio p50 firkin-cli / bwrap = %.3f\n", pct (&s[0], 50) / pct (&s[3], 50));
  write_artifact ("sandbox-create.json", "sandbox_create_true_delete", samples);
  for (size_t k = 0; k < 4; k++)
    free (s[k].v);
}

/* ---- exec true in a running sandbox ---- */

static void
bench_exec (void)
{
  static const char *const sleep_args[] = {"sleep", "100000", NULL};
  cleanup_free char *bundle = crun_bundle ("crun-idle", sleep_args);
  char *crun_run[] = {"crun", "run", "-d", "-b", bundle, "fk-bench-idle", NULL};
  char *crun_kill[] = {"crun", "delete", "-f", "fk-bench-idle", NULL};
  run_quiet (crun_kill);
  if (run_quiet (crun_run) != 0)
    {
      fprintf (stderr, "bench: crun run -d failed\n");
      exit (1);
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt;
  fk_sandbox_t *sb;
  fk_client_t *client;
  const char *layers[] = {rootfs, NULL};
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  if (fk_runtime_open (NULL, &rt, &err) < 0 || fk_sandbox_create (rt, &spec, &sb, &err) < 0
      || fk_client_connect (fk_sandbox_socket_path (sb), &client, &err) < 0)
    {
      fprintf (stderr, "bench: %s\n", fk_error_message (&err));
      exit (1);
    }
  series_t s[] = {
    {"firkin-cli", xcalloc (n_samples, sizeof (double)), 0},
    {"firkin-lib", xcalloc (n_samples, sizeof (double)), 0},
    {"crun", xcalloc (n_samples, sizeof (double)), 0},
  };
  char *fk_argv[] = {(char *) fk_bin, "exec", (char *) fk_sandbox_id (sb), "--", "true", NULL};
  char *crun_argv[] = {"crun", "exec", "fk-bench-idle", "true", NULL};
  char *const true_argv[] = {"true", NULL};
  fk_exec_opts_t eo = {.argv = true_argv};
  for (int i = -2; i < n_samples; i++)
    {
      int st;
      double t = timed (fk_argv, &st);
      if (st == 0 && i >= 0)
        s[0].v[s[0].n++] = t;
      double t0 = now_ms ();
      fk_exec_result_t r;
      if (fk_client_exec (client, &eo, 4096, &r, &err) == 0)
        {
          if (i >= 0 && r.status.exit_code == 0)
            s[1].v[s[1].n++] = now_ms () - t0;
          fk_exec_result_free (&r);
        }
      else
        fk_error_clear (&err);
      t = timed (crun_argv, &st);
      if (st == 0 && i >= 0)
        s[2].v[s[2].n++] = t;
    }
  fk_client_close (client);
  fk_sandbox_delete (sb, 1, &err);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  run_quiet (crun_kill);
  cleanup_json json_t *samples = json_array ();
  for (size_t k = 0; k < 3; k++)
    for (size_t i = 0; i < s[k].n; i++)
      push_sample (samples, "sandbox_exec_true_ms", "LifecycleLatency", "Milliseconds", s[k].v[i],
                   s[k].peer, i);
  report ("exec true in a running sandbox", s, 3, "crun");
  printf ("  ratio p50 firkin-lib / crun = %.3f\n", pct (&s[1], 50) / pct (&s[2], 50));
  write_artifact ("sandbox-exec.json", "sandbox_exec_true", samples);
  for (size_t k = 0; k < 3; k++)
    free (s[k].v);
}

/* ---- memory per idle sandbox ---- */

static long long
meminfo (const char *key)
{
  cleanup_file FILE *f = fopen ("/proc/meminfo", "r");
  char line[256];
  size_t kl = strlen (key);
  while (f && fgets (line, sizeof line, f))
    if (strncmp (line, key, kl) == 0 && line[kl] == ':')
      return atoll (line + kl + 1);
  return -1;
}

/* Proportional set size of pid in KiB (shared pages split among their users). */
static long long
pss_kib (pid_t pid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/smaps_rollup", (int) pid);
  cleanup_file FILE *f = fopen (path, "r");
  char line[256];
  while (f && fgets (line, sizeof line, f))
    if (strncmp (line, "Pss:", 4) == 0)
      return atoll (line + 4);
  return 0;
}

static void
bench_memory (void)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt;
  if (fk_runtime_open (NULL, &rt, &err) < 0)
    {
      fprintf (stderr, "bench: %s\n", fk_error_message (&err));
      exit (1);
    }
  const char *layers[] = {rootfs, NULL};
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  fk_sandbox_t **sbs = xcalloc ((size_t) n_idle, sizeof *sbs);
  sync ();
  long long avail0 = meminfo ("MemAvailable");
  double t0 = now_ms ();
  int made = 0;
  for (; made < n_idle; made++)
    if (fk_sandbox_create (rt, &spec, &sbs[made], &err) < 0)
      {
        fprintf (stderr, "bench: sandbox %d: %s\n", made, fk_error_message (&err));
        fk_error_clear (&err);
        break;
      }
  double t_create = now_ms () - t0;
  /* Every agent answers once, so each is past its start-up. */
  for (int i = 0; i < made; i++)
    {
      fk_client_t *c;
      if (fk_client_connect (fk_sandbox_socket_path (sbs[i]), &c, &err) == 0)
        fk_client_close (c);
      fk_error_clear (&err);
    }
  long long avail1 = meminfo ("MemAvailable");
  long long pss = 0, cg = 0;
  cleanup_json json_t *samples = json_array ();
  for (int i = 0; i < made; i++)
    {
      fk_sandbox_info_t *info;
      if (fk_sandbox_inspect (sbs[i], &info, &err) < 0)
        {
          fk_error_clear (&err);
          continue;
        }
      /* PID 1 and the timeout watchdog if any: every process of the sandbox's cgroup. */
      cleanup_free char *procs_path
          = xasprintf ("/sys/fs/cgroup/freezer/%s/cgroup.procs", info->cgroup);
      cleanup_file FILE *f = fopen (procs_path, "r");
      long long one = 0;
      int pid;
      while (f && fscanf (f, "%d", &pid) == 1)
        one += pss_kib (pid);
      if (f == NULL)
        one = pss_kib (info->pid);
      pss += one;
      cleanup_free char *usage_path
          = xasprintf ("/sys/fs/cgroup/memory/%s/memory.usage_in_bytes", info->cgroup);
      cleanup_file FILE *u = fopen (usage_path, "r");
      long long bytes = 0;
      if (u && fscanf (u, "%lld", &bytes) == 1)
        cg += bytes;
      push_sample (samples, "sandbox_idle_pss_kib", "WorkloadResource", "Count", (double) one,
                   "firkin", (size_t) i);
      fk_sandbox_info_free (info);
    }
  double per_avail = made ? (double) (avail0 - avail1) / made / 1024.0 : 0;
  double per_pss = made ? (double) pss / made / 1024.0 : 0;
  double per_cg = made ? (double) cg / made / 1048576.0 : 0;
  char made_s[16];
  snprintf (made_s, sizeof made_s, "%d", made);
  json_array_append_new (samples, json_pack ("{s:s, s:s, s:s, s:f, s:{s:s, s:s}}", "metric",
                                             "sandbox_idle_host_memory_per_sandbox_mib", "kind",
                                             "WorkloadResource", "unit", "Mebibytes", "value",
                                             per_avail, "tags", "peer", "firkin", "sandboxes",
                                             made_s));
  printf ("memory of %d idle sandboxes (created in %.0f ms, %.2f ms each)\n", made, t_create,
          made ? t_create / made : 0);
  printf ("  host MemAvailable drop per sandbox: %.2f MiB\n", per_avail);
  printf ("  PSS of the sandbox processes per sandbox: %.2f MiB\n", per_pss);
  printf ("  memory cgroup usage per sandbox (incl. kernel and tmpfs): %.2f MiB\n", per_cg);
  t0 = now_ms ();
  for (int i = 0; i < made; i++)
    {
      if (fk_sandbox_delete (sbs[i], 1, &err) < 0)
        {
          fprintf (stderr, "bench: delete: %s\n", fk_error_message (&err));
          fk_error_clear (&err);
        }
      fk_sandbox_free (sbs[i]);
    }
  printf ("  deleted in %.0f ms\n", now_ms () - t0);
  free (sbs);
  fk_runtime_close (rt);
  write_artifact ("sandbox-memory.json", "sandbox_idle_memory", samples);
}

static void
remove_work (void)
{
  if (work == NULL)
    return;
  fk_error_t err = FK_ERROR_INIT;
  fk_rm_rf_at (AT_FDCWD, work, &err);
  fk_error_clear (&err);
  free (work);
  work = NULL;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    {"samples", required_argument, NULL, 'n'}, {"idle", required_argument, NULL, 'i'},
    {"out", required_argument, NULL, 'o'},     {"rootfs", required_argument, NULL, 'r'},
    {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long (argc, argv, "n:i:o:r:", opts, NULL)) != -1)
    switch (c)
      {
      case 'n':
        n_samples = atoi (optarg);
        break;
      case 'i':
        n_idle = atoi (optarg);
        break;
      case 'o':
        out_dir = optarg;
        break;
      case 'r':
        rootfs = optarg;
        break;
      default:
        fprintf (stderr, "usage: fk-bench-sandbox [--samples N] [--idle N] [--out DIR] "
                         "[--rootfs DIR] create|exec|memory|all\n");
        return 2;
      }
  const char *what = optind < argc ? argv[optind] : "all";
  if (n_samples < 1 || n_idle < 1)
    {
      fprintf (stderr, "bench: --samples and --idle must be positive\n");
      return 2;
    }
  fk_bin = getenv ("FK");
  if (fk_bin == NULL || getenv ("FIRKIN_AGENT") == NULL)
    {
      fprintf (stderr, "bench: set FK and FIRKIN_AGENT (the fk and fk-agent binaries)\n");
      return 2;
    }
  char tmpl[] = "/tmp/fk-bench.XXXXXX";
  work = xstrdup (mkdtemp (tmpl));
  /* crun's container root (uid 1000000000 on the host) walks to the rootfs through here. */
  chmod (work, 0755);
  atexit (remove_work); /* also when a step fails and exits */
  cleanup_free char *state = xasprintf ("%s/state", work);
  setenv ("FIRKIN_STATE_DIR", state, 1);
  if (rootfs == NULL)
    {
      const char *src = getenv ("FIRKIN_SRC");
      cleanup_free char *script
          = xasprintf ("%s/scripts/busybox-rootfs.sh", src ? src : ".");
      char *dir = xasprintf ("%s/rootfs", work);
      char *sargv[] = {script, dir, NULL};
      if (run_quiet (sargv) != 0)
        {
          fprintf (stderr, "bench: %s failed\n", script);
          return 1;
        }
      rootfs = dir;
    }
  enter_bench_namespace ();
  if (strcmp (what, "create") == 0 || strcmp (what, "all") == 0)
    bench_create ();
  if (strcmp (what, "exec") == 0 || strcmp (what, "all") == 0)
    bench_exec ();
  if (strcmp (what, "memory") == 0 || strcmp (what, "all") == 0)
    bench_memory ();
  return 0;
}
