# shellcheck shell=bash
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
  for d in /sys/fs/cgroup/"$ENG_CGROUP_PARENT" /sys/fs/cgroup/*/"$ENG_CGROUP_PARENT"; do
    [ -d "$d" ] && [[ $(stat -f -c %T "$d") == cgroup* ]] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -9 "$p" 2>/dev/null; done
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$d" ] && { sleep 0.2; find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; }
  done
  return 0
}
# eng_cgroup_procs: the pids still in the test's cgroups (none once every container is gone).
eng_cgroup_procs() {
  local d
  for d in /sys/fs/cgroup/"$ENG_CGROUP_PARENT" /sys/fs/cgroup/*/"$ENG_CGROUP_PARENT"; do
    [ -d "$d" ] && [[ $(stat -f -c %T "$d") == cgroup* ]] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
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
# Whatever the engines started and left (conmon, a shim, a runtime stuck in create: all carry a
# path under $ENG_WORK in their command line) is killed by pid before the cgroups go.
_eng_kill_strays() {
  local p
  for p in $(grep -laF "$ENG_WORK" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] && kill -9 "$p" 2>/dev/null
  done
  return 0
}
on_exit "_eng_kill_strays"

# With the cgroup2 mount gone, crun in v1 mode still makes the `0::' path of /proc/self/cgroup
# under /sys/fs/cgroup/unified, now a plain directory of the host's /sys/fs/cgroup tmpfs (hidden
# under the host's cgroup2 mount, never removed): a private tmpfs takes those writes instead.
_eng_unified_was=
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
  umount /sys/fs/cgroup/unified && _eng_unified_was=1 &&
    mount -t tmpfs -o size=1m,mode=0755 tmpfs /sys/fs/cgroup/unified
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
# retry_until N CMD...: CMD until it succeeds, every 0.1 s for N/10 seconds at most (a deadline,
# not a count: a CMD that itself hangs until its own bound does not multiply the wait).
retry_until() {
  local deadline
  deadline=$(awk -v t="$EPOCHREALTIME" -v n="$1" 'BEGIN { printf "%.0f", t * 1000 + n * 100 }')
  shift
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(awk -v t="$EPOCHREALTIME" 'BEGIN { printf "%.0f", t * 1000 }')" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# eng_podman_init: one Podman store for the script under $ENG_WORK/podman (its own
# containers.conf and storage.conf, cgroupfs, no events log); pod ARGS... runs podman on it.
# Every container is removed on exit.
IMG=localhost/fk-engines-busybox:latest
eng_podman_init() {
  P_DIR=$ENG_WORK/podman
  mkdir -p "$P_DIR"/{root,run,tmp}
  cat >"$P_DIR/containers.conf" <<EOF
[containers]
# The hard nofile limit here is 20000, below Podman's default ulimits.
default_ulimits = []
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "$P_DIR/tmp"
# The runtimes under test by name, as docs/kubernetes.md shows (podman --runtime NAME).
[engine.runtimes]
firkin = ["$ENG_RUNTIME_B"]
eng-$ENG_RUNTIME_A_NAME = ["$ENG_RUNTIME_A"]
EOF
  cat >"$P_DIR/storage.conf" <<EOF
[storage]
driver = "${ENG_STORAGE_DRIVER:-overlay}"
runroot = "$P_DIR/run"
graphroot = "$P_DIR/root"
EOF
  export CONTAINERS_CONF=$P_DIR/containers.conf CONTAINERS_STORAGE_CONF=$P_DIR/storage.conf
  on_exit "ENG_CMD_TIMEOUT=20 pod rm -a -f -t 0"
}
# Every engine command is bounded (ENG_TIMEOUT seconds, default 60; status queries set
# ENG_CMD_TIMEOUT lower), so a runtime that hangs fails its case instead of the whole test.
pod() { timeout -k 5 "${ENG_CMD_TIMEOUT:-${ENG_TIMEOUT:-60}}" podman --root "$P_DIR/root" --runroot "$P_DIR/run" --tmpdir "$P_DIR/tmp" "$@"; }
# eng_podman_import: the busybox rootfs as $IMG (errors in $ENG_WORK/err).
eng_podman_import() {
  local rootfs
  rootfs=$(eng_rootfs) && tar -C "$rootfs" -cf "$ENG_WORK/rootfs.tar" . &&
    pod import --change 'CMD ["/bin/sh"]' "$ENG_WORK/rootfs.tar" "$IMG" >/dev/null 2>"$ENG_WORK/err"
}

# eng_containerd_start: one containerd for the script, its CRI plugin disabled, its root, state
# and sockets under $ENG_WORK/containerd; c ARGS... runs ctr against it in namespace fk-engines.
# Its containers, their shims and containerd itself are gone on exit.
eng_containerd_start() {
  C_DIR=$ENG_WORK/containerd
  mkdir -p "$C_DIR"
  # The runtime entry of docs/kubernetes.md, with BinaryName set to the runtime under test by the
  # case that checks it; the CRI plugin that reads it is disabled here (no Kubernetes), so the
  # test checks that containerd accepts the entry and runs the shim with the options it names.
  cat >"$C_DIR/config.toml" <<EOF
version = 2
root = "$C_DIR/root"
state = "$C_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$C_DIR/containerd.sock"
[ttrpc]
  address = "$C_DIR/containerd.sock.ttrpc"
[debug]
  address = "$C_DIR/debug.sock"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.fk-oci]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.fk-oci.options]
  BinaryName = "${ENG_RUNTIME_B}"
  SystemdCgroup = false
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${ENG_RUNTIME_A_NAME}]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${ENG_RUNTIME_A_NAME}.options]
  BinaryName = "${ENG_RUNTIME_A}"
  SystemdCgroup = false
EOF
  containerd --config "$C_DIR/config.toml" >"$C_DIR/containerd.log" 2>&1 &
  c_pid=$!
  # Last registered, first run: the containers and their shims go before containerd does.
  on_exit "kill $c_pid; wait $c_pid"
  NS=fk-engines
  c() { timeout -k 5 "${ENG_CMD_TIMEOUT:-${ENG_TIMEOUT:-60}}" ctr -a "$C_DIR/containerd.sock" -n "$NS" "$@" </dev/null; }
  on_exit "c_cleanup"
  c_cleanup() {
    local id ENG_CMD_TIMEOUT=5
    for id in $(c task ls -q 2>/dev/null); do c task kill -s KILL "$id"; done
    sleep 0.2
    for id in $(c container ls -q 2>/dev/null); do c task rm -f "$id"; c container rm "$id"; done
    c_shims_gone
  }
  # The shims exit once their containers are deleted; a shim still alive is killed by its pid.
  c_shims_gone() {
    local p
    for p in $(pgrep -f "containerd-shim-runc-v2 -namespace $NS" 2>/dev/null); do
      grep -qF "$C_DIR" "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"
    done
    return 0
  }
  retry_until 100 c version
}
# eng_containerd_import: the busybox rootfs as an OCI archive, imported as $IMG.
eng_containerd_import() {
  local rootfs
  rootfs=$(eng_rootfs) &&
    python3 "$FIRKIN_SRC/scripts/images/mkimage" --tag latest --cmd /bin/sh "$C_DIR/oci" "$rootfs" >/dev/null &&
    tar -C "$C_DIR/oci" -cf "$C_DIR/oci.tar" . &&
    c image import --base-name localhost/fk-engines-busybox "$C_DIR/oci.tar" >/dev/null 2>"$ENG_WORK/err" &&
    c image ls -q | grep -qx "$IMG"
}
