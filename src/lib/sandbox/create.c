/* sandbox/create.c: fk_sandbox_create. The host side prepares everything that needs host
   privileges (directory, agent socket, cgroup, id maps, idmapped layers) around a clone that
   makes all namespaces at once; the child builds the rest inside them (launch.c). A failure at
   any step undoes the earlier ones: a failed create leaves nothing. */
#include "sandbox/create.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/idrange.h"
#include "sandbox/launch.h"
#include "sandbox/mount.h"
#include "sandbox/namespaces.h"
#include "sandbox/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/timeout.h"
#include "sandbox/userns.h"
#ifdef FK_HAVE_TEMPLATE
#include "firkin/template.h"
#endif

static const char default_path[]
    = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void
fk_create_new_id (char out[13])
{
  unsigned char raw[6];
  if (getrandom (raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    {
      struct timespec ts;
      clock_gettime (CLOCK_REALTIME, &ts);
      unsigned long long v = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)getpid () << 32);
      memcpy (raw, &v, sizeof raw);
    }
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf (out + 2 * i, 3, "%02x", raw[i]);
}

/* The sandbox's environment: the template's, then the spec's (a later K= replaces an earlier
   one), then PATH and HOSTNAME when missing. */
static char **
build_env (char *const *template_env, const char *const *spec_env, const char *hostname)
{
  size_t cap = fk_strv_len (template_env) + fk_strv_len ((char *const *)spec_env) + 4;
  char **env = xcalloc (cap, sizeof *env);
  size_t n = 0;
  const char *const *lists[] = { (const char *const *)template_env, spec_env };
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; lists[l] && lists[l][i]; i++)
      {
        const char *kv = lists[l][i];
        size_t klen = (size_t)(strchrnul (kv, '=') - kv);
        size_t j;
        for (j = 0; j < n; j++)
          if (strncmp (env[j], kv, klen + 1) == 0)
            break;
        if (j < n)
          free (env[j]);
        else
          n++;
        env[j] = xstrdup (kv);
      }
  int has_path = 0, has_host = 0, has_home = 0;
  for (size_t i = 0; i < n; i++)
    {
      has_path |= strncmp (env[i], "PATH=", 5) == 0;
      has_host |= strncmp (env[i], "HOSTNAME=", 9) == 0;
      has_home |= strncmp (env[i], "HOME=", 5) == 0;
    }
  if (!has_path)
    env[n++] = xstrdup (default_path);
  if (!has_host)
    env[n++] = xasprintf ("HOSTNAME=%s", hostname);
  if (!has_home)
    env[n++] = xstrdup ("HOME=/root");
  env[n] = NULL;
  return env;
}

typedef struct create_ctx
{
  fk_runtime_t *rt;
  char id[13];
  int dir_created;
  int cgroup_created;
  uint32_t id_base; /* 0 until a range is taken */
  pid_t pid;
  int pidfd;
} create_ctx_t;

static void
undo (create_ctx_t *c)
{
  fk_error_t ignored = FK_ERROR_INIT;
  if (c->pid > 0)
    {
      kill (c->pid, SIGKILL);
      while (waitpid (c->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    }
  if (c->cgroup_created)
    {
      cleanup_free char *name = xasprintf ("firkin/%s", c->id);
      fk_cgroup_kill (&c->rt->cgroups, name, 5000, &ignored);
      fk_error_clear (&ignored);
      fk_cgroup_destroy (&c->rt->cgroups, name, &ignored);
      fk_error_clear (&ignored);
    }
  if (c->id_base)
    fk_idrange_free (c->rt->state_fd, c->id_base, c->id, &ignored);
  fk_error_clear (&ignored);
  if (c->dir_created)
    fk_rm_rf_at (c->rt->sandboxes_fd, c->id, &ignored);
  fk_error_clear (&ignored);
}

static int
listen_socket (const char *path, int *ret_fd, fk_error_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof addr.sun_path)
    return fk_error_set (err, ENAMETOOLONG,
                         "agent socket path `%s' is longer than %zu bytes: use a shorter state "
                         "dir",
                         path, sizeof addr.sun_path - 1);
  strcpy (addr.sun_path, path);
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "socket");
  if (bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    return fk_error_set_errno (err, "bind `%s'", path);
  if (chmod (path, 0600) < 0)
    return fk_error_set_errno (err, "chmod `%s'", path);
  if (listen (fd, 128) < 0)
    return fk_error_set_errno (err, "listen on `%s'", path);
  *ret_fd = steal_fd (&fd);
  return 0;
}

typedef struct resolved
{
  char **layers; /* absolute, bottom first */
  char **env;    /* the template's */
  char *workdir, *user;
} resolved_t;

static void
resolved_free (resolved_t *r)
{
  fk_strv_free (r->layers);
  fk_strv_free (r->env);
  free (r->workdir);
  free (r->user);
}

static int
resolve_layers (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, resolved_t *r, fk_error_t *err)
{
  memset (r, 0, sizeof *r);
  if (spec->template_id)
    {
#ifdef FK_HAVE_TEMPLATE
      fk_template_t *t;
      if (fk_template_load (rt, spec->template_id, &t, err) < 0)
        return -1;
      size_t n = fk_strv_len (t->layers);
      r->layers = xcalloc (n + 1, sizeof (char *));
      for (size_t i = 0; i < n; i++)
        r->layers[i] = xstrdup (t->layers[i]);
      n = fk_strv_len (t->env);
      r->env = xcalloc (n + 1, sizeof (char *));
      for (size_t i = 0; i < n; i++)
        r->env[i] = xstrdup (t->env[i]);
      r->workdir = t->workdir && t->workdir[0] ? xstrdup (t->workdir) : NULL;
      r->user = t->user && t->user[0] ? xstrdup (t->user) : NULL;
      fk_template_free (t);
#else
      return fk_error_set (err, ENOTSUP,
                           "template `%s': this build has no template store; give layer "
                           "directories instead",
                           spec->template_id);
#endif
    }
  else
    {
      size_t n = fk_strv_len ((char *const *)spec->layers);
      r->layers = xcalloc (n + 1, sizeof (char *));
      for (size_t i = 0; i < n; i++)
        r->layers[i] = xstrdup (spec->layers[i]);
    }
  if (fk_strv_len (r->layers) > FK_LAUNCH_MAX_LAYERS)
    return fk_error_set (err, E2BIG, "%zu layers: at most %d are supported",
                         fk_strv_len (r->layers), FK_LAUNCH_MAX_LAYERS);
  for (size_t i = 0; r->layers[i]; i++)
    {
      struct stat st;
      if (stat (r->layers[i], &st) < 0)
        return fk_error_set_errno (err, "layer `%s'", r->layers[i]);
      if (!S_ISDIR (st.st_mode))
        return fk_error_set (err, ENOTDIR, "layer `%s' is not a directory", r->layers[i]);
    }
  return 0;
}

int
fk_sandbox_create (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb,
                   fk_error_t *err)
{
  if (fk_spec_validate (spec, err) < 0)
    return -1;
  __attribute__ ((cleanup (resolved_free))) resolved_t res = { 0 };
  if (resolve_layers (rt, spec, &res, err) < 0)
    return -1;
  cleanup_free char *agent = NULL;
  cleanup_close int exec_fd = -1;
  if (spec->init == NULL)
    {
      agent = xstrdup (rt->agent_path);
      exec_fd = open (agent, O_PATH | O_CLOEXEC);
      if (exec_fd < 0)
        return fk_error_set_errno (err, "open fk-agent `%s'", agent);
    }

  create_ctx_t c = { .rt = rt, .pid = -1, .pidfd = -1 };
  fk_create_new_id (c.id);
  if (mkdirat (rt->sandboxes_fd, c.id, 0700) < 0)
    return fk_error_set_errno (err, "make sandbox dir `%s'", c.id);
  c.dir_created = 1;
  int ret = -1;
  cleanup_free char *dir = xasprintf ("%s/sandboxes/%s", rt->state_dir, c.id);
  cleanup_free char *sock = spec->init ? NULL : xasprintf ("%s/agent.sock", dir);
  cleanup_free char *cgname = xasprintf ("firkin/%s", c.id);
  cleanup_free char *hostname
      = spec->hostname ? xstrdup (spec->hostname) : xasprintf ("fk-%.8s", c.id);
  cleanup_strv char **env = build_env (res.env, spec->env, hostname);
  cleanup_close int dirfd = -1, listen_fd = -1, deadline_fd = -1;
  cleanup_close int userns_fd = -1, cgroup_fd = -1;
  cleanup_free char *timeout_prog = NULL;
  int sync_fds[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
  int mount_fds[FK_LAUNCH_N_FDS] = { -1, -1 };
  /* Init stdio pipes: [i][0] read end, [i][1] write end; the child's ends go to the child. */
  int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
  int tty_master = -1;
  int *layer_fds = NULL;
  size_t n_layers = fk_strv_len (res.layers);
  time_t now = time (NULL);
  fk_sandbox_state_t *st = NULL;

  dirfd = openat (rt->sandboxes_fd, c.id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    {
      fk_error_set_errno (err, "open `%s'", dir);
      goto out;
    }
  /* Host ids of its own: the kernel's per-user limits are then per sandbox. */
  if (fk_idrange_alloc (rt->state_fd, c.id, &c.id_base, err) < 0)
    goto out;
  if (sock && listen_socket (sock, &listen_fd, err) < 0)
    goto out;
  if (spec->init && spec->init_stdio == FK_INIT_STDIO_PIPES)
    for (int i = 0; i < 3; i++)
      if (pipe2 (pipes[i], O_CLOEXEC) < 0)
        {
          fk_error_set_errno (err, "make the init command's stdio pipes");
          goto out;
        }
  if (spec->timeout_sec)
    {
      int wfd = openat (dirfd, "deadline", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (wfd < 0)
        {
          fk_error_set_errno (err, "create `%s/deadline'", dir);
          goto out;
        }
      int r = fk_timeout_write (wfd, (int64_t)now + (int64_t)spec->timeout_sec, err);
      close (wfd);
      if (r < 0)
        goto out;
      deadline_fd = openat (dirfd, "deadline", O_RDONLY | O_CLOEXEC);
      if (deadline_fd < 0)
        {
          fk_error_set_errno (err, "open `%s/deadline'", dir);
          goto out;
        }
      timeout_prog = fk_runtime_timeout_program (rt);
    }
  fk_cgroup_limits_t limits = { .memory_bytes = spec->resources.memory_bytes,
                                .cpus = spec->resources.vcpus,
                                .pids = spec->resources.pids };
  if (fk_cgroup_create (&rt->cgroups, cgname, &limits, err) < 0)
    goto out;
  c.cgroup_created = 1;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync_fds) < 0
      || pipe2 (err_pipe, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "socketpair");
      goto out;
    }

  fk_launch_t launch = {
    .sync_fd = sync_fds[1],
    .error_fd = err_pipe[1],
    .exec_fd = exec_fd,
    .listen_fd = listen_fd,
    .init_stdio = spec->init ? spec->init_stdio : FK_INIT_STDIO_NULL,
    .stdio_fds = { pipes[0][0], pipes[1][1], pipes[2][1] },
    .tty_rows = spec->init_rows,
    .tty_cols = spec->init_cols,
    .hostname = hostname,
    .workdir = spec->workdir ? spec->workdir
               : res.workdir ? res.workdir
                             : "/",
    .user = spec->user ? spec->user : res.user,
    .env = env,
    .init = spec->init,
    .seccomp = &spec->seccomp,
  };
  int join_fds[FK_CGROUP_V1_N] = { -1, -1, -1, -1 };
  if (rt->cgroups.version == FK_CGROUP_V2)
    {
      cgroup_fd = fk_cgroup_open_dir (&rt->cgroups, cgname, err);
      if (cgroup_fd < 0)
        goto out;
    }
  else
    {
      fk_error_t local = FK_ERROR_INIT;
      if (fk_cgroup_open_join_fds (&rt->cgroups, cgname, join_fds, &local) < 0)
        fk_error_clear (&local); /* then the host moves it by pid */
    }
  memcpy (launch.cgroup_join_fds, join_fds, sizeof join_fds);
  c.pid = fk_namespaces_clone (cgroup_fd, &c.pidfd);
  if (c.pid < 0)
    {
      fk_error_set_errno (err, "clone the sandbox's namespaces");
      goto out;
    }
  if (c.pid == 0)
    {
      close (sync_fds[0]);
      close (err_pipe[0]);
      fk_launch_child (&launch);
    }
  for (size_t i = 0; i < FK_CGROUP_V1_N; i++)
    close_and_reset (join_fds[i]);
  /* The child's ends of the stdio pipes are the child's alone. */
  close_and_reset (pipes[0][0]);
  close_and_reset (pipes[1][1]);
  close_and_reset (pipes[2][1]);
  close (sync_fds[1]);
  sync_fds[1] = -1;
  close (err_pipe[1]);
  err_pipe[1] = -1;

  if (fk_userns_write_maps (c.pid, c.id_base, FK_USERNS_SIZE, err) < 0
      || (cgroup_fd < 0 && join_fds[0] < 0
          && fk_cgroup_add_pid (&rt->cgroups, cgname, c.pid, err) < 0))
    goto out;
  char nspath[64];
  snprintf (nspath, sizeof nspath, "/proc/%d/ns/user", (int)c.pid);
  userns_fd = open (nspath, O_RDONLY | O_CLOEXEC);
  if (userns_fd < 0)
    {
      fk_error_set_errno (err, "open `%s'", nspath);
      goto out;
    }
  layer_fds = xcalloc (n_layers + 1, sizeof (int));
  for (size_t i = 0; i < n_layers; i++)
    layer_fds[i] = -1;
  for (size_t i = 0; i < n_layers; i++)
    if (fk_userns_idmapped_tree (userns_fd, res.layers[i], &layer_fds[i], err) < 0)
      goto out;
  if (fk_mount_build_overlay (layer_fds, n_layers, spec->resources.disk_bytes, c.id_base, c.id_base,
                              &mount_fds[FK_LAUNCH_FD_ROOT], &mount_fds[FK_LAUNCH_FD_SCRATCH], err)
          < 0
      || fk_launch_release (sync_fds[0], mount_fds, err) < 0)
    goto out;
  /* A terminal comes back before the child execs; if the child failed first, its error says
     why better than the closed socket does. */
  if (launch.init_stdio == FK_INIT_STDIO_TTY
      && fk_launch_receive_fds (sync_fds[0], &tty_master, 1, err) < 0)
    {
      fk_error_t why = FK_ERROR_INIT;
      if (fk_launch_result (err_pipe[0], &why) < 0)
        {
          fk_error_clear (err);
          *err = why;
        }
      fk_error_wrap (err, "start sandbox");
      goto out;
    }
  if (fk_launch_result (err_pipe[0], err) < 0)
    {
      fk_error_wrap (err, "start sandbox");
      goto out;
    }
  /* The deadline is kept from outside: nothing in the sandbox can stop it. */
  if (deadline_fd >= 0 && fk_timeout_spawn (timeout_prog, deadline_fd, c.pidfd, err) < 0)
    goto out;

  st = xcalloc (1, sizeof *st);
  st->id = xstrdup (c.id);
  st->template_id = spec->template_id ? xstrdup (spec->template_id) : NULL;
  st->layers = steal_pointer (&res.layers);
  st->pid = c.pid;
  if (fk_state_start_time (c.pid, 1, &st->start_time, err) < 0)
    {
      fk_error_wrap (err, "sandbox PID 1 ended at once");
      goto out;
    }
  st->boot_id = fk_state_boot_id ();
  st->id_base = c.id_base;
  st->socket = sock ? xstrdup (sock) : NULL;
  st->cgroup = xstrdup (cgname);
  st->cgroup_version = (int)rt->cgroups.version;
  st->cgroup_root = xstrdup (rt->cgroups.root);
  st->resources = spec->resources;
  st->created = (int64_t)now;
  st->expires = spec->timeout_sec ? (int64_t)now + (int64_t)spec->timeout_sec : 0;
  size_t nmeta = fk_strv_len ((char *const *)spec->metadata);
  st->metadata = xcalloc (nmeta + 1, sizeof (char *));
  for (size_t i = 0; i < nmeta; i++)
    st->metadata[i] = xstrdup (spec->metadata[i]);
  if (fk_state_save (dirfd, st, err) < 0)
    goto out;

  fk_sandbox_t *sb = fk_sandbox_new_handle (rt, openat (dirfd, ".", O_PATH | O_CLOEXEC), st);
  st = NULL;
  sb->is_child = 1;
  if (launch.init_stdio == FK_INIT_STDIO_PIPES)
    {
      sb->stdio_fds[0] = steal_fd (&pipes[0][1]);
      sb->stdio_fds[1] = steal_fd (&pipes[1][0]);
      sb->stdio_fds[2] = steal_fd (&pipes[2][0]);
    }
  else if (launch.init_stdio == FK_INIT_STDIO_TTY)
    sb->stdio_fds[0] = steal_fd (&tty_master);
  *ret_sb = sb;
  ret = 0;
out:
  for (size_t i = 0; layer_fds && i < n_layers; i++)
    if (layer_fds[i] >= 0)
      close (layer_fds[i]);
  free (layer_fds);
  for (int i = 0; i < 2; i++)
    {
      if (sync_fds[i] >= 0)
        close (sync_fds[i]);
      if (err_pipe[i] >= 0)
        close (err_pipe[i]);
      if (mount_fds[i] >= 0)
        close (mount_fds[i]);
      for (int j = 0; j < 3; j++)
        if (pipes[j][i] >= 0)
          close (pipes[j][i]);
    }
  if (tty_master >= 0)
    close (tty_master);
  if (c.pidfd >= 0)
    close (c.pidfd);
  fk_state_free (st);
  if (ret < 0)
    undo (&c);
  return ret;
}
