# tests/oci/engines/lib.sh: the harness the engine tests (podman.sh, containerd.sh) share.
#
# A test sources this first thing. It re-executes the test inside a private mount AND network
# namespace (unshare -m -n), so that:
#   - /sys/fs/cgroup/unified can be unmounted: crun and Podman refuse this machine's hybrid
#     layout; with the cgroup2 mount gone they see plain cgroup v1 (on a pure v2 host nothing is
#     unmounted and they see v2);
#   - whatever the engines write to fixed host paths (/var/lib/containers, /var/lib/cni,
#     /etc/cni/net.d, /run/containerd, /run/crun, /run/libpod, /run/netns, ...) lands on tmpfs
#     mounts that vanish with the namespace;
#   - a bridge or firewall rule an engine makes for its default network lands in a network
#     namespace of the test's own, never in the machine's.
# Cgroups are global: every container is placed under one parent named after the test
# ($ENG_CGROUP_PARENT), removed in every hierarchy on exit. Engines keep their state under one
# temp dir ($ENG_WORK). Cleanups run on any exit (traps from tests/integration/lib.sh).
#
# Environment: OCI_RUNTIME (the first runtime under test, default crun from PATH), FK_OCI
# (fk-oci from the build; its half is skipped with the reason when it is missing), FK (the CLI),
# FIRKIN_SRC (source root).
set -u
if [ -z "${_ENG_IN_NS:-}" ]; then
  if [ "$(id -u)" != 0 ] || ! unshare -m -n true 2>/dev/null; then
    echo "1..0 # SKIP needs root and mount/network namespaces (unshare -m -n)"
    exit 0
  fi
  export _ENG_IN_NS=1
  exec unshare -m -n --propagation private bash "$0" "$@"
fi

. "${FIRKIN_SRC:?FIRKIN_SRC unset}/tests/integration/lib.sh"

ENG_WORK=$(mktemp -d /tmp/fk-engines.XXXXXX)
ENG_CGROUP_PARENT=fk-engines-$$
export ENG_WORK ENG_CGROUP_PARENT
on_exit "rm -rf '$ENG_WORK'"

# Runtimes under test: NAME PATH pairs. crun (or $OCI_RUNTIME) first, then fk-oci.
ENG_RUNTIME_A=${OCI_RUNTIME:-$(command -v crun || true)}
ENG_RUNTIME_A_NAME=$(basename "${ENG_RUNTIME_A:-crun}")
ENG_RUNTIME_B=${FK_OCI:-${FIRKIN_BUILD:-$FIRKIN_SRC/build}/src/oci/fk-oci}

# Unmounts everything at or below $1 in this namespace, deepest first.
_eng_umount_below() {
  local m
  findmnt -rn -o TARGET | grep -E "^$1(/|$)" | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}
on_exit "_eng_umount_below '$ENG_WORK'"

# Removes the test's cgroup parent in every hierarchy (v1 controllers, named, v2), deepest first;
# a process still inside is killed first so the rmdir can succeed.
eng_cgroup_cleanup() {
  local d p
  for d in /sys/fs/cgroup/"$ENG_CGROUP_PARENT" /sys/fs/cgroup/*/"$ENG_CGROUP_PARENT" \
    /sys/fs/cgroup/unified/"$ENG_CGROUP_PARENT"; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -9 "$p" 2>/dev/null; done
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$d" ] && { sleep 0.2; find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; }
  done
  return 0
}
# The unified mount is unmounted only in this namespace: the host's view (for the cleanup of a
# v2 leftover) is reached through a private mount of cgroup2 made at exit.
_eng_cgroup_cleanup_all() {
  eng_cgroup_cleanup
  if [ -n "${_eng_unified_was:-}" ] && [ -d "$ENG_WORK" ]; then
    mkdir -p "$ENG_WORK/cg2" && mount -t cgroup2 none "$ENG_WORK/cg2" 2>/dev/null &&
      { [ -d "$ENG_WORK/cg2/$ENG_CGROUP_PARENT" ] && find "$ENG_WORK/cg2/$ENG_CGROUP_PARENT" -depth -type d -exec rmdir {} + 2>/dev/null; umount "$ENG_WORK/cg2"; }
  fi
  return 0
}
on_exit "_eng_cgroup_cleanup_all"

_eng_unified_was=
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
  umount /sys/fs/cgroup/unified && _eng_unified_was=1
fi
ip link set lo up 2>/dev/null

# Private tmpfs over the host paths the engines write regardless of their flags. A path that did
# not exist is created for the mount and removed again on exit.
for _p in /var/lib/containers /var/lib/cni /run/containers /run/containerd /run/crun /run/runc \
  /run/libpod /run/netns /run/firkin /etc/cni/net.d; do
  if [ ! -d "$_p" ]; then
    mkdir -p "$_p" && on_exit "rmdir '$_p'"
  fi
  if [ "$_p" = /etc/cni/net.d ]; then
    mkdir -p "$ENG_WORK/cni-conf" && cp -a /etc/cni/net.d/. "$ENG_WORK/cni-conf/" 2>/dev/null
    rm -f "$ENG_WORK/cni-conf/cni.lock"
    mount -t tmpfs -o mode=0755 tmpfs "$_p" && cp -a "$ENG_WORK/cni-conf/." "$_p/"
  else
    mount -t tmpfs -o mode=0755 tmpfs "$_p"
  fi
  on_exit "umount -l '$_p'"
done
unset _p

# A busybox image rootfs, the same tree the rest of the suite uses (scripts/busybox-rootfs.sh).
# eng_rootfs: prints the directory (built once per test).
eng_rootfs() {
  local d=$ENG_WORK/rootfs
  if [ ! -d "$d/bin" ]; then
    "$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$d" >/dev/null 2>&1 || return 1
  fi
  echo "$d"
}

# eng_runtimes: prints "NAME PATH SKIPREASON" lines, the runtimes each case runs against.
eng_runtimes() {
  local a_name=$ENG_RUNTIME_A_NAME b_reason=
  if [ -z "$ENG_RUNTIME_A" ] || [ ! -x "$ENG_RUNTIME_A" ]; then
    echo "$a_name - no-runtime:OCI_RUNTIME/crun not found"
  else
    echo "$a_name $ENG_RUNTIME_A -"
  fi
  [ -x "$ENG_RUNTIME_B" ] || b_reason="fk-oci not built ($ENG_RUNTIME_B missing)"
  if [ -n "$b_reason" ]; then
    echo "fk-oci $ENG_RUNTIME_B ${b_reason// /_}"
  else
    echo "fk-oci $ENG_RUNTIME_B -"
  fi
}

# A TAP case with a runtime prefix. eng_check NAME CMD...: ok when CMD succeeds.
# expect_out NAME WANT CMD...: ok when CMD succeeds and its stdout equals WANT.
expect_out() {
  local name=$1 want=$2 out
  shift 2
  out=$("$@" 2>"$ENG_WORK/err")
  local rc=$?
  if [ $rc = 0 ] && [ "$out" = "$want" ]; then
    ok "$name"
  else
    fail "$name"
    diag "rc=$rc want=[$want] got=[$out]"
    sed 's/^/# /' "$ENG_WORK/err" | head -20
  fi
}
# expect_rc NAME RC CMD...: ok when CMD exits with RC.
expect_rc() {
  local name=$1 want=$2 rc
  shift 2
  "$@" >"$ENG_WORK/out" 2>"$ENG_WORK/err"
  rc=$?
  if [ "$rc" = "$want" ]; then
    ok "$name"
  else
    fail "$name"
    diag "rc=$rc want=$want"
    cat "$ENG_WORK/out" "$ENG_WORK/err" | sed 's/^/# /' | head -20
  fi
}
# retry_until N CMD...: CMD until it succeeds, N tries 0.1 s apart.
retry_until() {
  local n=$1 i
  shift
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
