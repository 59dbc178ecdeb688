/* bench/fkdbench.c: fk bench fkd (bench/fkdbench.h): the library side measured in this process,
   the SDK side by bench/fkd_sdk.mjs against an fkd started here, once with a warm pool (its
   creates) and once without (the rest). */
#include "bench/fkdbench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "bench/compare.h"
#include "bench/spawn.h"
#include "firkin/client.h"
#include "firkin/pool.h"
#include "firkin/sandbox.h"
#include "firkin/template.h"
#include "trace/stats.h"

#define DIRECT "fkd.direct."
#define SDK "fkd.sdk."
#define HTTP "fkd.http."
/* What every create asks, both sides (bench/fkd_sdk.mjs's createOpts). */
#define CREATE_TIMEOUT_S 300
/* Between two timed creates: the pool refills (its refill delay and one create). */
#define CREATE_GAP_MS 150
/* How long fkd may take to listen, and the SDK side to run. */
#define FKD_START_MS 30000
#define MiB (1u << 20)

const fk_fkd_bench_goal_t fk_fkd_bench_goals[] = {
  { SDK "run_true_ms", "commands.run round trip p95", 2.0 },
  { SDK "create_warm_ms", "Sandbox.create() from the warm pool p95", 5.0 },
  { "fkd.fkd_cost.run_true_p50_ms", "fkd's overhead per call (a raw Start beside the library)",
    0.5 },
  { SDK "fkd_rss_100_sandboxes_mib", "fkd's memory with 100 sandboxes (MiB)", 20.0 },
  { NULL, NULL, 0 },
};

static int
push_ms (fk_trace_samples_t *samples, const char *metric, uint64_t ns, size_t i, size_t n,
         fk_error_t *err)
{
  fk_trace_sample_t *s = fk_trace_sample_new (metric, FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                              FK_TRACE_UNIT_MILLISECONDS, (double)ns / 1e6);
  if (fk_trace_sample_set_tag (s, "side", "direct", err) < 0
      || fk_trace_sample_set_tagf (s, err, "repeat_index", "%zu", i) < 0
      || fk_trace_sample_set_tagf (s, err, "repeat_count", "%zu", n) < 0)
    {
      fk_trace_sample_free (s);
      return -1;
    }
  fk_trace_samples_push (samples, s);
  return 0;
}

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static void
spec_of (fk_sandbox_spec_t *spec, const char *template_id)
{
  static const char *const meta[] = { "bench=fkd", NULL };
  static const char *const env[] = { "BENCH=1", NULL };
  fk_sandbox_spec_init (spec);
  spec->template_id = template_id;
  spec->timeout_sec = CREATE_TIMEOUT_S;
  spec->metadata = meta;
  spec->env = env;
}

static void
drop (fk_sandbox_t *sb, fk_client_t *c)
{
  fk_error_t e = FK_ERROR_INIT;
  fk_client_close (c);
  if (sb != NULL && fk_sandbox_delete (sb, 1, &e) < 0)
    fk_error_clear (&e);
  fk_sandbox_free (sb);
}

/* ---- the library side ---- */

static int
direct_creates (fk_runtime_t *rt, const fk_fkd_bench_opts_t *o, fk_trace_samples_t *samples,
                fk_error_t *err)
{
  fk_sandbox_spec_t spec;
  spec_of (&spec, o->template_id);
  fk_sandbox_spec_t pool_spec;
  fk_sandbox_spec_init (&pool_spec);
  pool_spec.template_id = o->template_id;
  pool_spec.timeout_sec = CREATE_TIMEOUT_S;
  fk_warm_pool_opts_t po = FK_WARM_POOL_OPTIONS_INIT;
  po.depth = o->warm_depth;
  po.min_ready = o->warm_depth;
  fk_warm_pool_t *pool = NULL;
  if (fk_warm_pool_open (rt, &pool_spec, &po, &pool, err) < 0)
    return -1;
  int ret = 0;
  for (size_t i = 0; i < o->creates && ret == 0; i++)
    {
      sleep_ms (CREATE_GAP_MS);
      fk_sandbox_t *sb = NULL;
      int pooled = 0;
      uint64_t t0 = fk_now_ns ();
      ret = fk_warm_pool_create (pool, &spec, &sb, NULL, &pooled, err);
      uint64_t t1 = fk_now_ns ();
      if (ret == 0)
        ret = push_ms (samples, DIRECT "create_warm_ms", t1 - t0, i, o->creates, err);
      drop (sb, NULL);
    }
  fk_error_t e2 = FK_ERROR_INIT;
  if (fk_warm_pool_close (pool, ret < 0 ? &e2 : err) < 0 && ret == 0)
    ret = -1;
  fk_error_clear (&e2);
  for (size_t i = 0; i < o->creates && ret == 0; i++)
    {
      sleep_ms (CREATE_GAP_MS);
      fk_sandbox_t *sb = NULL;
      uint64_t t0 = fk_now_ns ();
      ret = fk_template_sandbox_create (rt, &spec, &sb, err);
      uint64_t t1 = fk_now_ns ();
      if (ret == 0)
        ret = push_ms (samples, DIRECT "create_cold_ms", t1 - t0, i, o->creates, err);
      drop (sb, NULL);
    }
  return ret;
}

static int
run_sh (fk_client_t *c, const char *script, const char *want, fk_error_t *err)
{
  char *argv[] = { (char *)"/bin/bash", (char *)"-l", (char *)"-c", (char *)script, NULL };
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_exec_result_t r;
  if (fk_client_exec (c, &eo, 4096, &r, err) < 0)
    return -1;
  int ok
      = r.status.exit_code == 0
        && (want == NULL || (r.out_len == strlen (want) && memcmp (r.out, want, r.out_len) == 0));
  fk_exec_result_free (&r);
  if (!ok)
    return fk_error_set (err, EIO, "`%s' in the sandbox: wrong exit or output", script);
  return 0;
}

typedef struct slot
{
  fk_client_t *c;
  char *script, *want;
  uint64_t start_ns, end_ns;
  pthread_barrier_t *go;
  fk_error_t err;
  int ret;
} slot_t;

static void *
slot_main (void *p)
{
  slot_t *s = p;
  pthread_barrier_wait (s->go);
  s->ret = run_sh (s->c, s->script, s->want, &s->err);
  s->end_ns = fk_now_ns ();
  return NULL;
}

/* One level of the density pattern: n commands begun together (one thread and one connection
   each, released by one barrier), the slowest kept per repeat. */
static int
direct_density (fk_sandbox_t *sb, size_t n, size_t repeats, fk_trace_samples_t *samples,
                fk_error_t *err)
{
  slot_t *slots = xcalloc (n, sizeof *slots);
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0; i++)
    {
      ret = fk_client_connect (fk_sandbox_socket_path (sb), &slots[i].c, err);
      if (ret == 0)
        {
          cleanup_free char *warm = xasprintf ("printf shell-pool-warm-c%zu-%zu", n, i);
          cleanup_free char *want = xasprintf ("shell-pool-warm-c%zu-%zu", n, i);
          ret = run_sh (slots[i].c, warm, want, err);
        }
    }
  cleanup_free char *metric = xasprintf (DIRECT "shell_pool_density_c%zu_ms", n);
  for (size_t r = 0; r < repeats && ret == 0; r++)
    {
      pthread_barrier_t go;
      pthread_barrier_init (&go, NULL, (unsigned)n + 1);
      pthread_t *th = xcalloc (n, sizeof *th);
      for (size_t i = 0; i < n; i++)
        {
          slots[i].want = xasprintf ("shell-pool-c%zu-r%zu-%zu", n, r, i);
          slots[i].script = xasprintf ("printf %s", slots[i].want);
          slots[i].go = &go;
          fk_error_clear (&slots[i].err);
          pthread_create (&th[i], NULL, slot_main, &slots[i]);
        }
      uint64_t t0 = fk_now_ns ();
      pthread_barrier_wait (&go);
      uint64_t slowest = 0;
      for (size_t i = 0; i < n; i++)
        {
          pthread_join (th[i], NULL);
          if (slots[i].ret < 0 && ret == 0)
            {
              fk_error_set (err, slots[i].err.code, "%s", fk_error_message (&slots[i].err));
              ret = -1;
            }
          fk_error_clear (&slots[i].err);
          if (slots[i].end_ns - t0 > slowest)
            slowest = slots[i].end_ns - t0;
          free (slots[i].want);
          free (slots[i].script);
        }
      free (th);
      pthread_barrier_destroy (&go);
      if (ret == 0)
        {
          ret = push_ms (samples, metric, slowest, r, repeats, err);
          if (ret == 0
              && fk_trace_sample_set_tagf (samples->items[samples->len - 1], err, "level", "%zu", n)
                     < 0)
            ret = -1;
        }
    }
  for (size_t i = 0; i < n; i++)
    fk_client_close (slots[i].c);
  free (slots);
  return ret;
}

static int
direct_commands (fk_runtime_t *rt, const fk_fkd_bench_opts_t *o, fk_trace_samples_t *samples,
                 fk_error_t *err)
{
  fk_sandbox_spec_t spec;
  spec_of (&spec, o->template_id);
  fk_sandbox_t *sb = NULL;
  fk_client_t *c = NULL;
  if (fk_template_sandbox_create (rt, &spec, &sb, err) < 0)
    return -1;
  int ret = fk_client_connect (fk_sandbox_socket_path (sb), &c, err);
  for (int i = 0; i < 3 && ret == 0; i++)
    ret = run_sh (c, "true", NULL, err);
  for (size_t i = 0; i < o->iterations && ret == 0; i++)
    {
      uint64_t t0 = fk_now_ns ();
      ret = run_sh (c, "true", NULL, err);
      uint64_t t1 = fk_now_ns ();
      if (ret == 0)
        ret = push_ms (samples, DIRECT "run_true_ms", t1 - t0, i, o->iterations, err);
    }
  size_t files = o->iterations / 4 ? o->iterations / 4 : 1;
  char *mib = xmalloc (MiB);
  if (getrandom (mib, MiB, 0) != (ssize_t)MiB)
    memset (mib, 0x5a, MiB);
  for (size_t i = 0; i < files && ret == 0; i++)
    {
      char *back = NULL;
      size_t len = 0;
      uint64_t t0 = fk_now_ns ();
      ret = fk_client_file_write (c, "/tmp/bench-1mib", mib, MiB, 0644, 0, err);
      if (ret == 0)
        ret = fk_client_file_read (c, "/tmp/bench-1mib", MiB, &back, &len, err);
      uint64_t t1 = fk_now_ns ();
      if (ret == 0 && (len != MiB || memcmp (back, mib, MiB) != 0))
        ret = fk_error_set (err, EIO, "the 1 MiB file read back differs");
      free (back);
      if (ret == 0)
        ret = push_ms (samples, DIRECT "file_1mib_write_read_ms", t1 - t0, i, files, err);
    }
  free (mib);
  for (size_t l = 0; l < o->n_levels && ret == 0; l++)
    ret = direct_density (sb, o->levels[l], o->repeats, samples, err);
  drop (sb, c);
  return ret;
}

/* ---- the SDK side ---- */

static int
free_port (unsigned *ret_port, fk_error_t *err)
{
  cleanup_close int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  if (fd < 0 || bind (fd, (struct sockaddr *)&a, sizeof a) < 0
      || getsockname (fd, (struct sockaddr *)&a, &len) < 0)
    return fk_error_set_errno (err, "find a free loopback port");
  *ret_port = ntohs (a.sin_port);
  return 0;
}

typedef struct fkd_run
{
  fk_bench_proc_t proc;
  int out; /* fkd's stdout */
  unsigned api_port, envd_port;
  char key[64];
} fkd_run_t;

/* Starts fkd on free loopback ports in rt's state dir (with a warm pool of depth when > 0) and
   waits until it says it listens. */
static int
fkd_start (fk_runtime_t *rt, const fk_fkd_bench_opts_t *o, size_t depth, fkd_run_t *ret,
           fk_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  ret->out = -1;
  unsigned char raw[16];
  if (getrandom (raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    return fk_error_set_errno (err, "random bytes for the API key");
  strcpy (ret->key, "e2b_");
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf (ret->key + 4 + 2 * i, 3, "%02x", raw[i]);
  if (free_port (&ret->api_port, err) < 0 || free_port (&ret->envd_port, err) < 0)
    return -1;
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return fk_error_set_errno (err, "pipe");
  cleanup_free char *listen = xasprintf ("127.0.0.1:%u", ret->api_port);
  cleanup_free char *envd = xasprintf ("127.0.0.1:%u", ret->envd_port);
  cleanup_free char *warm = xasprintf ("%zu", depth);
  char *argv[] = { (char *)o->fkd_path,
                   (char *)"--listen",
                   listen,
                   (char *)"--envd-listen",
                   envd,
                   (char *)"--api-key",
                   ret->key,
                   (char *)"--state-dir",
                   (char *)fk_runtime_state_dir (rt),
                   (char *)"--warm-pool",
                   warm,
                   (char *)"--warm-template",
                   (char *)o->template_id,
                   NULL };
  int r = fk_bench_proc_start (argv, -1, p[1], &ret->proc, err);
  close (p[1]);
  if (r < 0)
    {
      close (p[0]);
      return -1;
    }
  ret->out = p[0];
  char buf[512];
  size_t have = 0;
  uint64_t deadline = fk_now_ms () + FKD_START_MS;
  while (memmem (buf, have, "listening", 9) == NULL)
    {
      struct pollfd pf = { .fd = ret->out, .events = POLLIN };
      int64_t left = (int64_t)(deadline - fk_now_ms ());
      if (left <= 0 || poll (&pf, 1, (int)left) <= 0)
        return fk_error_set (err, ETIMEDOUT, "fkd did not listen within %d ms", FKD_START_MS);
      ssize_t n = read (ret->out, buf + have, sizeof buf - 1 - have);
      if (n <= 0)
        return fk_error_set (err, EIO, "fkd exited before it listened");
      have += (size_t)n;
      if (have == sizeof buf - 1)
        have = 0;
    }
  return 0;
}

static int
fkd_stop (fkd_run_t *f, fk_error_t *err)
{
  if (f->proc.pid > 0)
    kill (f->proc.pid, SIGTERM);
  int r = f->proc.pid > 0 ? fk_bench_procs_wait (&f->proc, 1, err) : 0;
  if (f->out >= 0)
    close (f->out);
  f->out = -1;
  f->proc.pid = 0;
  return r;
}

/* Runs bench/fkd_sdk.mjs for phase against f and appends the samples it prints. */
static int
sdk_phase (const fk_fkd_bench_opts_t *o, const char *phase, fkd_run_t *f,
           fk_trace_samples_t *samples, fk_error_t *err)
{
  cleanup_free char *api = xasprintf ("http://127.0.0.1:%u", f->api_port);
  cleanup_free char *envd = xasprintf ("http://127.0.0.1:%u", f->envd_port);
  setenv ("E2B_API_URL", api, 1);
  setenv ("E2B_SANDBOX_URL", envd, 1);
  setenv ("E2B_API_KEY", f->key, 1);
  cleanup_free char *iterations = xasprintf ("%zu", o->iterations);
  cleanup_free char *creates = xasprintf ("%zu", o->creates);
  cleanup_free char *repeats = xasprintf ("%zu", o->repeats);
  cleanup_free char *pid = xasprintf ("%d", (int)f->proc.pid);
  size_t cap = 16 * o->n_levels + 1, used = 0;
  cleanup_free char *levels = xcalloc (cap, 1);
  for (size_t i = 0; i < o->n_levels; i++)
    used += (size_t)snprintf (levels + used, cap - used, "%s%zu", i ? "," : "", o->levels[i]);
  char *argv[] = { (char *)o->node_path,
                   (char *)o->script_path,
                   (char *)o->sdk_dir,
                   (char *)phase,
                   (char *)o->template_id,
                   iterations,
                   creates,
                   levels,
                   repeats,
                   pid,
                   NULL };
  cleanup_close int out = memfd_create ("fkd-sdk-out", MFD_CLOEXEC);
  if (out < 0)
    return fk_error_set_errno (err, "memfd_create");
  fk_bench_proc_t proc;
  if (fk_bench_proc_start (argv, -1, out, &proc, err) < 0
      || fk_bench_procs_wait (&proc, 1, err) < 0)
    return -1;
  off_t size = lseek (out, 0, SEEK_END);
  if (size <= 0 || size > (off_t)(64 * MiB))
    return fk_error_set (err, EPROTO, "the SDK side printed %lld bytes", (long long)size);
  cleanup_free char *text = xmalloc ((size_t)size + 1);
  if (pread (out, text, (size_t)size, 0) != size)
    return fk_error_set_errno (err, "read the SDK side's samples");
  text[size] = '\0';
  json_error_t je;
  json_t *arr = json_loads (text, 0, &je);
  if (arr == NULL || !json_is_array (arr))
    {
      json_decref (arr);
      return fk_error_set (err, EPROTO, "the SDK side's samples: %s", je.text);
    }
  size_t i;
  json_t *v;
  int ret = 0;
  json_array_foreach (arr, i, v)
  {
    fk_trace_sample_t *s = NULL;
    if (fk_trace_sample_from_json (v, &s, err) < 0)
      {
        ret = -1;
        break;
      }
    fk_trace_samples_push (samples, s);
  }
  json_decref (arr);
  return ret;
}

/* commands.run('true')'s Start request sent by this process over one keep-alive loopback
   connection, its chunked answer read to the end: fkd's own cost per call, without a client
   library's (node's fetch and the SDK add theirs: fkd.http, fkd.sdk). The sandbox is one of
   this process's, without a token. */
static int
raw_http_phase (fk_runtime_t *rt, const fk_fkd_bench_opts_t *o, const fkd_run_t *f,
                fk_trace_samples_t *samples, fk_error_t *err)
{
  fk_sandbox_spec_t spec;
  spec_of (&spec, o->template_id);
  fk_sandbox_t *sb = NULL;
  if (fk_template_sandbox_create (rt, &spec, &sb, err) < 0)
    return -1;
  static const char json[]
      = "{\"process\":{\"cmd\":\"/bin/bash\",\"args\":[\"-l\",\"-c\",\"true\"]},\"stdin\":false}";
  char env[5 + sizeof json];
  env[0] = 0;
  uint32_t n = (uint32_t)(sizeof json - 1);
  env[1] = (char)(n >> 24);
  env[2] = (char)(n >> 16);
  env[3] = (char)(n >> 8);
  env[4] = (char)n;
  memcpy (env + 5, json, sizeof json - 1);
  cleanup_free char *req = xasprintf ("POST /process.Process/Start HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Content-Type: application/connect+json\r\n"
                                      "E2b-Sandbox-Id: %s\r\nContent-Length: %u\r\n\r\n",
                                      fk_sandbox_id (sb), n + 5);
  size_t hlen = strlen (req);
  req = xrealloc (req, hlen + n + 5);
  memcpy (req + hlen, env, n + 5);
  size_t rlen = hlen + n + 5;
  int ret = 0;
  cleanup_close int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons ((uint16_t)f->envd_port),
                           .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int one = 1;
  if (fd < 0 || setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0
      || connect (fd, (struct sockaddr *)&a, sizeof a) < 0)
    ret = fk_error_set_errno (err, "connect to fkd's envd");
  char buf[16384];
  for (size_t i = 0; ret == 0 && i < o->iterations + 3; i++)
    {
      uint64_t t0 = fk_now_ns ();
      size_t got = 0;
      if (fk_write_all (fd, req, rlen, err) < 0)
        {
          ret = -1;
          break;
        }
      /* The chunked answer ends with its last chunk: "\r\n0\r\n\r\n". */
      while (got < 7 || memcmp (buf + got - 7, "\r\n0\r\n\r\n", 7) != 0)
        {
          ssize_t k = read (fd, buf + got, sizeof buf - 1 - got);
          if (k <= 0 || got + (size_t)k >= sizeof buf - 1)
            {
              ret = fk_error_set (err, EPROTO, "fkd's Start answer: cut short or too long");
              break;
            }
          got += (size_t)k;
        }
      uint64_t t1 = fk_now_ns ();
      buf[got] = '\0';
      /* The envelopes' headers hold NUL bytes: memmem, not strstr. */
      if (ret == 0
          && (strncmp (buf, "HTTP/1.1 200", 12) != 0
              || !memmem (buf, got, "\"exited\":true", strlen ("\"exited\":true"))))
        ret = fk_error_set (err, EPROTO, "fkd's Start answer: %.200s", buf);
      if (ret == 0 && i >= 3)
        {
          ret = push_ms (samples, "fkd.httpc.run_true_ms", t1 - t0, i - 3, o->iterations, err);
          if (ret == 0
              && fk_trace_sample_set_tag (samples->items[samples->len - 1], "side", "http-c", err)
                     < 0)
            ret = -1;
        }
    }
  drop (sb, NULL);
  return ret;
}

static int
sdk_side (fk_runtime_t *rt, const fk_fkd_bench_opts_t *o, fk_trace_samples_t *samples,
          fk_error_t *err)
{
  fkd_run_t f;
  fk_error_t e2 = FK_ERROR_INIT;
  int ret = fkd_start (rt, o, o->warm_depth, &f, err);
  if (ret == 0)
    ret = sdk_phase (o, "warm", &f, samples, err);
  if (fkd_stop (&f, ret < 0 ? &e2 : err) < 0 && ret == 0)
    ret = -1;
  if (ret == 0)
    ret = fkd_start (rt, o, 0, &f, err);
  if (ret == 0)
    ret = sdk_phase (o, "cold", &f, samples, err);
  if (ret == 0)
    ret = raw_http_phase (rt, o, &f, samples, err);
  if (fkd_stop (&f, ret < 0 ? &e2 : err) < 0 && ret == 0)
    ret = -1;
  fk_error_clear (&e2);
  return ret;
}

/* ---- the comparison ---- */

/* prefix<op>_p50_ratio (hi / lo) and prefix<op>_p50_ms (hi minus lo), from hi<op>_ms and
   lo<op>_ms. */
static int
overhead (fk_trace_samples_t *samples, const char *op, const char *hi, const char *lo,
          const char *prefix, fk_error_t *err)
{
  cleanup_free char *sdk = xasprintf ("%s%s_ms", hi, op);
  cleanup_free char *direct = xasprintf ("%s%s_ms", lo, op);
  cleanup_free char *ratio = xasprintf ("%s%s_p50_ratio", prefix, op);
  int r = fk_bench_ratio_push (samples, ratio, sdk, direct, 0, err);
  if (r <= 0)
    return r;
  double s50, s95, d50, d95;
  fk_trace_metric_p50_p95 (samples, sdk, &s50, &s95);
  fk_trace_metric_p50_p95 (samples, direct, &d50, &d95);
  cleanup_free char *metric = xasprintf ("%s%s_p50_ms", prefix, op);
  fk_trace_sample_t *s = fk_trace_sample_new (metric, FK_TRACE_KIND_FIRKIN_OVERHEAD,
                                              FK_TRACE_UNIT_MILLISECONDS, s50 - d50);
  if (fk_trace_sample_set_tag (s, "over_metric", sdk, err) < 0
      || fk_trace_sample_set_tag (s, "under_metric", direct, err) < 0)
    {
      fk_trace_sample_free (s);
      return -1;
    }
  fk_trace_samples_push (samples, s);
  return 0;
}

int
fk_fkd_bench_collect (fk_runtime_t *rt, const fk_fkd_bench_opts_t *o, fk_trace_samples_t *samples,
                      fk_error_t *err)
{
  if (o->iterations == 0 || o->creates == 0 || o->repeats == 0 || o->warm_depth == 0)
    return fk_error_set (err, EINVAL,
                         "bench fkd: iterations, creates, repeats and the warm "
                         "pool's depth are at least 1");
  /* The library side first, while this process has no other children: the warm pool forks. */
  if (direct_creates (rt, o, samples, err) < 0 || direct_commands (rt, o, samples, err) < 0
      || sdk_side (rt, o, samples, err) < 0)
    return -1;
  static const char *const ops[]
      = { "create_warm", "create_cold", "run_true", "file_1mib_write_read", NULL };
  for (const char *const *op = ops; *op; op++)
    if (overhead (samples, *op, SDK, DIRECT, "fkd.overhead.", err) < 0)
      return -1;
  /* commands.run('true') apart: the SDK's own work (sdk beside plain HTTP), and fkd's with
     HTTP's (plain HTTP beside the library). */
  if (overhead (samples, "run_true", SDK, HTTP, "fkd.sdk_cost.", err) < 0
      || overhead (samples, "run_true", HTTP, DIRECT, "fkd.http_cost.", err) < 0
      || overhead (samples, "run_true", "fkd.httpc.", DIRECT, "fkd.fkd_cost.", err) < 0)
    return -1;
  for (size_t l = 0; l < o->n_levels; l++)
    {
      cleanup_free char *op = xasprintf ("shell_pool_density_c%zu", o->levels[l]);
      if (overhead (samples, op, SDK, DIRECT, "fkd.overhead.", err) < 0)
        return -1;
    }
  return 0;
}
