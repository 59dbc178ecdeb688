/* oci/exec.c: exec, a new process in a running container, as runc's callers use it: --process
   FILE (an OCI process object) or the command after the id; --detach leaves it to the caller's
   subreaper, else fk-oci waits for it, passes signals on and exits with its status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "oci/oci.h"
#include "sandbox/enter.h"

int oci_send_console (int sock, int master, fk_error_t *err);

static volatile sig_atomic_t child_pid;

static void
forward (int sig)
{
  if (child_pid > 0)
    kill (child_pid, sig);
}

static int
console_connect (const char *path, fk_error_t *err)
{
  struct stat st;
  if (stat (path, &st) < 0)
    return fk_error_set_errno (err, "console socket `%s'", path);
  if (!S_ISSOCK (st.st_mode))
    return fk_error_set (err, ENOTSOCK, "console socket `%s' is not a socket", path);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return fk_error_set (err, ENAMETOOLONG, "console socket `%s': path too long", path);
  strcpy (sa.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      fk_error_set_errno (err, "connect to console socket `%s'", path);
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

int
oci_exec (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "process", required_argument, NULL, 'p' },
    { "detach", no_argument, NULL, 'd' },
    { "pid-file", required_argument, NULL, 'P' },
    { "console-socket", required_argument, NULL, 'c' },
    { "tty", no_argument, NULL, 't' },
    { "cwd", required_argument, NULL, 'w' },
    { "env", required_argument, NULL, 'e' },
    { "user", required_argument, NULL, 'u' },
    { "preserve-fds", required_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  const char *process = NULL, *pid_file = NULL, *console = NULL, *cwd = NULL, *user = NULL;
  int detach = 0, tty = 0, opt;
  cleanup_strv char **envs = NULL;
  optind = 0;
  while ((opt = getopt_long_only (argc, argv, "+dtp:e:u:", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'p':
        process = optarg;
        break;
      case 'd':
        detach = 1;
        break;
      case 'P':
        pid_file = optarg;
        break;
      case 'c':
        console = optarg;
        break;
      case 't':
        tty = 1;
        break;
      case 'w':
        cwd = optarg;
        break;
      case 'e':
        {
          size_t n = fk_strv_len (envs);
          envs = xrealloc (envs, (n + 2) * sizeof *envs);
          envs[n] = xstrdup (optarg);
          envs[n + 1] = NULL;
        }
        break;
      case 'u':
        user = optarg;
        break;
      case 'f':
        if (strcmp (optarg, "0") != 0)
          return oci_failf ("exec: --preserve-fds is not supported");
        break;
      default:
        return oci_failf ("exec: unknown option");
      }
  if (optind >= argc || (process == NULL && optind + 1 >= argc))
    return oci_failf ("exec: usage: exec [--process FILE | ID CMD...] [--detach] [--pid-file F] "
                      "[--tty --console-socket S] ID");
  const char *id = argv[optind];
  fk_error_t err = FK_ERROR_INIT;
  oci_container_t c;
  if (oci_container_open (id, 0, &c, &err) < 0)
    return oci_fail (&err);
  fk_cgroup_layout_t cg = { 0 };
  fk_plan_t plan;
  fk_oci_info_t info;
  int have_plan = 0, status = 1, console_fd = -1, master = -1;
  if (fk_cgroup_detect (NULL, &cg, &err) < 0)
    goto out;
  oci_status_t s = oci_container_status (&c, &cg);
  if (s != OCI_RUNNING && s != OCI_CREATED)
    {
      fk_error_set (&err, EINVAL, "container `%s' is %s: nothing can be run in it", id,
                    oci_status_name (s));
      goto out;
    }
  if (oci_container_plan (&c, &plan, &info, &err) < 0)
    goto out;
  have_plan = 1;
  fk_plan_process_t *p = &plan.process;
  p->inherit_stdio = 1;
  p->stdio = FK_INIT_STDIO_NULL;
  if (process)
    {
      cleanup_free char *text = NULL;
      size_t len;
      int terminal = 0;
      if (fk_read_file_at (AT_FDCWD, process, FK_OCI_CONFIG_MAX, &text, &len, &err) < 0
          || fk_oci_process (text, len, p, &terminal, &err) < 0)
        goto out;
      tty |= terminal;
    }
  else
    {
      fk_strv_free (p->argv);
      p->argv = xstrvdup ((const char *const *)argv + optind + 1);
    }
  if (cwd)
    {
      free (p->cwd);
      p->cwd = xstrdup (cwd);
    }
  for (size_t i = 0; envs && envs[i]; i++)
    {
      size_t n = fk_strv_len (p->env);
      p->env = xrealloc (p->env, (n + 2) * sizeof *p->env);
      p->env[n] = xstrdup (envs[i]);
      p->env[n + 1] = NULL;
    }
  if (user)
    {
      unsigned uid, gid = 0;
      int k = sscanf (user, "%u:%u", &uid, &gid);
      if (k < 1)
        {
          fk_error_set (&err, EINVAL, "exec: --user `%s' is not UID[:GID]", user);
          goto out;
        }
      p->uid = uid;
      p->gid = gid;
    }
  if (tty)
    {
      if (console == NULL)
        {
          fk_error_set (&err, EINVAL, "exec: a terminal needs --console-socket");
          goto out;
        }
      console_fd = console_connect (console, &err);
      if (console_fd < 0)
        goto out;
      p->stdio = FK_INIT_STDIO_TTY;
      p->inherit_stdio = 0;
    }
  /* The exec'd process is a grandchild: as a subreaper fk-oci can wait for it. */
  if (!detach)
    prctl (PR_SET_CHILD_SUBREAPER, 1);
  pid_t pid;
  if (fk_plan_enter (&plan, c.pid, &cg, c.cgroup, p, &pid, &master, &err) < 0)
    goto out;
  if (tty && oci_send_console (console_fd, master, &err) < 0)
    {
      kill (pid, SIGKILL);
      goto out;
    }
  if (master >= 0)
    master = close_and_reset (master);
  if (pid_file)
    {
      char buf[32];
      int n = snprintf (buf, sizeof buf, "%d", (int)pid);
      if (fk_write_file_atomic_at (AT_FDCWD, pid_file, buf, (size_t)n, 0644, &err) < 0)
        {
          kill (pid, SIGKILL);
          goto out;
        }
    }
  oci_container_close (&c); /* the lock is not held while the process runs */
  if (detach)
    {
      status = 0;
      goto out;
    }
  child_pid = pid;
  struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
  sigemptyset (&sa.sa_mask);
  int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction (sigs[i], &sa, NULL);
  for (;;)
    {
      int st;
      pid_t w = waitpid (-1, &st, 0);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          status = 255;
          break;
        }
      if (w == pid)
        {
          status = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
          break;
        }
    }
out:
  if (status == 1 && err.code)
    oci_fail (&err);
  if (master >= 0)
    close (master);
  if (console_fd >= 0)
    close (console_fd);
  if (have_plan)
    {
      fk_plan_clear (&plan);
      fk_oci_info_clear (&info);
    }
  fk_cgroup_layout_free (&cg);
  oci_container_close (&c);
  return status;
}
