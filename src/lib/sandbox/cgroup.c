/* sandbox/cgroup.c: cgroup v1 and v2 behind one interface. Control files are opened with
   O_CREAT so the same code drives a fake tree (a plain directory) in unit tests; on a real
   cgroupfs every control file exists and O_CREAT changes nothing. */
#include "sandbox/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/clock.h"
#include "base/xalloc.h"

/* The v1 controllers a sandbox uses; freezer first: it also lists the processes. */
static const char *const v1_controllers[] = { "freezer", "memory", "cpu", "pids", NULL };

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
  nanosleep (&ts, NULL);
}

/* The cgroup's directory in one hierarchy: v2 ignores controller. */
static char *
cg_dir (const fk_cgroup_layout_t *layout, const char *controller, const char *name)
{
  if (layout->version == FK_CGROUP_V2)
    return xasprintf ("%s/%s", layout->root, name);
  return xasprintf ("%s/%s/%s", layout->root, controller, name);
}

static int
write_file (const char *dir, const char *file, const char *value, fk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  /* cgroupfs takes one write per value; a short write is an error, not a retry. */
  ssize_t n = write (fd, value, strlen (value));
  if (n < 0)
    return fk_error_set_errno (err, "write `%s' to `%s'", value, path);
  if ((size_t)n != strlen (value))
    return fk_error_set (err, EIO, "short write of `%s' to `%s'", value, path);
  return 0;
}

static int
read_file (const char *dir, const char *file, char **ret, fk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  size_t len;
  if (fk_read_all (fd, 1 << 20, ret, &len, err) < 0)
    return fk_error_wrap (err, "read `%s'", path);
  return 0;
}

/* In a fake tree the control files are plain files: remove them so rmdir works. */
static void
remove_fake_files (const char *dir)
{
  struct statfs sfs;
  if (statfs (dir, &sfs) < 0 || sfs.f_type == CGROUP_SUPER_MAGIC
      || sfs.f_type == CGROUP2_SUPER_MAGIC)
    return;
  cleanup_dir DIR *d = opendir (dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir (d)))
    if (e->d_type == DT_REG)
      unlinkat (dirfd (d), e->d_name, 0);
}

/* The value of "key N" in a flat keyed file (memory.events, cgroup.events, memory.oom_control). */
static int
keyed_value (const char *text, const char *key, uint64_t *ret)
{
  size_t klen = strlen (key);
  for (const char *p = text; p && *p; p = strchr (p, '\n') ? strchr (p, '\n') + 1 : NULL)
    if (strncmp (p, key, klen) == 0 && p[klen] == ' ')
      {
        *ret = strtoull (p + klen + 1, NULL, 10);
        return 1;
      }
  return 0;
}

int
fk_cgroup_detect (const char *root, fk_cgroup_layout_t *ret_layout, fk_error_t *err)
{
  if (root == NULL)
    root = getenv ("FIRKIN_CGROUP_ROOT");
  if (root == NULL || root[0] == '\0')
    root = "/sys/fs/cgroup";
  const char *forced = getenv ("FIRKIN_CGROUP_VERSION");
  fk_cgroup_version_t version;
  if (forced && strcmp (forced, "1") == 0)
    version = FK_CGROUP_V1;
  else if (forced && strcmp (forced, "2") == 0)
    version = FK_CGROUP_V2;
  else if (forced && forced[0])
    return fk_error_set (err, EINVAL, "FIRKIN_CGROUP_VERSION is `%s': expected 1 or 2", forced);
  else
    {
      struct statfs sfs;
      if (statfs (root, &sfs) < 0)
        return fk_error_set_errno (err, "statfs `%s'", root);
      if (sfs.f_type == CGROUP2_SUPER_MAGIC)
        version = FK_CGROUP_V2;
      else
        {
          cleanup_free char *mem = xasprintf ("%s/memory", root);
          struct statfs msfs;
          if (statfs (mem, &msfs) < 0 || msfs.f_type != CGROUP_SUPER_MAGIC)
            return fk_error_set (err, ENOTSUP,
                                 "`%s' is neither a cgroup2 mount nor a cgroup v1 tree "
                                 "(no memory controller mount at `%s')",
                                 root, mem);
          version = FK_CGROUP_V1;
        }
    }
  ret_layout->version = version;
  ret_layout->root = xstrdup (root);
  return 0;
}

void
fk_cgroup_layout_free (fk_cgroup_layout_t *layout)
{
  free (layout->root);
  layout->root = NULL;
}

/* The controllers a sandbox's limits use, as a mask. */
enum
{
  CG_MEMORY = 1 << 0,
  CG_CPU = 1 << 1,
  CG_PIDS = 1 << 2,
};
static const struct
{
  unsigned bit;
  const char *name;
} limit_controllers[] = { { CG_MEMORY, "memory" }, { CG_CPU, "cpu" }, { CG_PIDS, "pids" } };
#define N_LIMIT_CONTROLLERS (sizeof limit_controllers / sizeof limit_controllers[0])

static unsigned
needed_controllers (const fk_cgroup_limits_t *limits)
{
  return (limits->memory_bytes ? CG_MEMORY : 0u) | (limits->cpus > 0 ? CG_CPU : 0u)
         | (limits->pids ? CG_PIDS : 0u);
}

/* Reads a whole number out of a /proc file; 0 when unreadable. */
static uint64_t
proc_u64 (const char *path, const char *key)
{
  cleanup_free char *text = NULL;
  size_t len;
  fk_error_t ignored = FK_ERROR_INIT;
  if (fk_read_file_at (AT_FDCWD, path, 1 << 16, &text, &len, &ignored) < 0)
    {
      fk_error_clear (&ignored);
      return 0;
    }
  const char *p = text;
  if (key)
    {
      p = strstr (text, key);
      if (p == NULL)
        return 0;
      p += strlen (key);
    }
  return strtoull (p, NULL, 10);
}

void
fk_cgroup_parent_limits_for (uint64_t pid_max, uint64_t threads_max, uint64_t mem_total,
                             fk_cgroup_parent_limits_t *ret)
{
  memset (ret, 0, sizeof *ret);
  uint64_t tasks = pid_max && threads_max ? (pid_max < threads_max ? pid_max : threads_max)
                                          : pid_max | threads_max;
  ret->pids = tasks / 4 * 3;
  if (mem_total)
    {
      uint64_t reserve = mem_total / 10 > (1ULL << 30) ? mem_total / 10 : 1ULL << 30;
      if (reserve > mem_total / 2)
        reserve = mem_total / 2;
      /* Whole MiB: the kernel keeps whole pages, so the file reads back what was written. */
      ret->memory_bytes = (mem_total - reserve) & ~((1ULL << 20) - 1);
    }
  ret->cpu_weight = FK_CGROUP_PARENT_CPU_WEIGHT;
}

void
fk_cgroup_parent_limits_host (fk_cgroup_parent_limits_t *ret)
{
  fk_cgroup_parent_limits_for (proc_u64 ("/proc/sys/kernel/pid_max", NULL),
                               proc_u64 ("/proc/sys/kernel/threads-max", NULL),
                               proc_u64 ("/proc/meminfo", "MemTotal:") * 1024, ret);
}

/* v2: the controllers of `limit_controllers' that the root offers (its cgroup.controllers). */
static int
v2_available (const fk_cgroup_layout_t *layout, unsigned *ret_mask, fk_error_t *err)
{
  cleanup_free char *avail = NULL;
  if (read_file (layout->root, "cgroup.controllers", &avail, err) < 0)
    return -1;
  unsigned mask = 0;
  for (char *save = NULL, *tok = strtok_r (avail, " \n", &save); tok;
       tok = strtok_r (NULL, " \n", &save))
    for (size_t i = 0; i < N_LIMIT_CONTROLLERS; i++)
      if (strcmp (tok, limit_controllers[i].name) == 0)
        mask |= limit_controllers[i].bit;
  *ret_mask = mask;
  return 0;
}

/* v2: enables the controllers of mask in every cgroup from the root down to name's parent, one
   write per level. */
static int
v2_enable (const fk_cgroup_layout_t *layout, const char *name, unsigned mask, fk_error_t *err)
{
  char value[64] = "";
  for (size_t i = 0; i < N_LIMIT_CONTROLLERS; i++)
    if (mask & limit_controllers[i].bit)
      {
        if (value[0])
          strcat (value, " ");
        strcat (value, "+");
        strcat (value, limit_controllers[i].name);
      }
  if (value[0] == '\0')
    return 0;
  cleanup_free char *dir = xstrdup (layout->root);
  cleanup_free char *rest = xstrdup (name);
  /* Every ancestor of the sandbox's cgroup: the root, then each component but the last. */
  char *save = NULL;
  char *comp = strtok_r (rest, "/", &save);
  while (comp)
    {
      if (write_file (dir, "cgroup.subtree_control", value, err) < 0)
        return -1;
      char *next = strtok_r (NULL, "/", &save);
      if (next == NULL)
        break;
      char *d = xasprintf ("%s/%s", dir, comp);
      free (dir);
      dir = d;
      comp = next;
    }
  return 0;
}

/* Makes dir, and its parents when missing; *ret_made says whether this call made dir itself
   (one that exists already is success with 0). */
static int
make_dir (const char *dir, int *ret_made, fk_error_t *err)
{
  *ret_made = 0;
  int r = mkdir (dir, 0755);
  if (r < 0 && errno == ENOENT)
    {
      cleanup_free char *up = NULL, *base = NULL;
      fk_path_split (dir, &up, &base);
      if (fk_mkdir_p (up, 0755, err) < 0)
        return -1;
      r = mkdir (dir, 0755);
    }
  if (r == 0)
    *ret_made = 1;
  else if (errno != EEXIST)
    return fk_error_set_errno (err, "mkdir cgroup `%s'", dir);
  return 0;
}

/* Writes the limit of controller (v1: the hierarchy's; NULL on v2: all of mask) on the sandboxes'
   parent cgroup at dir, made just now. */
static int
set_parent_limits (const fk_cgroup_layout_t *layout, const char *dir, const char *controller,
                   unsigned mask, fk_error_t *err)
{
  fk_cgroup_parent_limits_t pl;
  fk_cgroup_parent_limits_host (&pl);
  char buf[64];
  int v1 = layout->version == FK_CGROUP_V1;
  if ((v1 ? strcmp (controller, "memory") == 0 : (mask & CG_MEMORY) != 0) && pl.memory_bytes)
    {
      snprintf (buf, sizeof buf, "%" PRIu64, pl.memory_bytes);
      if (write_file (dir, v1 ? "memory.limit_in_bytes" : "memory.max", buf, err) < 0)
        return -1;
    }
  if ((v1 ? strcmp (controller, "cpu") == 0 : (mask & CG_CPU) != 0) && pl.cpu_weight)
    {
      /* v1 shares: 1024 is the default, as weight 100 is on v2. */
      snprintf (buf, sizeof buf, "%u", v1 ? pl.cpu_weight * 1024 / 100 : pl.cpu_weight);
      if (write_file (dir, v1 ? "cpu.shares" : "cpu.weight", buf, err) < 0)
        return -1;
    }
  if ((v1 ? strcmp (controller, "pids") == 0 : (mask & CG_PIDS) != 0) && pl.pids)
    {
      snprintf (buf, sizeof buf, "%" PRIu64, pl.pids);
      if (write_file (dir, "pids.max", buf, err) < 0)
        return -1;
    }
  return 0;
}

static int
set_limits_v1 (const fk_cgroup_layout_t *layout, const char *name, const fk_cgroup_limits_t *limits,
               fk_error_t *err)
{
  char buf[64];
  if (limits->memory_bytes)
    {
      cleanup_free char *dir = cg_dir (layout, "memory", name);
      snprintf (buf, sizeof buf, "%" PRIu64, limits->memory_bytes);
      if (write_file (dir, "memory.limit_in_bytes", buf, err) < 0)
        return -1;
      /* With swap accounting the limit covers memory+swap too, so a sandbox cannot swap past it. */
      cleanup_free char *memsw = xasprintf ("%s/memory.memsw.limit_in_bytes", dir);
      if (access (memsw, F_OK) == 0
          && write_file (dir, "memory.memsw.limit_in_bytes", buf, err) < 0)
        return -1;
    }
  if (limits->cpus > 0)
    {
      cleanup_free char *dir = cg_dir (layout, "cpu", name);
      if (write_file (dir, "cpu.cfs_period_us", "100000", err) < 0)
        return -1;
      snprintf (buf, sizeof buf, "%lld", (long long)(limits->cpus * 100000.0 + 0.5));
      if (write_file (dir, "cpu.cfs_quota_us", buf, err) < 0)
        return -1;
    }
  if (limits->pids)
    {
      cleanup_free char *dir = cg_dir (layout, "pids", name);
      snprintf (buf, sizeof buf, "%" PRIu64, limits->pids);
      if (write_file (dir, "pids.max", buf, err) < 0)
        return -1;
    }
  return 0;
}

static int
set_limits_v2 (const fk_cgroup_layout_t *layout, const char *name, const fk_cgroup_limits_t *limits,
               fk_error_t *err)
{
  char buf[64];
  cleanup_free char *dir = cg_dir (layout, "", name);
  if (limits->memory_bytes)
    {
      snprintf (buf, sizeof buf, "%" PRIu64, limits->memory_bytes);
      if (write_file (dir, "memory.max", buf, err) < 0)
        return -1;
      /* No swap beyond the limit either (a missing file means no swap accounting). */
      cleanup_free char *swap = xasprintf ("%s/memory.swap.max", dir);
      if (access (swap, F_OK) == 0 && write_file (dir, "memory.swap.max", "0", err) < 0)
        return -1;
    }
  if (limits->cpus > 0)
    {
      snprintf (buf, sizeof buf, "%lld 100000", (long long)(limits->cpus * 100000.0 + 0.5));
      if (write_file (dir, "cpu.max", buf, err) < 0)
        return -1;
    }
  if (limits->pids)
    {
      snprintf (buf, sizeof buf, "%" PRIu64, limits->pids);
      if (write_file (dir, "pids.max", buf, err) < 0)
        return -1;
    }
  return 0;
}

/* Removes a parent this create made but could not set up, so the next create makes it again
   (and writes its limits) instead of using it without them. */
static void
unmake_parent (const char *dir)
{
  remove_fake_files (dir);
  rmdir (dir);
}

static int
create_once_v2 (const fk_cgroup_layout_t *layout, const char *name,
                const fk_cgroup_limits_t *limits, fk_error_t *err)
{
  unsigned avail;
  if (v2_available (layout, &avail, err) < 0)
    return -1;
  unsigned needed = needed_controllers (limits);
  for (size_t i = 0; i < N_LIMIT_CONTROLLERS; i++)
    if ((needed & limit_controllers[i].bit) && !(avail & limit_controllers[i].bit))
      return fk_error_set (err, ENOTSUP,
                           "cgroup v2 controller `%s' is not available at `%s' (see its "
                           "cgroup.controllers)",
                           limit_controllers[i].name, layout->root);
  cleanup_free char *parent = NULL, *base = NULL;
  fk_path_split (name, &parent, &base);
  int made = 0;
  cleanup_free char *pdir = cg_dir (layout, "", parent);
  if (strcmp (parent, ".") != 0 && make_dir (pdir, &made, err) < 0)
    return fk_error_wrap (err, "cgroup `%s'", name);
  /* Every limit controller the root offers goes on, in the ancestors before the child exists
     (as the kernel needs): the parent's limits need them in the root, and a sandbox without a
     limit still gets its usage accounted (memory.current). Where the kernel refuses (EBUSY: a
     delegated root that holds processes), only the sandbox's own limits' controllers must. */
  unsigned enabled = avail;
  fk_error_t extra = FK_ERROR_INIT;
  if (v2_enable (layout, name, avail, &extra) < 0)
    {
      enabled = needed;
      if (needed == avail || v2_enable (layout, name, needed, err) < 0)
        {
          if (!fk_error_is_set (err))
            fk_error_set (err, extra.code, "%s", fk_error_message (&extra));
          fk_error_clear (&extra);
          if (made)
            unmake_parent (pdir);
          return -1;
        }
      fk_error_clear (&extra);
    }
  if (made && set_parent_limits (layout, pdir, NULL, enabled, err) < 0)
    {
      unmake_parent (pdir);
      return -1;
    }
  cleanup_free char *dir = cg_dir (layout, "", name);
  if (mkdir (dir, 0755) < 0)
    return fk_error_set_errno (err, "mkdir cgroup `%s'", dir);
  if (set_limits_v2 (layout, name, limits, err) < 0)
    {
      rmdir (dir);
      return -1;
    }
  return 0;
}

/* v1: the sandbox's cgroup in the hierarchy of ctl, and its parent with its limit when this
   call makes it. */
static int
make_v1 (const fk_cgroup_layout_t *layout, const char *ctl, const char *name, fk_error_t *err)
{
  cleanup_free char *parent = NULL, *base = NULL;
  fk_path_split (name, &parent, &base);
  int made = 0;
  cleanup_free char *pdir = cg_dir (layout, ctl, parent);
  if (strcmp (parent, ".") != 0 && make_dir (pdir, &made, err) < 0)
    return -1;
  if (made && set_parent_limits (layout, pdir, ctl, 0, err) < 0)
    {
      unmake_parent (pdir);
      return -1;
    }
  cleanup_free char *dir = cg_dir (layout, ctl, name);
  return make_dir (dir, &made, err);
}

static int
create_once_v1 (const fk_cgroup_layout_t *layout, const char *name,
                const fk_cgroup_limits_t *limits, fk_error_t *err)
{
  for (size_t i = 0; v1_controllers[i]; i++)
    if (make_v1 (layout, v1_controllers[i], name, err) < 0)
      {
        fk_error_t ignored = FK_ERROR_INIT;
        fk_cgroup_destroy (layout, name, &ignored);
        fk_error_clear (&ignored);
        return fk_error_wrap (err, "cgroup v1 controller `%s'", v1_controllers[i]);
      }
  if (set_limits_v1 (layout, name, limits, err) < 0)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      fk_cgroup_destroy (layout, name, &ignored);
      fk_error_clear (&ignored);
      return -1;
    }
  return 0;
}

int
fk_cgroup_add_pid (const fk_cgroup_layout_t *layout, const char *name, pid_t pid, fk_error_t *err)
{
  char buf[32];
  snprintf (buf, sizeof buf, "%d", (int)pid);
  if (layout->version == FK_CGROUP_V2)
    {
      cleanup_free char *dir = cg_dir (layout, "", name);
      return write_file (dir, "cgroup.procs", buf, err);
    }
  for (size_t i = 0; v1_controllers[i]; i++)
    {
      cleanup_free char *dir = cg_dir (layout, v1_controllers[i], name);
      if (write_file (dir, "cgroup.procs", buf, err) < 0)
        return -1;
    }
  return 0;
}

int
fk_cgroup_open_dir (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err)
{
  if (layout->version != FK_CGROUP_V2)
    return fk_error_set (err, ENOTSUP, "cgroup v1 has no directory fd to clone into");
  cleanup_free char *dir = cg_dir (layout, "", name);
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open cgroup `%s'", dir);
  return fd;
}

int
fk_cgroup_open_join_fds (const fk_cgroup_layout_t *layout, const char *name,
                         int fds[FK_CGROUP_V1_N], fk_error_t *err)
{
  for (size_t i = 0; i < FK_CGROUP_V1_N; i++)
    fds[i] = -1;
  if (layout->version != FK_CGROUP_V1)
    return fk_error_set (err, ENOTSUP, "joining by tasks files is for cgroup v1");
  for (size_t i = 0; v1_controllers[i] && i < FK_CGROUP_V1_N; i++)
    {
      cleanup_free char *dir = cg_dir (layout, v1_controllers[i], name);
      cleanup_free char *path = xasprintf ("%s/tasks", dir);
      fds[i] = open (path, O_WRONLY | O_CLOEXEC);
      if (fds[i] < 0)
        {
          fk_error_set_errno (err, "open `%s'", path);
          for (size_t j = 0; j <= i; j++)
            fds[j] = close_and_reset (fds[j]);
          return -1;
        }
    }
  return 0;
}

int
fk_cgroup_join_self (const int fds[FK_CGROUP_V1_N], fk_error_t *err)
{
  for (size_t i = 0; i < FK_CGROUP_V1_N; i++)
    if (fds[i] >= 0 && write (fds[i], "0", 1) != 1)
      return fk_error_set_errno (err, "join the sandbox's cgroup (%s)", v1_controllers[i]);
  return 0;
}

int
fk_cgroup_pids (const fk_cgroup_layout_t *layout, const char *name, pid_t **ret_pids, size_t *ret_n,
                fk_error_t *err)
{
  cleanup_free char *dir = cg_dir (layout, "freezer", name);
  cleanup_free char *text = NULL;
  if (read_file (dir, "cgroup.procs", &text, err) < 0)
    return -1;
  pid_t *pids = NULL;
  size_t n = 0, cap = 0;
  for (char *save = NULL, *tok = strtok_r (text, "\n", &save); tok;
       tok = strtok_r (NULL, "\n", &save))
    {
      xgrow ((void **)&pids, &cap, n + 1, sizeof *pids);
      pids[n++] = (pid_t)atoi (tok);
    }
  *ret_pids = pids;
  *ret_n = n;
  return 0;
}

/* A whole number file ("max" and v1's "no limit" of nearly 2^63 read as 0: no limit). */
static int
limit_value (const char *text, uint64_t *ret)
{
  if (strncmp (text, "max", 3) == 0)
    {
      *ret = 0;
      return 0;
    }
  char *end;
  errno = 0;
  unsigned long long v = strtoull (text, &end, 10);
  if (errno || end == text)
    return -1;
  *ret = v >= (1ULL << 62) ? 0 : v;
  return 0;
}

static int
read_u64 (const char *dir, const char *file, uint64_t *ret, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  if (read_file (dir, file, &text, err) < 0)
    return -1;
  if (limit_value (text, ret) < 0)
    return fk_error_set (err, EINVAL, "`%s/%s' does not hold a number", dir, file);
  return 0;
}

int
fk_cgroup_task_count (const fk_cgroup_layout_t *layout, const char *name, uint64_t *ret_n,
                      fk_error_t *err)
{
  cleanup_free char *dir = cg_dir (layout, "pids", name);
  return read_u64 (dir, "pids.current", ret_n, err);
}

int
fk_cgroup_is_frozen (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  if (layout->version == FK_CGROUP_V2)
    {
      cleanup_free char *dir = cg_dir (layout, "", name);
      if (read_file (dir, "cgroup.events", &text, err) < 0)
        return -1;
      uint64_t v = 0;
      keyed_value (text, "frozen", &v);
      return v ? 1 : 0;
    }
  cleanup_free char *dir = cg_dir (layout, "freezer", name);
  if (read_file (dir, "freezer.state", &text, err) < 0)
    return -1;
  return strncmp (text, "FROZEN", 6) == 0;
}

int
fk_cgroup_freeze (const fk_cgroup_layout_t *layout, const char *name, int frozen, fk_error_t *err)
{
  int ret;
  if (layout->version == FK_CGROUP_V2)
    {
      cleanup_free char *dir = cg_dir (layout, "", name);
      ret = write_file (dir, "cgroup.freeze", frozen ? "1" : "0", err);
    }
  else
    {
      cleanup_free char *dir = cg_dir (layout, "freezer", name);
      ret = write_file (dir, "freezer.state", frozen ? "FROZEN" : "THAWED", err);
    }
  if (ret < 0)
    return -1;
  /* The kernel freezes asynchronously: poll until it says so (10 s at most). A sandbox of idle
     processes is frozen a few microseconds after the write, so the first waits are short (50 us,
     doubled up to 1 ms): a flat 1 ms wait made every freeze cost a millisecond. */
  uint64_t deadline = fk_now_ms () + 10000;
  long wait_us = 50;
  for (;;)
    {
      int state = fk_cgroup_is_frozen (layout, name, err);
      if (state < 0)
        return -1;
      if (state == !!frozen)
        return 0;
      if (fk_now_ms () > deadline)
        return fk_error_set (err, ETIMEDOUT, "cgroup `%s' did not %s within 10 s", name,
                             frozen ? "freeze" : "thaw");
      if (layout->version == FK_CGROUP_V1 && frozen)
        {
          /* v1 may stay FREEZING when a task was busy; writing again retries it. */
          cleanup_free char *dir = cg_dir (layout, "freezer", name);
          if (write_file (dir, "freezer.state", "FROZEN", err) < 0)
            return -1;
        }
      struct timespec ts = { .tv_sec = 0, .tv_nsec = wait_us * 1000L };
      nanosleep (&ts, NULL);
      if (wait_us < 1000)
        wait_us = wait_us * 2 < 1000 ? wait_us * 2 : 1000;
    }
}

int
fk_cgroup_kill (const fk_cgroup_layout_t *layout, const char *name, unsigned timeout_ms,
                fk_error_t *err)
{
  int frozen = fk_cgroup_is_frozen (layout, name, err);
  if (frozen < 0)
    return -1;
  if (layout->version == FK_CGROUP_V2)
    {
      cleanup_free char *dir = cg_dir (layout, "", name);
      if (write_file (dir, "cgroup.kill", "1", err) < 0)
        return -1;
    }
  /* A frozen task only dies once thawed (v1: a SIGKILL stays pending while FROZEN). */
  if (frozen && fk_cgroup_freeze (layout, name, 0, err) < 0)
    return -1;
  uint64_t deadline = fk_now_ms () + timeout_ms;
  for (;;)
    {
      cleanup_free pid_t *pids = NULL;
      size_t n;
      if (fk_cgroup_pids (layout, name, &pids, &n, err) < 0)
        return -1;
      if (n == 0)
        return 0;
      /* v1 has no cgroup.kill: SIGKILL each member, again each round for late forks. */
      if (layout->version == FK_CGROUP_V1)
        for (size_t i = 0; i < n; i++)
          kill (pids[i], SIGKILL);
      if (fk_now_ms () > deadline)
        return fk_error_set (err, ETIMEDOUT, "cgroup `%s' still has %zu processes after %u ms",
                             name, n, timeout_ms);
      sleep_ms (1);
    }
}

int
fk_cgroup_create (const fk_cgroup_layout_t *layout, const char *name,
                  const fk_cgroup_limits_t *limits, fk_error_t *err)
{
  /* The `firkin' parent is removed with the last sandbox (fk_cgroup_destroy): a create that
     races that removal sees ENOENT between making the parent and the child, and tries again. */
  for (int attempt = 0;; attempt++)
    {
      fk_error_t e = FK_ERROR_INIT;
      int r = layout->version == FK_CGROUP_V2 ? create_once_v2 (layout, name, limits, &e)
                                              : create_once_v1 (layout, name, limits, &e);
      if (r == 0)
        return 0;
      if (e.code != ENOENT || attempt >= 8)
        {
          fk_error_set (err, e.code, "%s", fk_error_message (&e));
          fk_error_clear (&e);
          return -1;
        }
      fk_error_clear (&e);
    }
}

/* Removes dir's parent when it is left empty (the `firkin' parent after the last sandbox); a
   parent that still has children stays (EBUSY, ENOTEMPTY). */
static void
remove_parent_if_empty (const char *dir)
{
  cleanup_free char *parent = NULL, *base = NULL;
  fk_path_split (dir, &parent, &base);
  rmdir (parent);
}

static int
remove_dir (const char *dir, fk_error_t *err)
{
  /* The last task leaves the cgroup a moment after it is reaped: EBUSY means not yet. */
  for (int i = 0; i < 2000; i++)
    {
      if (rmdir (dir) == 0 || errno == ENOENT)
        return 0;
      if (errno != EBUSY)
        break;
      sleep_ms (1);
    }
  return fk_error_set_errno (err, "rmdir cgroup `%s'", dir);
}

int
fk_cgroup_destroy (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err)
{
  int ret = 0;
  if (layout->version == FK_CGROUP_V2)
    {
      cleanup_free char *dir = cg_dir (layout, "", name);
      remove_fake_files (dir);
      if (remove_dir (dir, err) < 0)
        return -1;
      remove_parent_if_empty (dir);
      return 0;
    }
  for (size_t i = 0; v1_controllers[i]; i++)
    {
      cleanup_free char *dir = cg_dir (layout, v1_controllers[i], name);
      remove_fake_files (dir);
      if (remove_dir (dir, err) < 0)
        ret = -1;
      else
        remove_parent_if_empty (dir);
    }
  return ret;
}

int
fk_cgroup_open_freeze (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err)
{
  int v2 = layout->version == FK_CGROUP_V2;
  cleanup_free char *dir = cg_dir (layout, "freezer", name);
  cleanup_free char *path = xasprintf ("%s/%s", dir, v2 ? "cgroup.freeze" : "freezer.state");
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  return fd;
}

int
fk_cgroup_usage (const fk_cgroup_layout_t *layout, const char *name, fk_cgroup_usage_t *ret_usage,
                 fk_error_t *err)
{
  fk_cgroup_usage_t u = { 0 };
  int v2 = layout->version == FK_CGROUP_V2;
  cleanup_free char *mem = cg_dir (layout, "memory", name);
  cleanup_free char *cpu = cg_dir (layout, "cpu", name);
  cleanup_free char *stat = NULL;
  if (read_u64 (mem, v2 ? "memory.current" : "memory.usage_in_bytes", &u.mem_current, err) == 0)
    {
      u.has_mem = 1;
      if (read_u64 (mem, v2 ? "memory.max" : "memory.limit_in_bytes", &u.mem_limit, err) < 0
          || read_file (mem, "memory.stat", &stat, err) < 0)
        return -1;
      uint64_t file = 0, shmem = 0;
      keyed_value (stat, v2 ? "file" : "total_cache", &file);
      keyed_value (stat, v2 ? "shmem" : "total_shmem", &shmem);
      u.mem_cache = file > shmem ? file - shmem : 0;
      if (u.mem_cache > u.mem_current)
        u.mem_cache = u.mem_current;
    }
  else if (err->code == ENOENT)
    fk_error_clear (err); /* v2 without the memory controller */
  else
    return -1;
  if (v2)
    {
      /* cpu.stat is a core file of every v2 cgroup, with or without the cpu controller. */
      cleanup_free char *cs = NULL;
      if (read_file (cpu, "cpu.stat", &cs, err) < 0)
        return -1;
      u.has_cpu = keyed_value (cs, "usage_usec", &u.cpu_usec);
    }
  else
    {
      cleanup_free char *path = xasprintf ("%s/cpuacct.usage", cpu);
      if (access (path, F_OK) == 0)
        {
          uint64_t ns;
          if (read_u64 (cpu, "cpuacct.usage", &ns, err) < 0)
            return -1;
          u.cpu_usec = ns / 1000;
          u.has_cpu = 1;
        }
    }
  *ret_usage = u;
  return 0;
}

int
fk_cgroup_oom_kills (const fk_cgroup_layout_t *layout, const char *name, uint64_t *ret_count,
                     fk_error_t *err)
{
  cleanup_free char *text = NULL;
  cleanup_free char *dir = cg_dir (layout, "memory", name);
  if (read_file (dir, layout->version == FK_CGROUP_V2 ? "memory.events" : "memory.oom_control",
                 &text, err)
      < 0)
    return -1;
  uint64_t v = 0;
  keyed_value (text, "oom_kill", &v);
  *ret_count = v;
  return 0;
}
