/* oci/verbs.c: the lifecycle verbs. create starts the plan with a start fifo, so the
   container's process waits, in its namespaces, confined, before exec, until `start'. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "oci/oci.h"
#include "sandbox/create.h"
#include "sandbox/launch.h"

/* getopt_long_only over a verb's arguments: long options with one or two dashes. */
#define VERB_OPTS(argc, argv) (optind = 0, opterr = 1)

static char *
now_rfc3339 (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  return xasprintf ("%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

int
oci_create (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "bundle", required_argument, NULL, 'b' },
    { "pid-file", required_argument, NULL, 'p' },
    { "console-socket", required_argument, NULL, 'c' },
    { "no-pivot", no_argument, NULL, 'n' },
    { "no-new-keyring", no_argument, NULL, 'k' },
    { "preserve-fds", required_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  const char *bundle = ".", *pid_file = NULL, *console = NULL;
  int opt;
  VERB_OPTS (argc, argv);
  while ((opt = getopt_long_only (argc, argv, "+b:", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'b':
        bundle = optarg;
        break;
      case 'p':
        pid_file = optarg;
        break;
      case 'c':
        console = optarg;
        break;
      case 'n': /* pivot_root always: the sandbox's root is never a chroot */
      case 'k': /* the session keyring is the caller's: firkin does not make one */
        break;
      case 'f':
        if (strcmp (optarg, "0") != 0)
          return oci_failf ("create: --preserve-fds is not supported");
        break;
      default:
        return oci_failf ("create: unknown option");
      }
  if (optind + 1 != argc)
    return oci_failf ("create: usage: create [--bundle DIR] [--pid-file FILE] "
                      "[--console-socket SOCKET] ID");
  const char *id = argv[optind];
  fk_error_t err = FK_ERROR_INIT;
  char real_bundle[PATH_MAX];
  if (oci_check_id (id, &err) < 0)
    return oci_fail (&err);
  if (realpath (bundle, real_bundle) == NULL)
    return oci_failf ("create: bundle `%s': %s", bundle, strerror (errno));
  cleanup_free char *config_path = xasprintf ("%s/config.json", real_bundle);
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_file_at (AT_FDCWD, config_path, FK_OCI_CONFIG_MAX, &text, &len, &err) < 0)
    return oci_fail (&err);
  fk_cgroup_layout_t cg = { 0 };
  if (fk_cgroup_detect (NULL, &cg, &err) < 0)
    return oci_fail (&err);
  fk_oci_opts_t opts;
  oci_config_opts (id, real_bundle, &cg, &opts);
  fk_plan_t plan;
  fk_oci_info_t info = { 0 };
  if (fk_oci_config_to_plan (text, len, &opts, &plan, &info, &err) < 0)
    {
      fk_cgroup_layout_free (&cg);
      return oci_fail (&err);
    }
  int status = 1;
  int console_fd = -1, agent_fd = -1, listen_fd = -1;
  oci_container_t c = { .dirfd = -1 };
  fk_plan_started_t started = { .pid = -1, .pidfd = -1, .stdio_fds = { -1, -1, -1 } };
  int made = 0;
  struct stat st;
  if (stat (plan.root.path, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      fk_error_set (&err, ENOENT, "root `%s' does not exist or is not a directory", plan.root.path);
      goto out;
    }
  if (info.terminal)
    {
      if (console == NULL)
        {
          fk_error_set (&err, EINVAL, "process.terminal is set but no --console-socket is given");
          goto out;
        }
      console_fd = oci_console_connect (console, &err);
      if (console_fd < 0)
        goto out;
    }
  if (oci_container_new (id, &c, &err) < 0)
    goto out;
  made = 1;
  if (fk_write_file_atomic_at (c.dirfd, "config.json", text, len, 0600, &err) < 0)
    goto out;
  plan.start_fifo = xasprintf ("%s/start.fifo", c.dir);
  if (mkfifo (plan.start_fifo, 0600) < 0)
    {
      fk_error_set_errno (&err, "make `%s'", plan.start_fifo);
      goto out;
    }
  if (!info.no_agent)
    {
      /* fk-agent as the container's init (docs/oci.md): exec'd from an fd (nothing of it is
         mounted in the container), its socket on the host in the state dir (0700), fd 3. */
      cleanup_free char *agent = fk_oci_agent_program ();
      agent_fd = open (agent, O_PATH | O_CLOEXEC);
      if (agent_fd < 0)
        {
          fk_error_set_errno (&err,
                              "open fk-agent `%s' (set FIRKIN_AGENT, or opt out with the "
                              "annotation " FK_OCI_AGENT_ANNOTATION "=false)",
                              agent);
          goto out;
        }
      c.state.agent_socket = xasprintf ("%s/agent.sock", c.dir);
      if (fk_agent_listen_socket (c.state.agent_socket, &listen_fd, &err) < 0)
        {
          if (err.code != ENAMETOOLONG)
            goto out;
          /* A --root too deep for a socket's address: the container runs, without the agent. */
          oci_warn ("%s: running the process without fk-agent", fk_error_message (&err));
          fk_error_clear (&err);
          free (c.state.agent_socket);
          c.state.agent_socket = NULL;
          close (agent_fd);
          agent_fd = -1;
        }
      else
        fk_oci_plan_agent (&plan);
    }
  fk_plan_io_t io = { .cgroups = &cg, .exec_fd = agent_fd, .listen_fd = listen_fd };
  if (fk_plan_start (&plan, &io, &started, &err) < 0)
    goto out;
  if (info.terminal && oci_send_console (console_fd, started.stdio_fds[0], &err) < 0)
    goto out;
  if (info.has_oom_score_adj)
    {
      char path[64], val[16];
      snprintf (path, sizeof path, "/proc/%d/oom_score_adj", (int)started.pid);
      int n = snprintf (val, sizeof val, "%d", info.oom_score_adj);
      int fd = open (path, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write (fd, val, (size_t)n) != n)
        oci_warn ("set oom_score_adj %d: %s", info.oom_score_adj, strerror (errno));
      if (fd >= 0)
        close (fd);
    }
  c.state.pid = started.pid;
  c.state.pid_start = fk_oci_pid_start (started.pid);
  c.state.bundle = xstrdup (real_bundle);
  c.state.rootfs = xstrdup (plan.root.path);
  c.state.created = now_rfc3339 ();
  c.state.cgroup = xstrdup (plan.cgroup);
  c.state.oci_version = xstrdup (info.oci_version);
  c.state.annotations = json_loads (info.annotations, 0, NULL);
  if (oci_container_save (&c, &err) < 0)
    goto out;
  if (pid_file && oci_write_pid_file (pid_file, started.pid, &err) < 0)
    goto out;
  status = 0;
out:
  if (status != 0)
    {
      if (started.pid > 0)
        fk_plan_undo (&plan, &cg, &started);
      if (made)
        oci_container_remove (&c);
      oci_fail (&err);
    }
  for (int i = 0; i < 3; i++)
    if (started.stdio_fds[i] >= 0)
      close (started.stdio_fds[i]);
  if (started.pidfd >= 0)
    close (started.pidfd);
  if (console_fd >= 0)
    close (console_fd);
  if (agent_fd >= 0)
    close (agent_fd);
  if (listen_fd >= 0)
    close (listen_fd);
  oci_container_close (&c);
  fk_plan_clear (&plan);
  fk_oci_info_clear (&info);
  fk_cgroup_layout_free (&cg);
  return status;
}

/* The one ID argument of a verb with no options but those in longopts. */
static const char *
one_id (int argc, char **argv, const char *verb)
{
  if (optind + 1 != argc)
    {
      oci_failf ("%s: usage: %s ID", verb, verb);
      return NULL;
    }
  return argv[optind];
}

static int
no_opts (int argc, char **argv)
{
  static const struct option longopts[] = { { NULL, 0, NULL, 0 } };
  VERB_OPTS (argc, argv);
  return getopt_long_only (argc, argv, "+", longopts, NULL) == -1 ? 0 : -1;
}

/* The start of a verb whose one argument is a container's id, with no options: the container
   attached (oci_container_attach) and its status; returns 0, or the exit status once the reason
   is logged. */
static int
attach_id (int argc, char **argv, const char *verb, oci_container_t *ret,
           fk_cgroup_layout_t *ret_cg, fk_oci_status_t *ret_status)
{
  if (no_opts (argc, argv) < 0)
    return oci_failf ("%s: unknown option", verb);
  const char *id = one_id (argc, argv, verb);
  if (id == NULL)
    return 1;
  fk_error_t err = FK_ERROR_INIT;
  if (oci_container_attach (id, 0, ret, ret_cg, ret_status, &err) < 0)
    return oci_fail (&err);
  return 0;
}

int
oci_start (int argc, char **argv)
{
  oci_container_t c;
  fk_cgroup_layout_t cg;
  fk_oci_status_t s;
  if (attach_id (argc, argv, "start", &c, &cg, &s) != 0)
    return 1;
  const char *id = c.id;
  fk_error_t err = FK_ERROR_INIT;
  int status = 1;
  cleanup_free char *fifo = NULL; /* before any goto out, which frees it */
  if (s != FK_OCI_CREATED)
    {
      fk_error_set (&err, EINVAL, "container `%s' is %s, not created: it cannot be started", id,
                    fk_oci_status_name (s));
      goto out;
    }
  fifo = xasprintf ("%s/start.fifo", c.dir);
  if (fk_plan_release_start (fifo, &err) < 0)
    goto out;
  c.state.started = 1;
  unlink (fifo);
  if (oci_container_save (&c, &err) < 0)
    goto out;
  fk_plan_t plan;
  fk_oci_info_t info;
  if (oci_container_plan (&c, &plan, &info, &err) == 0)
    {
      /* A failed poststart hook is a warning, as the spec says. */
      if (fk_plan_run_hooks (&plan, FK_PLAN_HOOK_POSTSTART, c.state.pid, &err) < 0)
        {
          oci_warn ("poststart: %s", fk_error_message (&err));
          fk_error_clear (&err);
        }
      fk_plan_clear (&plan);
      fk_oci_info_clear (&info);
    }
  fk_error_clear (&err);
  status = 0;
out:
  if (status)
    oci_fail (&err);
  oci_container_detach (&c, &cg);
  return status;
}

int
oci_state (int argc, char **argv)
{
  oci_container_t c;
  fk_cgroup_layout_t cg;
  fk_oci_status_t s;
  if (attach_id (argc, argv, "state", &c, &cg, &s) != 0)
    return 1;
  json_t *o = json_pack ("{s:s,s:s,s:s,s:i,s:s?,s:s?,s:s?,s:s,s:O?}", "ociVersion",
                         c.state.oci_version ? c.state.oci_version : "1.2.0", "id", c.id, "status",
                         fk_oci_status_name (s), "pid", s == FK_OCI_STOPPED ? 0 : (int)c.state.pid,
                         "bundle", c.state.bundle, "rootfs", c.state.rootfs, "created",
                         c.state.created, "owner", "", "annotations", c.state.annotations);
  char *text = json_dumps (o, JSON_INDENT (2));
  printf ("%s\n", text);
  free (text);
  json_decref (o);
  oci_container_detach (&c, &cg);
  return 0;
}

static int
parse_signal (const char *s)
{
  char *end;
  long n = strtol (s, &end, 10);
  if (*s && *end == '\0')
    return n > 0 && n < NSIG ? (int)n : -1;
  if (strncasecmp (s, "SIG", 3) == 0)
    s += 3;
  for (int i = 1; i < NSIG; i++)
    {
      const char *name = sigabbrev_np (i);
      if (name && strcasecmp (name, s) == 0)
        return i;
    }
  if (strncasecmp (s, "RTMIN+", 6) == 0)
    {
      n = strtol (s + 6, &end, 10);
      if (*end == '\0' && n >= 0 && SIGRTMIN + n <= SIGRTMAX)
        return SIGRTMIN + (int)n;
    }
  return -1;
}

int
oci_kill (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "all", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
  int all = 0, opt;
  VERB_OPTS (argc, argv);
  while ((opt = getopt_long_only (argc, argv, "+a", longopts, NULL)) != -1)
    if (opt == 'a')
      all = 1;
    else
      return oci_failf ("kill: unknown option");
  if (optind >= argc || argc - optind > 2)
    return oci_failf ("kill: usage: kill [--all] ID [SIGNAL]");
  const char *id = argv[optind];
  int sig = optind + 1 < argc ? parse_signal (argv[optind + 1]) : SIGTERM;
  if (sig < 0)
    return oci_failf ("kill: unknown signal `%s'", argv[optind + 1]);
  fk_error_t err = FK_ERROR_INIT;
  oci_container_t c;
  fk_cgroup_layout_t cg;
  fk_oci_status_t s;
  if (oci_container_attach (id, 0, &c, &cg, &s, &err) < 0)
    return oci_fail (&err);
  int status = 0;
  if (s == FK_OCI_STOPPED)
    ; /* the process is gone already: what the signal was for is done (engines kill again) */
  else if (all)
    {
      pid_t *pids = NULL;
      size_t n = 0;
      if (fk_cgroup_pids (&cg, c.state.cgroup, &pids, &n, &err) < 0)
        status = oci_fail (&err);
      for (size_t i = 0; i < n; i++)
        /* The agent as init would pass the signal on to its workload, which gets its own:
           once is enough (it goes when the workload does; SIGKILL and SIGSTOP it takes). */
        if (!(c.state.agent_socket && pids[i] == c.state.pid && sig != SIGKILL && sig != SIGSTOP))
          kill (pids[i], sig);
      free (pids);
      /* A frozen cgroup gets the signal once it thaws; SIGKILL lands now. */
    }
  else if (kill (c.state.pid, sig) < 0 && errno != ESRCH)
    status = oci_failf ("kill `%s': %s", id, strerror (errno));
  oci_container_detach (&c, &cg);
  return status;
}

int
oci_delete (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  int force = 0, opt;
  VERB_OPTS (argc, argv);
  while ((opt = getopt_long_only (argc, argv, "+f", longopts, NULL)) != -1)
    if (opt == 'f')
      force = 1;
    else
      return oci_failf ("delete: unknown option");
  const char *id = one_id (argc, argv, "delete");
  if (id == NULL)
    return 1;
  fk_error_t err = FK_ERROR_INIT;
  oci_container_t c;
  fk_cgroup_layout_t cg;
  fk_oci_status_t s;
  if (oci_container_attach (id, force, &c, &cg, &s, &err) < 0)
    {
      if (force && err.code == ENOENT)
        {
          fk_error_clear (&err);
          return 0;
        }
      return oci_fail (&err);
    }
  if ((s == FK_OCI_RUNNING || s == FK_OCI_PAUSED) && !force)
    {
      oci_container_detach (&c, &cg);
      return oci_failf ("container `%s' is %s: stop it first or delete with --force", id,
                        fk_oci_status_name (s));
    }
  fk_plan_t plan;
  fk_oci_info_t info;
  int have_plan = oci_container_plan (&c, &plan, &info, &err) == 0;
  fk_error_clear (&err);
  const char *cgroup = c.state.cgroup ? c.state.cgroup : have_plan ? plan.cgroup : NULL;
  if (s != FK_OCI_STOPPED && c.state.pid > 0)
    kill (c.state.pid, SIGKILL);
  if (cgroup)
    {
      if (fk_cgroup_kill (&cg, cgroup, 5000, &err) < 0)
        fk_error_clear (&err);
      if (fk_cgroup_destroy (&cg, cgroup, &err) < 0)
        {
          oci_warn ("remove cgroup `%s': %s", cgroup, fk_error_message (&err));
          fk_error_clear (&err);
        }
    }
  if (have_plan)
    {
      if (fk_plan_run_hooks (&plan, FK_PLAN_HOOK_POSTSTOP, c.state.pid, &err) < 0)
        {
          oci_warn ("poststop: %s", fk_error_message (&err));
          fk_error_clear (&err);
        }
      fk_plan_clear (&plan);
      fk_oci_info_clear (&info);
    }
  oci_container_remove (&c);
  oci_container_detach (&c, &cg);
  return 0;
}

int
oci_ps (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "format", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  const char *format = "table";
  int opt;
  VERB_OPTS (argc, argv);
  while ((opt = getopt_long_only (argc, argv, "+f:", longopts, NULL)) != -1)
    if (opt == 'f')
      format = optarg;
    else
      return oci_failf ("ps: unknown option");
  if (optind >= argc)
    return oci_failf ("ps: usage: ps [--format table|json] ID");
  if (optind + 1 < argc)
    return oci_failf ("ps: ps options are not supported");
  fk_error_t err = FK_ERROR_INIT;
  oci_container_t c;
  fk_cgroup_layout_t cg;
  if (oci_container_attach (argv[optind], 0, &c, &cg, NULL, &err) < 0)
    return oci_fail (&err);
  pid_t *pids = NULL;
  size_t n = 0;
  int status = 0;
  if (fk_cgroup_pids (&cg, c.state.cgroup, &pids, &n, &err) < 0)
    status = oci_fail (&err);
  else if (strcmp (format, "json") == 0)
    {
      printf ("[");
      for (size_t i = 0; i < n; i++)
        printf ("%s%d", i ? "," : "", (int)pids[i]);
      printf ("]\n");
    }
  else
    {
      printf ("PID\n");
      for (size_t i = 0; i < n; i++)
        printf ("%d\n", (int)pids[i]);
    }
  free (pids);
  oci_container_detach (&c, &cg);
  return status;
}

static int
freeze (int argc, char **argv, int frozen)
{
  oci_container_t c;
  fk_cgroup_layout_t cg;
  fk_oci_status_t s;
  if (attach_id (argc, argv, frozen ? "pause" : "resume", &c, &cg, &s) != 0)
    return 1;
  const char *id = c.id;
  fk_error_t err = FK_ERROR_INIT;
  int status = 0;
  if (s != (frozen ? FK_OCI_RUNNING : FK_OCI_PAUSED))
    status = oci_failf ("container `%s' is %s: it cannot be %s", id, fk_oci_status_name (s),
                        frozen ? "paused" : "resumed");
  else if (fk_cgroup_freeze (&cg, c.state.cgroup, frozen, &err) < 0)
    status = oci_fail (&err);
  oci_container_detach (&c, &cg);
  return status;
}

int
oci_pause (int argc, char **argv)
{
  return freeze (argc, argv, 1);
}

int
oci_resume (int argc, char **argv)
{
  return freeze (argc, argv, 0);
}

int
oci_update (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "resources", required_argument, NULL, 'r' }, { NULL, 0, NULL, 0 } };
  const char *file = NULL;
  int opt;
  VERB_OPTS (argc, argv);
  while ((opt = getopt_long_only (argc, argv, "+r:", longopts, NULL)) != -1)
    if (opt == 'r')
      file = optarg;
    else
      return oci_failf ("update: only --resources FILE is supported");
  if (file == NULL || optind + 1 != argc)
    return oci_failf ("update: usage: update --resources FILE|- ID");
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *text = NULL;
  size_t len;
  int r = strcmp (file, "-") == 0
              ? fk_read_all (0, FK_OCI_CONFIG_MAX, &text, &len, &err)
              : fk_read_file_at (AT_FDCWD, file, FK_OCI_CONFIG_MAX, &text, &len, &err);
  fk_cgroup_limits_t lim;
  if (r < 0 || fk_oci_resources (text, len, &lim, &err) < 0)
    return oci_fail (&err);
  oci_container_t c;
  fk_cgroup_layout_t cg;
  if (oci_container_attach (argv[optind], 0, &c, &cg, NULL, &err) < 0)
    return oci_fail (&err);
  int status = 0;
  if (fk_cgroup_create (&cg, c.state.cgroup, &lim, &err) < 0)
    status = oci_fail (&err);
  oci_container_detach (&c, &cg);
  return status;
}

int
oci_features (int argc, char **argv)
{
  (void)argc;
  (void)argv;
  printf (
      "{\n"
      "  \"ociVersionMin\": \"1.0.0\",\n"
      "  \"ociVersionMax\": \"1.2.0\",\n"
      "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", "
      "\"startContainer\", \"poststart\", \"poststop\"],\n"
      "  \"mountOptions\": [\"bind\", \"rbind\", \"ro\", \"rw\", \"nosuid\", \"nodev\", "
      "\"noexec\", \"noatime\", \"nodiratime\", \"strictatime\", \"relatime\", \"private\", "
      "\"rprivate\", \"slave\", \"rslave\", \"shared\", \"rshared\"],\n"
      "  \"linux\": {\n"
      "    \"namespaces\": [\"cgroup\", \"ipc\", \"mount\", \"network\", \"pid\", \"user\", "
      "\"uts\"],\n"
      "    \"capabilities\": [],\n"
      "    \"cgroup\": {\"v1\": true, \"v2\": true, \"systemd\": true, \"systemdUser\": false},\n"
      "    \"seccomp\": {\"enabled\": true, \"actions\": [\"SCMP_ACT_ALLOW\", "
      "\"SCMP_ACT_ERRNO\", \"SCMP_ACT_KILL\", \"SCMP_ACT_KILL_PROCESS\", "
      "\"SCMP_ACT_KILL_THREAD\", \"SCMP_ACT_LOG\", \"SCMP_ACT_TRACE\", \"SCMP_ACT_TRAP\"], "
      "\"operators\": [\"SCMP_CMP_EQ\", \"SCMP_CMP_GE\", \"SCMP_CMP_GT\", \"SCMP_CMP_LE\", "
      "\"SCMP_CMP_LT\", \"SCMP_CMP_MASKED_EQ\", \"SCMP_CMP_NE\"]},\n"
      "    \"apparmor\": {\"enabled\": false},\n"
      "    \"selinux\": {\"enabled\": false}\n"
      "  },\n"
      "  \"annotations\": {\"org.firkin.runtime\": \"fk-oci\"}\n"
      "}\n");
  return 0;
}

int
oci_list (int argc, char **argv)
{
  (void)argc;
  (void)argv;
  DIR *d = opendir (oci_g.root);
  printf ("ID\tPID\tSTATUS\n");
  struct dirent *de;
  while (d && (de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.')
        continue;
      fk_error_t err = FK_ERROR_INIT;
      oci_container_t c;
      fk_cgroup_layout_t cg;
      fk_oci_status_t s;
      if (oci_container_attach (de->d_name, 0, &c, &cg, &s, &err) < 0)
        {
          fk_error_clear (&err);
          continue;
        }
      printf ("%s\t%d\t%s\n", c.id, (int)c.state.pid, fk_oci_status_name (s));
      oci_container_detach (&c, &cg);
    }
  if (d)
    closedir (d);
  return 0;
}
