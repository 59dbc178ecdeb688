/* sandbox/usage.c: what a sandbox uses (fk_sandbox_usage) and what happened to it
   (fk_sandbox_events). CPU time and memory come from its own cgroup; where the layout lacks a
   number (v1 without cpuacct beside cpu, v2 without the memory controller) the sandbox's live
   processes are summed from /proc instead. The disk is the tmpfs that holds its writable layer,
   seen through its PID 1's root: the overlay reports its upper layer's filesystem. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/events.h"
#include "sandbox/sandbox.h"

/* utime + stime + cutime + cstime (clock ticks) and the resident pages of one process. */
static int
proc_times (pid_t pid, uint64_t *ret_ticks, uint64_t *ret_rss_pages)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  cleanup_free char *text = NULL;
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (AT_FDCWD, path, 4096, &text, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return -1;
    }
  /* The name may hold spaces and parentheses: the fields start after the last ')'. */
  char *p = strrchr (text, ')');
  if (p == NULL)
    return -1;
  p++;
  /* Field 3 (state) is the first after ')'; utime is 14, rss 24. */
  unsigned long long v[22] = { 0 };
  char *save = NULL;
  int i = 3;
  for (char *tok = strtok_r (p, " ", &save); tok && i <= 24; tok = strtok_r (NULL, " ", &save), i++)
    if (i >= 14 && i - 14 < 22)
      v[i - 14] = strtoull (tok, NULL, 10);
  if (i <= 24)
    return -1;
  *ret_ticks = v[0] + v[1] + v[2] + v[3];
  *ret_rss_pages = v[10];
  return 0;
}

/* The sums over the cgroup's processes: the CPU time of the live ones and of the children they
   reaped (PID 1 reaps the orphans), their resident memory. */
static int
proc_usage (fk_sandbox_t *sb, uint64_t *ret_cpu_usec, uint64_t *ret_rss, fk_error_t *err)
{
  cleanup_free pid_t *pids = NULL;
  size_t n;
  if (fk_cgroup_pids (&sb->cgroups, sb->state->cgroup, &pids, &n, err) < 0)
    return -1;
  uint64_t ticks = 0, pages = 0;
  for (size_t i = 0; i < n; i++)
    {
      uint64_t t, r;
      if (proc_times (pids[i], &t, &r) == 0)
        {
          ticks += t;
          pages += r;
        }
    }
  long hz = sysconf (_SC_CLK_TCK);
  *ret_cpu_usec = ticks * (1000000 / (uint64_t)(hz > 0 ? hz : 100));
  *ret_rss = pages * (uint64_t)sysconf (_SC_PAGESIZE);
  return 0;
}

static uint64_t
host_memory (void)
{
  long pages = sysconf (_SC_PHYS_PAGES), size = sysconf (_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

int
fk_sandbox_usage (fk_sandbox_t *sb, fk_sandbox_usage_t *ret_usage, fk_error_t *err)
{
  const fk_sandbox_state_t *st = sb->state;
  if (!fk_state_alive (st))
    return fk_error_set (err, ESRCH, "sandbox `%s' is not running", st->id);
  fk_sandbox_usage_t u = { 0 };
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  u.time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  u.mono_us = fk_now_ns () / 1000;

  /* The disk first: /proc/<pid>/root is PID 1's root, the overlay, whose statfs is its upper
     layer's tmpfs. Checked against PID 1's identity after, so a reused pid is never read. */
  char root[64];
  snprintf (root, sizeof root, "/proc/%d/root", (int)st->pid);
  struct statfs sfs;
  if (statfs (root, &sfs) < 0)
    return fk_error_set_errno (err, "statfs the root of sandbox `%s'", st->id);
  if (!fk_state_alive (st))
    return fk_error_set (err, ESRCH, "sandbox `%s' is not running", st->id);
  u.disk_total = (uint64_t)sfs.f_blocks * (uint64_t)sfs.f_bsize;
  u.disk_used = (uint64_t)(sfs.f_blocks - sfs.f_bfree) * (uint64_t)sfs.f_bsize;

  fk_cgroup_usage_t cg = { 0 };
  fk_error_t local = FK_ERROR_INIT;
  if (fk_cgroup_usage (&sb->cgroups, st->cgroup, &cg, &local) < 0)
    memset (&cg, 0, sizeof cg);
  fk_error_clear (&local);
  u.cpu_usec = cg.cpu_usec;
  u.mem_cache = cg.mem_cache;
  u.mem_used = cg.mem_current - cg.mem_cache;
  if (!cg.has_cpu || !cg.has_mem)
    {
      uint64_t cpu, rss;
      if (proc_usage (sb, &cpu, &rss, err) < 0)
        return fk_error_wrap (err, "usage of sandbox `%s'", st->id);
      if (!cg.has_cpu)
        u.cpu_usec = cpu;
      if (!cg.has_mem)
        u.mem_used = rss;
    }
  u.mem_total = cg.mem_limit ? cg.mem_limit : st->resources.memory_bytes;
  if (u.mem_total == 0)
    u.mem_total = host_memory ();
  long online = sysconf (_SC_NPROCESSORS_ONLN);
  u.cpu_count = st->resources.vcpus > 0 ? st->resources.vcpus : (double)(online > 0 ? online : 1);
  *ret_usage = u;
  return 0;
}

double
fk_sandbox_usage_cpu_pct (const fk_sandbox_usage_t *before, const fk_sandbox_usage_t *after)
{
  if (after->mono_us <= before->mono_us || after->cpu_usec <= before->cpu_usec
      || after->cpu_count <= 0)
    return 0;
  double pct = (double)(after->cpu_usec - before->cpu_usec)
               / ((double)(after->mono_us - before->mono_us) * after->cpu_count) * 100.0;
  return pct > 100.0 ? 100.0 : pct;
}

int
fk_sandbox_events (fk_sandbox_t *sb, fk_sandbox_event_t **ret_events, size_t *ret_n,
                   fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (fk_read_file_at (sb->dirfd, "events", 4 * FK_SANDBOX_EVENTS_MAX, &text, &len, err) < 0)
    {
      if (err->code != ENOENT)
        return fk_error_wrap (err, "events of sandbox `%s'", sb->state->id);
      fk_error_clear (err);
    }
  fk_events_parse (text ? text : "", len, ret_events, ret_n);
  return 0;
}

void
fk_sandbox_events_free (fk_sandbox_event_t *events, size_t n)
{
  for (size_t i = 0; events && i < n; i++)
    {
      free (events[i].name);
      free (events[i].detail);
    }
  free (events);
}
