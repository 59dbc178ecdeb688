/* poolfork_run: a fork from a warm pool, the way fkd makes one (pool_fork.sh): a source sandbox
   of TEMPLATE runs SETUP (sh -c), then fk_warm_pool_fork of COUNT from a pool of DEPTH sandboxes
   of the same spec; the pool is closed at the end (its unused sandboxes go, the forks stay).
   usage: poolfork_run TEMPLATE COUNT DEPTH DISK_MIB SETUP [MODE]
     MODE: `mismatch' (the pool's memory limit differs from the source's: no fork is pooled),
           `kill-ready' (the pool's ready sandboxes are killed before the fork: each is dropped
           and created instead), `mark-ready' (each ready sandbox gets files in its root, /tmp
           and /dev/shm, a process left running in /root and one forking every 50 ms before the
           fork: a fork made of it must have none of them), `fail-creates' (fk-agent is
           gone once the pool is full: the forks past the pool's fail to be created, and the
           fork must leave none behind)
   prints: "source ID", "pooled N", then "fork ID" per fork; "failed: MESSAGE" when the fork
   failed (exit 3).
   env: FIRKIN_STATE_DIR, FIRKIN_AGENT, FIRKIN_TIMEOUT */
#include <fcntl.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firkin/client.h"
#include "firkin/log.h"
#include "firkin/pool.h"
#include "firkin/template.h"

static void
log_line (void *data, fk_log_level_t level, const char *message)
{
  (void)data;
  (void)level;
  fprintf (stderr, "poolfork_run: %s\n", message);
}

/* pid has exited: no such process, or a zombie. */
static int
dead (pid_t pid)
{
  char path[64], buf[256];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 1;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return 1;
  buf[n] = '\0';
  const char *end = strrchr (buf, ')');
  return end == NULL || end[1] == '\0' || end[2] == 'Z' || end[2] == 'X';
}

static int
fail (const char *what, fk_error_t *err)
{
  fprintf (stderr, "poolfork_run: %s: %s\n", what, fk_error_message (err));
  fk_error_clear (err);
  return 1;
}

int
main (int argc, char **argv)
{
  if (argc != 6 && argc != 7)
    {
      fprintf (stderr, "usage: poolfork_run TEMPLATE COUNT DEPTH DISK_MIB SETUP [MODE]\n");
      return 2;
    }
  const char *mode = argc == 7 ? argv[6] : "";
  unsigned count = (unsigned)strtoul (argv[2], NULL, 10);
  fk_log_set_handler (log_line, NULL);
  fk_log_set_level (FK_LOG_WARNING);
  fk_runtime_opts_t ro = FK_RUNTIME_OPTIONS_INIT;
  ro.agent_path = getenv ("FIRKIN_AGENT");
  char agent_copy[] = "/tmp/poolfork-agent.XXXXXX";
  if (strcmp (mode, "fail-creates") == 0)
    {
      /* A copy of the agent that goes away once the pool is full. */
      int in = open (ro.agent_path ? ro.agent_path : "", O_RDONLY | O_CLOEXEC);
      int out = mkstemp (agent_copy);
      struct stat st;
      if (in < 0 || out < 0 || fstat (in, &st) < 0
          || sendfile (out, in, NULL, (size_t)st.st_size) != st.st_size || fchmod (out, 0755) < 0)
        {
          fprintf (stderr, "poolfork_run: copy the agent\n");
          return 1;
        }
      close (in);
      close (out);
      ro.agent_path = agent_copy;
    }
  ro.timeout_path = getenv ("FIRKIN_TIMEOUT");
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_runtime_open (&ro, &rt, &err) < 0)
    return fail ("open the runtime", &err);
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.template_id = argv[1];
  spec.timeout_sec = 600; /* a killed test's sandboxes end by themselves */
  spec.resources.disk_bytes = strtoull (argv[4], NULL, 10) << 20;
  fk_sandbox_spec_t pool_spec = spec;
  /* The source's own labels and variables: a fork has them, not the pool's. */
  static const char *const labels[] = { "owner=poolfork", NULL };
  static const char *const env[] = { "FORKVAR=from-source", NULL };
  spec.metadata = labels;
  spec.env = env;
  if (strcmp (mode, "mismatch") == 0)
    pool_spec.resources.memory_bytes = 256u << 20;

  fk_sandbox_t *src = NULL;
  if (fk_template_sandbox_create (rt, &spec, &src, &err) < 0)
    return fail ("create the source", &err);
  printf ("source %s\n", fk_sandbox_id (src));
  fflush (stdout);
  fk_client_t *c = NULL;
  fk_exec_result_t res = { 0 };
  fk_exec_opts_t eo = FK_EXEC_OPTIONS_INIT;
  eo.shell = argv[5];
  if (fk_client_connect (fk_sandbox_socket_path (src), &c, &err) < 0
      || fk_client_exec (c, &eo, 1 << 16, &res, &err) < 0)
    return fail ("set the source up", &err);
  fk_client_close (c);
  if (res.status.exit_code != 0)
    {
      fprintf (stderr, "poolfork_run: setup exited %d: %.*s\n", res.status.exit_code,
               (int)res.err_len, res.err ? res.err : "");
      return 1;
    }
  fk_exec_result_free (&res);

  fk_warm_pool_opts_t po = FK_WARM_POOL_OPTIONS_INIT;
  po.depth = strtoul (argv[3], NULL, 10);
  po.min_ready = po.depth;
  po.timeout_ms = 120000;
  po.refill_delay_ms = 3600000; /* no refill: the test counts what the pool had */
  po.member_label = "poolfork_run=ready";
  fk_warm_pool_t *pool = NULL;
  if (fk_warm_pool_open (rt, &pool_spec, &po, &pool, &err) < 0)
    return fail ("open the warm pool", &err);
  if (strcmp (mode, "kill-ready") == 0)
    {
      /* Their PID 1s die (the pool's, by their label): the pool still holds them as ready. */
      fk_sandbox_info_t **infos = NULL;
      size_t n = 0;
      if (fk_sandbox_list (rt, &infos, &n, &err) < 0)
        return fail ("list", &err);
      pid_t killed[64];
      size_t n_killed = 0;
      for (size_t i = 0; i < n; i++)
        if (infos[i]->metadata && infos[i]->metadata[0]
            && strcmp (infos[i]->metadata[0], po.member_label) == 0 && infos[i]->pid > 0
            && kill (infos[i]->pid, SIGKILL) == 0 && n_killed < 64)
          killed[n_killed++] = infos[i]->pid;
      fk_sandbox_info_list_free (infos, n);
      /* Each seen dead (gone, or a zombie its parent has not reaped yet), 5 s at most. */
      for (int tries = 0; tries < 5000; tries++)
        {
          size_t alive = 0;
          for (size_t i = 0; i < n_killed; i++)
            alive += !dead (killed[i]);
          if (alive == 0)
            break;
          usleep (1000);
        }
    }
  if (strcmp (mode, "mark-ready") == 0)
    {
      fk_sandbox_info_t **infos = NULL;
      size_t n = 0;
      if (fk_sandbox_list (rt, &infos, &n, &err) < 0)
        return fail ("list", &err);
      for (size_t i = 0; i < n; i++)
        {
          if (!infos[i]->metadata || !infos[i]->metadata[0]
              || strcmp (infos[i]->metadata[0], po.member_label) != 0)
            continue;
          fk_client_t *mc = NULL;
          fk_exec_result_t mr = { 0 };
          fk_exec_opts_t mo = FK_EXEC_OPTIONS_INIT;
          mo.shell = "echo pool > /root/pool-mark && echo pool > /tmp/pool-mark && "
                     "echo pool > /dev/shm/pool-mark && cd /root && "
                     "(setsid sleep 1000 </dev/null >/dev/null 2>&1 &) && "
                     "(setsid sh -c 'while :; do sleep 1000 & sleep 0.05; done' "
                     "</dev/null >/dev/null 2>&1 &)";
          if (fk_client_connect (infos[i]->socket_path, &mc, &err) < 0
              || fk_client_exec (mc, &mo, 4096, &mr, &err) < 0 || mr.status.exit_code != 0)
            return fail ("mark a ready sandbox", &err);
          fk_exec_result_free (&mr);
          fk_client_close (mc);
        }
      fk_sandbox_info_list_free (infos, n);
    }
  if (strcmp (mode, "fail-creates") == 0)
    unlink (agent_copy);
  char **ids = NULL;
  unsigned pooled = 0;
  int rc = 0;
  if (fk_warm_pool_fork (pool, src, count, &ids, &pooled, &err) < 0)
    {
      printf ("failed: %s\n", fk_error_message (&err));
      fk_error_clear (&err);
      rc = 3;
    }
  else
    {
      printf ("pooled %u\n", pooled);
      for (size_t i = 0; ids[i]; i++)
        printf ("fork %s\n", ids[i]);
    }
  fk_strv_free (ids);
  if (fk_warm_pool_close (pool, &err) < 0)
    rc = fail ("close the pool", &err);
  fk_sandbox_free (src);
  fk_runtime_close (rt);
  return rc;
}
