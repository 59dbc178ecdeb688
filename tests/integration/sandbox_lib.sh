# tests/integration/sandbox_lib.sh: what the sandbox tests share: a busybox rootfs built once
# per test, the agent, and helpers. Source after lib.sh.
: "${FK:?FK is not set (run through meson)}"
if [ -z "${FK_AGENT:-}" ] || [ ! -x "$FK_AGENT" ]; then
  echo "1..0 # SKIP fk-agent is not built"
  exit 0
fi
export FIRKIN_AGENT=$FK_AGENT
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP sandboxes need root here (user namespaces mapped from a host range)"
  exit 0
fi
rootfs=$(mktemp -d /tmp/firkin-rootfs.XXXXXX)
on_exit "rm -rf '$rootfs'"
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$rootfs" >/dev/null
# Every sandbox a test made is force-removed at the end, whatever happened.
on_exit "\"$FK\" ls -q | xargs -r \"$FK\" rm -f"

# new_sandbox [OPTS...]: creates a sandbox on the busybox rootfs and prints its id.
new_sandbox() { "$FK" create --rootfs "$rootfs" "$@"; }
# in_sb ID CMD...: runs a shell command line inside ID.
in_sb() { local id=$1; shift; "$FK" exec "$id" -- sh -c "$*"; }
# host_pid ID: PID 1 of the sandbox as the host sees it.
host_pid() { "$FK" inspect "$1" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
# cgroup_dirs: how many sandbox cgroups exist under the firkin parent (v1 memory or v2).
cgroup_dirs() {
  local d
  for d in /sys/fs/cgroup/memory/firkin /sys/fs/cgroup/firkin; do
    [ -d "$d" ] && { find "$d" -mindepth 1 -maxdepth 1 -type d | wc -l; return; }
  done
  echo 0
}
# dead PID: the process is gone or a zombie (its parent, the host's init, collects it later).
dead() { [ ! -e "/proc/$1/stat" ] || awk '{ exit !($3 == "Z") }' "/proc/$1/stat" 2>/dev/null; }
# running_in ID NAME: a process named NAME runs in sandbox ID (busybox has ps, not pgrep).
running_in() { "$FK" exec "$1" -- sh -c "ps -o comm | grep -qx '$2'"; }
