/* sandbox/state.c: state.json. The start time of PID 1 and the boot id make the pid safe to use
   later: a pid reused by another process, or a file surviving a reboot, does not match. */
#include "sandbox/state.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "sandbox/spec.h"
#include "sandbox/speccodec.h"

void
fk_state_free (fk_sandbox_state_t *st)
{
  if (st == NULL)
    return;
  free (st->id);
  free (st->template_id);
  fk_strv_free (st->layers);
  free (st->boot_id);
  free (st->socket);
  free (st->cgroup);
  free (st->cgroup_root);
  fk_strv_free (st->metadata);
  fk_sandbox_spec_free (st->spec);
  free (st->disk_snapshot);
  free (st);
}

/* The parts of the spec a state keeps, written by the spec's codec under "spec" (a state from
   before that has them at the top: "template", "layers", "limits" and "metadata", an object). */
static const char *const spec_fields[]
    = { "template_id", "layers",   "resources",  "env",     "workdir",        "user",
        "hostname",    "metadata", "data_plane", "seccomp", "timeout_action", NULL };

static int write_alive (int dirfd, const fk_sandbox_state_t *st, fk_error_t *err);

int
fk_state_save (int dirfd, const fk_sandbox_state_t *st, fk_error_t *err)
{
  fk_sandbox_spec_t view;
  fk_sandbox_spec_init (&view);
  if (st->spec)
    view = *st->spec;
  view.init = NULL;
  view.template_id = st->template_id;
  view.layers = (const char *const *)st->layers;
  view.resources = st->resources;
  view.metadata = (const char *const *)st->metadata;
  view.timeout_action = st->timeout_action;
  cleanup_json json_t *spec = NULL;
  if (fk_spec_json_encode (&view, spec_fields, &spec, err) < 0)
    return fk_error_wrap (err, "state of sandbox `%s'", st->id);
  cleanup_json json_t *j = json_pack (
      "{s:s, s:O, s:I, s:I, s:s, s:o, s:s, s:i, s:s, s:I, s:I, s:b, s:I}", "id", st->id, "spec",
      spec, "pid", (json_int_t)st->pid, "start_time", (json_int_t)st->start_time, "boot_id",
      st->boot_id, "socket", st->socket ? json_string (st->socket) : json_null (), "cgroup",
      st->cgroup, "cgroup_version", st->cgroup_version, "cgroup_root", st->cgroup_root, "created",
      (json_int_t)st->created, "expires", (json_int_t)st->expires, "stopped", st->stopped,
      "id_base", (json_int_t)st->id_base);
  if (j == NULL)
    return fk_error_set (err, EINVAL, "state of sandbox `%s': cannot build the JSON", st->id);
  if (st->net_slot)
    json_object_set_new (j, "net_slot", json_integer ((json_int_t)st->net_slot));
  if (st->net_resolver > 0)
    json_object_set_new (j, "net_resolver", json_integer ((json_int_t)st->net_resolver));
  if (st->disk_snapshot)
    json_object_set_new (j, "paused_to_disk",
                         json_pack ("{s:s, s:I}", "snapshot", st->disk_snapshot, "remaining",
                                    (json_int_t)st->disk_remaining));
  /* Atomic (temp file + rename) but not fsynced: a state can only matter in the boot that wrote
     it (the boot id says so), and a crash before the data is on disk is a reboot. */
  cleanup_free char *text = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (text == NULL)
    return fk_error_set (err, ENOMEM, "state of sandbox `%s': cannot serialise it", st->id);
  char tmp[64];
  snprintf (tmp, sizeof tmp, ".state.json.%d", (int)getpid ());
  cleanup_close int fd
      = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return fk_error_set_errno (err, "create the state of sandbox `%s'", st->id);
  size_t len = strlen (text);
  if (fk_write_all (fd, text, len, err) < 0 || fk_write_all (fd, "\n", 1, err) < 0)
    {
      unlinkat (dirfd, tmp, 0);
      return -1;
    }
  if (fk_replace_at (dirfd, tmp, "state.json") < 0)
    {
      fk_error_set_errno (err, "replace the state of sandbox `%s'", st->id);
      unlinkat (dirfd, tmp, 0);
      return -1;
    }
  return write_alive (dirfd, st, err);
}

/* The `alive' mark: a symlink whose target is "BOOT_ID PID EXPIRES ACTION", kept with every
   save of the state, gone when the sandbox was stopped on purpose or paused to disk. A symlink, so
   that the sweep of every fk call reads it with one readlinkat and no file read or JSON parse. */
static int
write_alive (int dirfd, const fk_sandbox_state_t *st, fk_error_t *err)
{
  if (st->stopped || st->pid <= 0 || st->disk_snapshot)
    {
      if (unlinkat (dirfd, FK_STATE_ALIVE, 0) < 0 && errno != ENOENT)
        return fk_error_set_errno (err, "remove the alive mark of sandbox `%s'", st->id);
      return 0;
    }
  char target[160], tmp[64];
  snprintf (target, sizeof target, "%s %d %lld %d", st->boot_id, (int)st->pid,
            (long long)st->expires, (int)st->timeout_action);
  /* Most saves change nothing of it (the rules, the metadata): then it stays. */
  char old[160];
  ssize_t n = readlinkat (dirfd, FK_STATE_ALIVE, old, sizeof old - 1);
  if (n > 0 && (size_t)n == strlen (target) && memcmp (old, target, (size_t)n) == 0)
    return 0;
  snprintf (tmp, sizeof tmp, ".alive.%d", (int)getpid ());
  unlinkat (dirfd, tmp, 0);
  if (symlinkat (target, dirfd, tmp) < 0)
    return fk_error_set_errno (err, "mark sandbox `%s' alive", st->id);
  if (fk_replace_at (dirfd, tmp, FK_STATE_ALIVE) < 0)
    {
      fk_error_set_errno (err, "mark sandbox `%s' alive", st->id);
      unlinkat (dirfd, tmp, 0);
      return -1;
    }
  return 0;
}

int
fk_state_quick_alive (int sandboxes_fd, const char *id, const char *boot_id, time_t now)
{
  char path[FK_STATE_ID_MAX + sizeof "/" FK_STATE_ALIVE];
  if (strlen (id) > FK_STATE_ID_MAX)
    return 0;
  snprintf (path, sizeof path, "%s/%s", id, FK_STATE_ALIVE);
  char target[160];
  ssize_t n = readlinkat (sandboxes_fd, path, target, sizeof target - 1);
  if (n <= 0)
    return 0;
  target[n] = '\0';
  char boot[64];
  int pid, action;
  long long expires;
  if (sscanf (target, "%63s %d %lld %d", boot, &pid, &expires, &action) != 4 || pid <= 0
      || strcmp (boot, boot_id) != 0)
    return 0;
  /* Past a deadline that deletes: the slow path decides (the watchdog may have died). */
  if (expires && now >= expires && action == FK_TIMEOUT_DELETE)
    return 0;
  /* Its PID 1 runs: a pidfd of it is not readable (it is once the process has exited, a zombie
     too: the host's init may collect it late). A pid reused by another process makes a dead
     sandbox look alive until that one ends: the sweep is only later, never wrong, since every
     removal is decided on the full state. */
  cleanup_close int fd = (int)syscall (SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0)
    return 0;
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll (&p, 1, 0) == 0;
}

static int
get_strv (const json_t *obj, const char *key, char ***ret, fk_error_t *err)
{
  json_t *a;
  int r = fk_json_get_array (obj, key, 0, &a, err);
  if (r < 0)
    return -1;
  size_t n = r ? json_array_size (a) : 0;
  char **v = xcalloc (n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    {
      const char *s = json_string_value (json_array_get (a, i));
      if (s == NULL)
        {
          fk_strv_free (v);
          return fk_error_set (err, EINVAL, "`%s'[%zu] is not a string", key, i);
        }
      v[i] = xstrdup (s);
    }
  *ret = v;
  return 0;
}

static int
get_nullable_string (const json_t *obj, const char *key, char **ret, fk_error_t *err)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL || json_is_null (v))
    {
      *ret = NULL;
      return 0;
    }
  if (!json_is_string (v))
    return fk_error_set (err, EINVAL, "`%s' is not a string", key);
  *ret = xstrdup (json_string_value (v));
  return 0;
}

/* "spec": the spec's codec, without the value rules (a state written under older ones still
   loads). */
static int
load_spec (const json_t *j, fk_sandbox_state_t *st, fk_error_t *err)
{
  fk_sandbox_spec_t *spec = NULL;
  if (fk_spec_json_decode (j, &spec, err) < 0)
    return -1;
  st->template_id = (char *)steal_pointer (&spec->template_id);
  st->layers = (char **)steal_pointer (&spec->layers);
  st->metadata = (char **)steal_pointer (&spec->metadata);
  st->resources = spec->resources;
  st->timeout_action = spec->timeout_action;
  st->spec = spec;
  /* Readers split metadata at its '='. */
  for (size_t i = 0; st->metadata && st->metadata[i]; i++)
    if (fk_spec_check_kv (st->metadata[i], "metadata", err) < 0)
      return -1;
  return 0;
}

/* The same parts in a state from before "spec". */
static int
load_legacy_spec (const json_t *j, fk_sandbox_state_t *st, fk_error_t *err)
{
  long long v;
  if (get_nullable_string (j, "template", &st->template_id, err) < 0
      || get_strv (j, "layers", &st->layers, err) < 0)
    return -1;
  json_t *limits;
  if (fk_json_get_object (j, "limits", 1, &limits, err) < 0)
    return -1;
  if (fk_json_get_number (limits, "vcpus", 0, &st->resources.vcpus, err) < 0)
    return -1;
  v = 0;
  if (fk_json_get_int (limits, "memory", 0, &v, err) < 0)
    return -1;
  st->resources.memory_bytes = (uint64_t)v;
  v = 0;
  if (fk_json_get_int (limits, "disk", 0, &v, err) < 0)
    return -1;
  st->resources.disk_bytes = (uint64_t)v;
  v = 0;
  if (fk_json_get_int (limits, "pids", 0, &v, err) < 0)
    return -1;
  st->resources.pids = (uint64_t)v;
  json_t *meta;
  int r = fk_json_get_object (j, "metadata", 0, &meta, err);
  if (r < 0)
    return -1;
  size_t n = r ? json_object_size (meta) : 0, i = 0;
  st->metadata = xcalloc (n + 1, sizeof (char *));
  if (r)
    {
      const char *k;
      json_t *mv;
      json_object_foreach (meta, k, mv)
      {
        if (!json_is_string (mv))
          return fk_error_set (err, EINVAL, "metadata `%s' is not a string", k);
        st->metadata[i++] = xasprintf ("%s=%s", k, json_string_value (mv));
      }
    }
  return 0;
}

static int
load (const json_t *j, fk_sandbox_state_t *st, fk_error_t *err)
{
  const char *s;
  long long v;
  if (fk_json_get_string (j, "id", 1, &s, err) < 0)
    return -1;
  st->id = xstrdup (s);
  if (get_nullable_string (j, "socket", &st->socket, err) < 0)
    return -1;
  if (fk_json_get_int (j, "pid", 1, &v, err) < 0)
    return -1;
  st->pid = (pid_t)v;
  if (fk_json_get_int (j, "start_time", 1, &v, err) < 0)
    return -1;
  st->start_time = (unsigned long long)v;
  if (fk_json_get_string (j, "boot_id", 1, &s, err) < 0)
    return -1;
  st->boot_id = xstrdup (s);
  if (fk_json_get_string (j, "cgroup", 1, &s, err) < 0)
    return -1;
  st->cgroup = xstrdup (s);
  if (fk_json_get_string (j, "cgroup_root", 1, &s, err) < 0)
    return -1;
  st->cgroup_root = xstrdup (s);
  if (fk_json_get_int (j, "cgroup_version", 1, &v, err) < 0)
    return -1;
  if (v != 1 && v != 2)
    return fk_error_set (err, EINVAL, "`cgroup_version' is %lld: expected 1 or 2", v);
  st->cgroup_version = (int)v;
  json_t *spec = json_object_get (j, "spec");
  if (spec != NULL ? load_spec (spec, st, err) < 0 : load_legacy_spec (j, st, err) < 0)
    return -1;
  /* Readers take both as lists. */
  if (st->layers == NULL)
    st->layers = xcalloc (1, sizeof (char *));
  if (st->metadata == NULL)
    st->metadata = xcalloc (1, sizeof (char *));
  if (fk_json_get_int (j, "created", 1, &v, err) < 0)
    return -1;
  st->created = v;
  v = 0;
  if (fk_json_get_int (j, "expires", 0, &v, err) < 0)
    return -1;
  st->expires = v;
  if (fk_json_get_bool (j, "stopped", 0, &st->stopped, err) < 0)
    return -1;
  v = 0;
  if (fk_json_get_int (j, "id_base", 0, &v, err) < 0)
    return -1;
  if (v < 0 || v > UINT32_MAX)
    return fk_error_set (err, EINVAL, "id_base %lld is not a host id", v);
  st->id_base = (uint32_t)v;
  v = 0;
  if (fk_json_get_int (j, "net_slot", 0, &v, err) < 0)
    return -1;
  if (v < 0 || v > 65535)
    return fk_error_set (err, EINVAL, "net_slot %lld is not a network slot", v);
  st->net_slot = (unsigned)v;
  v = 0;
  if (fk_json_get_int (j, "net_resolver", 0, &v, err) < 0)
    return -1;
  if (v < 0 || v > INT32_MAX)
    return fk_error_set (err, EINVAL, "net_resolver %lld is not a pid", v);
  st->net_resolver = (pid_t)v;
  json_t *disk = json_object_get (j, "paused_to_disk");
  if (disk != NULL)
    {
      if (fk_json_get_string (disk, "snapshot", 1, &s, err) < 0)
        return fk_error_wrap (err, "paused_to_disk");
      st->disk_snapshot = xstrdup (s);
      v = 0;
      if (fk_json_get_int (disk, "remaining", 0, &v, err) < 0)
        return fk_error_wrap (err, "paused_to_disk");
      if (v < 0)
        return fk_error_set (err, EINVAL, "paused_to_disk: remaining %lld is negative", v);
      st->disk_remaining = v;
    }
  return 0;
}

int
fk_state_load (int dirfd, fk_sandbox_state_t **ret_st, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (fk_json_load_file_at (dirfd, "state.json", 1 << 20, &j, err) < 0)
    return -1;
  if (!json_is_object (j))
    return fk_error_set (err, EINVAL, "state.json is not an object");
  fk_sandbox_state_t *st = xcalloc (1, sizeof *st);
  if (load (j, st, err) < 0)
    {
      fk_state_free (st);
      return fk_error_wrap (err, "state.json");
    }
  *ret_st = st;
  return 0;
}

int
fk_state_parse_stat (const char *text, char *ret_state, unsigned long long *ret_start,
                     fk_error_t *err)
{
  /* The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
   */
  const char *p = strrchr (text, ')');
  if (p == NULL)
    return fk_error_set (err, EINVAL, "/proc/PID/stat: no `)' after the command name");
  p++;
  while (*p == ' ')
    p++;
  char state = *p;
  /* Field 3 (state) is here; the start time is field 22, 19 fields further. */
  for (int field = 3; field < 22; field++)
    {
      while (*p == ' ')
        p++;
      if (*p == '\0')
        return fk_error_set (err, EINVAL, "/proc/PID/stat: only %d fields", field - 1);
      while (*p && *p != ' ')
        p++;
    }
  while (*p == ' ')
    p++;
  char *end;
  errno = 0;
  unsigned long long v = strtoull (p, &end, 10);
  if (end == p || errno)
    return fk_error_set (err, EINVAL, "/proc/PID/stat: field 22 is not a number");
  *ret_state = state;
  *ret_start = v;
  return 0;
}

int
fk_state_start_time (pid_t pid, int allow_zombie, unsigned long long *ret_start, fk_error_t *err)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set (err, errno == ENOENT ? ESRCH : errno, "no process %d", (int)pid);
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_all (fd, 4096, &text, &len, err) < 0)
    return -1;
  char state;
  if (fk_state_parse_stat (text, &state, ret_start, err) < 0)
    return -1;
  /* A zombie PID 1 has ended: only its parent has not collected it yet. */
  if (!allow_zombie && (state == 'Z' || state == 'X'))
    return fk_error_set (err, ESRCH, "process %d has exited", (int)pid);
  return 0;
}

char *
fk_state_boot_id (void)
{
  cleanup_free char *text = NULL;
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (AT_FDCWD, "/proc/sys/kernel/random/boot_id", 128, &text, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return xstrdup ("unknown");
    }
  text[strcspn (text, "\n")] = '\0';
  return steal_pointer (&text);
}

int
fk_state_alive (const fk_sandbox_state_t *st)
{
  cleanup_free char *boot = fk_state_boot_id ();
  if (strcmp (boot, st->boot_id) != 0)
    return 0;
  unsigned long long start;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_state_start_time (st->pid, 0, &start, &err) < 0)
    {
      fk_error_clear (&err);
      return 0;
    }
  return start == st->start_time;
}
