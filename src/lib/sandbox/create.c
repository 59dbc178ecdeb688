/* sandbox/create.c: fk_sandbox_create: a spec becomes a plan (fk_sandbox_plan: firkin's sandbox
   as mounts, ids, limits and a process), and firkin's policy goes around the plan's start
   (start.c, launch.c): the state dir, the agent as PID 1 with its socket, a host id range of
   its own, the deadline watchdog, the state file. A failure at any step undoes the earlier
   ones: a failed create leaves nothing. */
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/env.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "net/egress.h"
#include "net/resolver.h"
#include "net/slots.h"
#include "sandbox/events.h"
#include "sandbox/idrange.h"
#include "sandbox/launch.h"
#include "sandbox/network.h"
#include "sandbox/plan.h"
#include "sandbox/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/timeout.h"
#include "sandbox/userns.h"

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

/* The sandbox's environment: PATH, HOSTNAME and HOME unless the spec sets them, then the spec's
   (the template's merged in already, by whoever resolved it). */
static char **
build_env (const char *const *spec_env, const char *hostname)
{
  cleanup_free char *host = xasprintf ("HOSTNAME=%s", hostname);
  char *defaults[] = { (char *)default_path, host, (char *)"HOME=/root", NULL };
  char *const *const lists[] = { defaults, (char *const *)spec_env };
  cleanup_free char **merged = fk_env_merge (lists, 2);
  return xstrvdup ((const char *const *)merged);
}

/* The sandbox area takes layers; template ids are the template area's to resolve. */
static int
unresolved (const fk_sandbox_spec_t *spec, fk_error_t *err)
{
  if (spec->template_id)
    return fk_error_set (err, EINVAL,
                         "sandbox spec: template `%s' is not resolved to layers "
                         "(fk_template_resolve)",
                         spec->template_id);
  return fk_error_set (err, EINVAL, "sandbox spec: no layers");
}

int
fk_sandbox_plan (const fk_sandbox_spec_t *spec, const char *id, uint32_t id_base,
                 fk_plan_t *ret_plan, fk_error_t *err)
{
  if (spec->layers == NULL || spec->layers[0] == NULL)
    return unresolved (spec, err);
  fk_plan_t p;
  fk_plan_init (&p);
  p.id = xstrdup (id);
  p.hostname = spec->hostname ? xstrdup (spec->hostname) : xasprintf ("fk-%.8s", id);
  /* One range of host ids per sandbox: the kernel's per-user limits are then per sandbox. */
  p.uid_map[0] = p.gid_map[0] = (fk_plan_idmap_t){ 0, id_base, FK_USERNS_SIZE };
  p.n_uid_map = p.n_gid_map = 1;
  p.root.kind = FK_PLAN_ROOT_LAYERS;
  p.root.layers = xstrvdup (spec->layers);
  p.disk_bytes = spec->resources.disk_bytes;
  fk_plan_add_default_mounts (&p);
  p.cgroup = xasprintf ("firkin/%s", id);
  p.limits = (fk_cgroup_limits_t){ .memory_bytes = spec->resources.memory_bytes,
                                   .cpus = spec->resources.vcpus,
                                   .pids = spec->resources.pids };
  p.data_plane = spec->data_plane.kind;
  p.write_etc = 1;
  p.seccomp_unconfined = spec->seccomp.unconfined;
  p.seccomp_deny = xstrvdup (spec->seccomp.deny);
  p.seccomp_allow = xstrvdup (spec->seccomp.allow);
  fk_plan_process_t *proc = &p.process;
  proc->env = build_env (spec->env, p.hostname);
  proc->cwd = xstrdup (spec->workdir ? spec->workdir : "/");
  if (spec->init)
    {
      proc->argv = xstrvdup (spec->init);
      proc->stdio = spec->init_stdio;
      proc->rows = spec->init_rows;
      proc->cols = spec->init_cols;
    }
  else
    {
      /* firkin's policy: the agent is PID 1, its log on the sandbox's disk, its socket fd 3.
         No --hostname: it is set already, and the agent has no CAP_SYS_ADMIN to set it. */
      const char *argv[]
          = { "fk-agent", "--listen-fd", "3", spec->user ? "--user" : NULL, spec->user, NULL };
      proc->argv = xstrvdup (argv);
      proc->log_to_disk = 1;
    }
  *ret_plan = p;
  return 0;
}

int
fk_agent_listen_socket (const char *path, int *ret_fd, fk_error_t *err)
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

static int
check_layers (char *const *layers, fk_error_t *err)
{
  for (size_t i = 0; layers[i]; i++)
    {
      struct stat st;
      if (stat (layers[i], &st) < 0)
        return fk_error_set_errno (err, "layer `%s'", layers[i]);
      if (!S_ISDIR (st.st_mode))
        return fk_error_set (err, ENOTDIR, "layer `%s' is not a directory", layers[i]);
    }
  return 0;
}

/* The deadline file the watchdog reads: written once, then opened for reading. */
static int
write_deadline (int dirfd, int64_t when, int *ret_fd, fk_error_t *err)
{
  cleanup_close int wfd = openat (dirfd, "deadline", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (wfd < 0)
    return fk_error_set_errno (err, "create the deadline file");
  if (fk_timeout_write (wfd, when, err) < 0)
    return -1;
  *ret_fd = openat (dirfd, "deadline", O_RDONLY | O_CLOEXEC);
  if (*ret_fd < 0)
    return fk_error_set_errno (err, "open the deadline file");
  return 0;
}

static fk_sandbox_state_t *
new_state (const fk_runtime_t *rt, const fk_sandbox_spec_t *spec, const fk_plan_t *plan,
           const char *sock, uint32_t id_base, time_t now)
{
  fk_sandbox_state_t *st = xcalloc (1, sizeof *st);
  st->id = xstrdup (plan->id);
  st->template_id = spec->template_id ? xstrdup (spec->template_id) : NULL;
  st->layers = xstrvdup (spec->layers);
  st->boot_id = fk_state_boot_id ();
  st->id_base = id_base;
  st->socket = sock ? xstrdup (sock) : NULL;
  st->cgroup = xstrdup (plan->cgroup);
  st->cgroup_version = (int)rt->cgroups.version;
  st->cgroup_root = xstrdup (rt->cgroups.root);
  st->resources = spec->resources;
  st->created = (int64_t)now;
  st->expires = spec->timeout_sec ? (int64_t)now + (int64_t)spec->timeout_sec : 0;
  st->timeout_action = spec->timeout_action;
  st->metadata = xstrvdup (spec->metadata);
  fk_sandbox_spec_dup (spec, &st->spec);
  if (st->metadata == NULL)
    st->metadata = xcalloc (1, sizeof (char *));
  return st;
}

/* spec -> plan, plus firkin's policy around it: the state dir, the agent binary and socket, the
   host id range, the deadline watchdog, the state file. */
int
fk_sandbox_create (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb,
                   fk_error_t *err)
{
  return fk_sandbox_create_as (rt, spec, NULL, ret_sb, err);
}

int
fk_sandbox_create_as (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, const fk_create_as_t *as,
                      fk_sandbox_t **ret_sb, fk_error_t *err)
{
  if (fk_spec_validate (spec, err) < 0)
    return -1;
  if (spec->layers == NULL || spec->layers[0] == NULL)
    return unresolved (spec, err);
  if (fk_strv_len ((char *const *)spec->layers) > FK_LAUNCH_MAX_LAYERS)
    return fk_error_set (err, E2BIG, "%zu layers: at most %d are supported",
                         fk_strv_len ((char *const *)spec->layers), FK_LAUNCH_MAX_LAYERS);
  if (check_layers ((char *const *)spec->layers, err) < 0)
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

  char id[65];
  if (as)
    snprintf (id, sizeof id, "%s", as->id);
  else
    fk_create_new_id (id);
  if (!as && mkdirat (rt->sandboxes_fd, id, 0700) < 0)
    return fk_error_set_errno (err, "make sandbox dir `%s'", id);
  int ret = -1;
  uint32_t id_base = 0;
  unsigned net_slot = 0;
  cleanup_free char *dir = xasprintf ("%s/sandboxes/%s", rt->state_dir, id);
  cleanup_free char *sock = spec->init ? NULL : xasprintf ("%s/agent.sock", dir);
  cleanup_close int dirfd = -1, listen_fd = -1, deadline_fd = -1;
  cleanup_free char *timeout_prog = NULL;
  time_t now = time (NULL);
  fk_plan_t plan = { 0 };
  fk_plan_started_t started = { .pid = -1, .pidfd = -1, .stdio_fds = { -1, -1, -1 } };
  fk_sandbox_state_t *st = NULL;

  dirfd = openat (rt->sandboxes_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* The lifecycle lock until the state is saved: a sweep leaves a create in progress alone.
     Waited for: a sweep that saw the new directory before this lock holds its own a moment. */
  int locked;
  while ((locked = dirfd < 0 ? -1 : as ? 0 : flock (dirfd, LOCK_EX)) < 0 && errno == EINTR)
    ;
  if (locked < 0)
    {
      fk_error_set_errno (err, "open `%s'", dir);
      goto out;
    }
  if (fk_idrange_alloc (rt->state_fd, id, &id_base, err) < 0
      || fk_sandbox_plan (spec, id, id_base, &plan, err) < 0)
    goto out;
  if (spec->data_plane.kind == FK_DATA_PLANE_EGRESS)
    {
      fk_net_config_t cfg;
      if (fk_net_config_load (&cfg, err) < 0
          || fk_net_slot_alloc (rt->state_fd, id, fk_net_config_slots (&cfg), &net_slot, err) < 0)
        goto out;
      plan.net_slot = net_slot;
      plan.net_allow = xstrvdup (spec->data_plane.allow_out);
      plan.net_deny = xstrvdup (spec->data_plane.deny_out);
      plan.net_bytes_per_sec = spec->data_plane.egress_bytes_per_sec;
      plan.net_max_connections = spec->data_plane.max_connections;
      plan.net_gen = fk_egress_new_generation ();
      plan.net_rules_path = xasprintf ("%s/net.rules", dir);
      plan.net_resolver = xstrdup (rt->resolver_path);
      plan.net_resolver_log = xasprintf ("%s/resolver.log", dir);
      plan.net_resolver_hub = xasprintf ("%s/net", rt->state_dir);
      if (fk_resolver_rules_write (plan.net_rules_path, plan.net_gen, spec->data_plane.allow_out,
                                   spec->data_plane.deny_out, err)
          < 0)
        goto out;
    }
  if (sock && fk_agent_listen_socket (sock, &listen_fd, err) < 0)
    goto out;
  if (spec->timeout_sec)
    {
      if (write_deadline (dirfd, (int64_t)now + (int64_t)spec->timeout_sec, &deadline_fd, err) < 0)
        goto out;
      timeout_prog = fk_runtime_timeout_program (rt);
    }
  fk_plan_io_t io = { .cgroups = &rt->cgroups, .exec_fd = exec_fd, .listen_fd = listen_fd };
  if (fk_plan_start (&plan, &io, &started, err) < 0)
    goto out;
  /* The deadline is kept from outside: nothing in the sandbox can stop it. */
  if (deadline_fd >= 0)
    {
      fk_error_t local = FK_ERROR_INIT;
      cleanup_close int freeze_fd = fk_cgroup_open_freeze (&rt->cgroups, plan.cgroup, &local);
      fk_error_clear (&local);
      /* A descriptor of its own: dirfd's holds the lock, which a copy would keep held. */
      cleanup_close int wdir = openat (dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (wdir < 0)
        {
          fk_error_set_errno (err, "open `%s'", dir);
          goto out;
        }
      fk_timeout_fds_t tfds
          = { .deadline = deadline_fd, .pid1 = started.pidfd, .dir = wdir, .freeze = freeze_fd };
      if (fk_timeout_spawn (timeout_prog, &tfds, spec->timeout_action, err) < 0)
        goto out;
    }

  st = new_state (rt, spec, &plan, sock, id_base, now);
  if (as)
    st->created = as->created;
  st->pid = started.pid;
  st->net_slot = net_slot;
  st->net_resolver = started.net_helper;
  if (fk_state_start_time (started.pid, 1, &st->start_time, err) < 0)
    {
      fk_error_wrap (err, "sandbox PID 1 ended at once");
      goto out;
    }
  if (fk_state_save (dirfd, st, err) < 0)
    goto out;
  if (spec->timeout_sec)
    fk_events_append (dirfd, "created", "template %s, timeout %llu s, then %s",
                      spec->template_id ? spec->template_id : "(layers)",
                      (unsigned long long)spec->timeout_sec,
                      spec->timeout_action == FK_TIMEOUT_PAUSE ? "pause" : "delete");
  else
    fk_events_append (dirfd, "created", "template %s, no timeout",
                      spec->template_id ? spec->template_id : "(layers)");

  fk_sandbox_t *sb = fk_sandbox_new_handle (rt, openat (dirfd, ".", O_PATH | O_CLOEXEC), st);
  st = NULL;
  sb->is_child = 1;
  memcpy (sb->stdio_fds, started.stdio_fds, sizeof sb->stdio_fds);
  for (int i = 0; i < 3; i++)
    started.stdio_fds[i] = -1;
  *ret_sb = sb;
  ret = 0;
out:
  started.pidfd = close_and_reset (started.pidfd);
  fk_state_free (st);
  if (ret < 0)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      fk_plan_undo (&plan, &rt->cgroups, &started);
      if (id_base)
        fk_idrange_free (rt->state_fd, id_base, id, &ignored);
      fk_error_clear (&ignored);
      /* fk_plan_undo removed the slot's rules and interface. */
      if (net_slot)
        fk_net_slot_free (rt->state_fd, net_slot, id, &ignored);
      fk_error_clear (&ignored);
      if (as)
        {
          /* The directory and its state stay for another try; what this try made goes. */
          if (dirfd >= 0)
            {
              unlinkat (dirfd, "agent.sock", 0);
              unlinkat (dirfd, "deadline", 0);
            }
        }
      else
        fk_rm_rf_at (rt->sandboxes_fd, id, &ignored);
      fk_error_clear (&ignored);
    }
  fk_plan_clear (&plan);
  return ret;
}
