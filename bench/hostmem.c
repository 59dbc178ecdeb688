/* bench/hostmem.c: PSS/RSS from /proc, charges from the memory cgroup, used memory from
   /proc/meminfo. */
#include "bench/hostmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"

/* "key:   N kB" at the start of a line -> N * 1024 */
static int
kb_line (const char *text, const char *key, uint64_t *ret_bytes)
{
  size_t klen = strlen (key);
  for (const char *line = text; line && *line;
       line = strchr (line, '\n'), line = line ? line + 1 : NULL)
    {
      if (strncmp (line, key, klen) != 0 || line[klen] != ':')
        continue;
      char *end;
      errno = 0;
      unsigned long long v = strtoull (line + klen + 1, &end, 10);
      if (errno || end == line + klen + 1)
        return -EINVAL;
      while (*end == ' ')
        end++;
      if (strncmp (end, "kB", 2) != 0)
        return -EINVAL;
      *ret_bytes = (uint64_t)v * 1024u;
      return 0;
    }
  return -ENOENT;
}

int
fk_bench_smaps_rollup_parse (const char *text, fk_bench_proc_mem_t *ret_mem, fk_error_t *err)
{
  fk_bench_proc_mem_t m = { 0, 0 };
  int r = kb_line (text, "Rss", &m.rss_bytes);
  if (r == 0)
    r = kb_line (text, "Pss", &m.pss_bytes);
  if (r < 0)
    return fk_error_set (err, -r, "smaps_rollup: %s `Rss' or `Pss' line",
                         r == -ENOENT ? "no" : "a malformed");
  *ret_mem = m;
  return 0;
}

int
fk_bench_proc_mem (pid_t pid, fk_bench_proc_mem_t *ret_mem, fk_error_t *err)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_file_at (AT_FDCWD, path, 1 << 16, &text, &len, err) < 0)
    return -1;
  if (fk_bench_smaps_rollup_parse (text, ret_mem, err) < 0)
    return fk_error_wrap (err, "pid %d", (int)pid);
  return 0;
}

int
fk_bench_meminfo_value (const char *text, const char *key, uint64_t *ret_bytes, fk_error_t *err)
{
  int r = kb_line (text, key, ret_bytes);
  if (r < 0)
    return fk_error_set (err, -r, "meminfo: %s `%s' line", r == -ENOENT ? "no" : "a malformed",
                         key);
  return 0;
}

int
fk_bench_host_used_bytes (uint64_t *ret_bytes, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_file_at (AT_FDCWD, "/proc/meminfo", 1 << 16, &text, &len, err) < 0)
    return -1;
  uint64_t total, avail;
  if (fk_bench_meminfo_value (text, "MemTotal", &total, err) < 0
      || fk_bench_meminfo_value (text, "MemAvailable", &avail, err) < 0)
    return -1;
  *ret_bytes = total > avail ? total - avail : 0;
  return 0;
}

static int
read_u64 (const char *path, uint64_t *ret, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_file_at (AT_FDCWD, path, 4096, &text, &len, err) < 0)
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull (text, &end, 10);
  if (errno || end == text)
    return fk_error_set (err, EINVAL, "`%s': not a number", path);
  *ret = (uint64_t)v;
  return 0;
}

/* "kernel N" of a v2 memory.stat (bytes). */
static int
stat_value (const char *path, const char *key, uint64_t *ret, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_file_at (AT_FDCWD, path, 1 << 16, &text, &len, err) < 0)
    return -1;
  size_t klen = strlen (key);
  for (char *line = text; line && *line; line = strchr (line, '\n'), line = line ? line + 1 : NULL)
    if (strncmp (line, key, klen) == 0 && line[klen] == ' ')
      {
        *ret = strtoull (line + klen + 1, NULL, 10);
        return 0;
      }
  return fk_error_set (err, ENOENT, "`%s': no `%s'", path, key);
}

int
fk_bench_sandbox_mem (fk_sandbox_t *sb, fk_bench_sandbox_mem_t *ret_mem, fk_error_t *err)
{
  const fk_cgroup_layout_t *layout = &sb->cgroups;
  const char *name = sb->state->cgroup;
  fk_bench_sandbox_mem_t m = { 0 };
  cleanup_free pid_t *pids = NULL;
  if (fk_cgroup_pids (layout, name, &pids, &m.n_procs, err) < 0)
    return -1;
  for (size_t i = 0; i < m.n_procs; i++)
    {
      fk_bench_proc_mem_t pm;
      if (fk_bench_proc_mem (pids[i], &pm, err) < 0)
        return -1;
      m.pss_bytes += pm.pss_bytes;
      m.rss_bytes += pm.rss_bytes;
    }
  if (layout->version == FK_CGROUP_V2)
    {
      cleanup_free char *cur = xasprintf ("%s/%s/memory.current", layout->root, name);
      cleanup_free char *stat = xasprintf ("%s/%s/memory.stat", layout->root, name);
      if (read_u64 (cur, &m.cgroup_bytes, err) < 0
          || stat_value (stat, "kernel", &m.kernel_bytes, err) < 0)
        return -1;
    }
  else
    {
      cleanup_free char *use = xasprintf ("%s/memory/%s/memory.usage_in_bytes", layout->root, name);
      cleanup_free char *kmem
          = xasprintf ("%s/memory/%s/memory.kmem.usage_in_bytes", layout->root, name);
      if (read_u64 (use, &m.cgroup_bytes, err) < 0 || read_u64 (kmem, &m.kernel_bytes, err) < 0)
        return -1;
    }
  *ret_mem = m;
  return 0;
}
