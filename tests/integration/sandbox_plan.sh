#!/usr/bin/env bash
# A plan given as JSON, executed by the same code as every sandbox (sandbox/start.c, launch.c):
# the directory root provider, bind and tmpfs mounts, ids, capabilities and rlimits, a hook,
# a joined network namespace, the start fifo (stop before exec, then go), and undo on failure.
source "$FIRKIN_SRC/tests/integration/lib.sh"
: "${FK_PLAN_RUN:?FK_PLAN_RUN is not set (run through meson)}"
if [ "$(id -u)" -ne 0 ]; then echo "1..0 # SKIP plans need root here"; exit 0; fi
plan 14

work=$(mktemp -d /tmp/firkin-plan.XXXXXX)
[ -n "${KEEP:-}" ] || on_exit "rm -rf '$work'"
rootfs=$work/root
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$rootfs" >/dev/null
mkdir -p "$work/data" && echo host-data > "$work/data/file"
cg=firkin-test/plan-$$
# Every cgroup the test makes goes at the end, in every hierarchy.
on_exit "find /sys/fs/cgroup -maxdepth 4 -depth -type d -path '*/firkin-test/plan-$$-*' -exec rmdir {} + 2>/dev/null; rmdir /sys/fs/cgroup/*/firkin-test /sys/fs/cgroup/firkin-test 2>/dev/null; true"
base=4000000000

# write_plan FILE PROCESS_JSON [EXTRA_JSON]: a plan on the busybox root with the default mounts.
write_plan() {
  cat > "$1" <<JSON
{
  "id": "plan-$$", "hostname": "planbox", "cgroup": "$cg-$(basename "$1" .json)",
  "uid_map": [{"inside": 0, "outside": $base, "count": 65536}],
  "gid_map": [{"inside": 0, "outside": $base, "count": 65536}],
  "root": {"kind": "dir", "path": "$rootfs"},
  "disk_bytes": 16777216,
  "mounts": [
    {"kind": "dev", "dest": "/dev"}, {"kind": "proc", "dest": "/proc"},
    {"kind": "sysfs", "dest": "/sys"}, {"kind": "disk-tmp", "dest": "/tmp"},
    {"kind": "tmpfs", "dest": "/run", "options": ["size=65536", "mode=0755"]},
    {"kind": "bind", "dest": "/data", "source": "$work/data", "readonly": true}
  ],
  "masked_paths": ["/proc/kcore", "/proc/cmdline"],
  "readonly_paths": ["/proc/sys"],
  "write_etc": true,
  "process": $2
  ${3:-}
}
JSON
}

# --- A process with its own ids, capabilities and limits, in a root from a directory.
write_plan "$work/a.json" '{"argv": ["sh", "-c", "id -u; id -g; grep CapEff /proc/self/status; ulimit -n; hostname; cat /data/file; touch /data/x 2>/dev/null && echo wrote-bind; wc -c < /proc/cmdline; mount | grep -c \" /run \"; exit 7"],
  "env": ["PATH=/bin:/usr/bin"], "cwd": "/", "uid": 1000, "gid": 1001, "stdio": "pipes",
  "caps": ["CAP_CHOWN", "CAP_KILL"],
  "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512}]}'
out=$("$FK_PLAN_RUN" "$work/a.json" 2>&1); rc=$?
body=$(echo "$out" | grep -v '^started')
check "the plan's process ran and its exit came back (7)" [ "$rc" = 7 ]
check "as the plan's uid and gid" sh -c "[ '$(echo "$body" | sed -n 1p)' = 1000 ] && [ '$(echo "$body" | sed -n 2p)' = 1001 ]"
check "with exactly the plan's capabilities (CHOWN, KILL)" sh -c "echo '$body' | grep -q 'CapEff:.*0000000000000021'"
check "with the plan's rlimit" [ "$(echo "$body" | sed -n 4p)" = 256 ]
check "with the plan's hostname" [ "$(echo "$body" | sed -n 5p)" = planbox ]
if echo "$body" | grep -qx host-data && ! echo "$body" | grep -q wrote-bind && [ ! -e "$work/data/x" ]; then
  ok "a read-only bind of a host dir: readable, not writable"
else fail "read-only bind"; diag "$out"; fi
check "masked paths are covered and the tmpfs step is mounted" \
  sh -c "[ '$(echo "$body" | sed -n 7p | tr -d ' ')' = 0 ] && [ '$(echo "$body" | sed -n 8p)' = 1 ]"

# --- A hook runs on the host with the sandbox's state on stdin.
write_plan "$work/b.json" '{"argv": ["true"], "env": ["PATH=/bin"], "cwd": "/"}' \
  ", \"hooks\": [{\"point\": \"createRuntime\", \"argv\": [\"/bin/sh\", \"-c\", \"cat > $work/hook.out\"]}]"
"$FK_PLAN_RUN" "$work/b.json" >/dev/null 2>&1
check "a createRuntime hook got the state (id and pid) on stdin" \
  sh -c "grep -q '\"id\":\"plan-$$\"' '$work/hook.out' && grep -q '\"pid\":[1-9]' '$work/hook.out'"

# --- A joined network namespace (made here, owned by the host's user namespace): the process
# is in it, and /sys is the host's, read-only, since sysfs of a foreign net namespace cannot be
# mounted from the sandbox's user namespace.
ns=fkplan-$$
ip netns add "$ns" && on_exit "ip netns del '$ns' 2>/dev/null"
ip -n "$ns" link add fkplanva type veth peer name fkplanvb
write_plan "$work/c.json" '{"argv": ["sh", "-c", "readlink /proc/self/ns/net; grep -c fkplanva /proc/net/dev; touch /sys/x 2>/dev/null && echo wrote-sys; true"],
  "env": ["PATH=/bin"], "cwd": "/", "stdio": "pipes"}' \
  ", \"namespaces\": {\"network\": {\"join\": \"/run/netns/$ns\"}}"
out=$("$FK_PLAN_RUN" "$work/c.json" 2>&1); rc=$?
want="net:[$(stat -L -c %i "/run/netns/$ns")]"
body=$(echo "$out" | grep -v '^started')
if [ "$rc" = 0 ] && [ "$(echo "$body" | sed -n 1p)" = "$want" ] && [ "$(echo "$body" | sed -n 2p)" = 1 ] \
   && ! echo "$body" | grep -q wrote-sys; then
  ok "a joined network namespace: the process is in it, /sys read-only"
else fail "joined network namespace"; diag "rc=$rc want=$want $out"; fi

# --- The start fifo: everything is made, the process waits before exec until released.
mkfifo "$work/start"
write_plan "$work/d.json" '{"argv": ["sh", "-c", "echo ran"], "env": ["PATH=/bin"], "cwd": "/", "stdio": "pipes"}' \
  ", \"start_fifo\": \"$work/start\""
"$FK_PLAN_RUN" "$work/d.json" > "$work/d.out" 2>&1 &
runner=$!
wait_for grep -q started "$work/d.out"
# It stopped before exec: nothing it would print comes while it waits (a short grace to show it).
sleep 0.2
if grep -q started "$work/d.out" && ! grep -q ran "$work/d.out"; then
  "$FK_PLAN_RUN" --release "$work/start"
  wait $runner
  if grep -q ran "$work/d.out"; then ok "a plan with a start fifo waits before exec and runs once released"
  else fail "start fifo: not run after release"; diag "$(cat "$work/d.out")"; fi
  out=$("$FK_PLAN_RUN" --release "$work/start" 2>&1)
  if [ $? = 125 ] && echo "$out" | grep -q "no sandbox is waiting"; then
    ok "releasing again: no sandbox is waiting"
  else fail "second release"; diag "$out"; fi
else kill $runner 2>/dev/null; fail "start fifo: did not stop before exec"; diag "$(cat "$work/d.out")"; fi

# --- Attack: a hook that hangs, with a child of its own, is killed at its timeout (both), the
# start fails with a clear error and leaves no cgroup.
write_plan "$work/h.json" '{"argv": ["true"], "env": ["PATH=/bin"], "cwd": "/"}' \
  ", \"hooks\": [{\"point\": \"createRuntime\", \"timeout_ms\": 300, \"argv\": [\"/bin/sh\", \"-c\", \"sleep 1000 & echo \$! > $work/hook.pid; exec sleep 1001\"]}]"
out=$("$FK_PLAN_RUN" "$work/h.json" 2>&1); rc=$?
left=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "plan-$$-h" 2>/dev/null | wc -l)
# gone PID: the process is no more, or a zombie its new parent has yet to collect.
gone() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ]; }
if [ "$rc" = 125 ] && echo "$out" | grep -q "ran past its timeout" && [ "$left" = 0 ] \
   && wait_for gone "$(cat "$work/hook.pid")"; then
  ok "a hanging hook and its child are killed at the timeout; the start fails cleanly"
else fail "hanging hook"; diag "rc=$rc left=$left $out"; kill "$(cat "$work/hook.pid")" 2>/dev/null; fi

# --- Attack: a root whose bind destination is a symlink pointing out of it. The bind lands
# inside the root (the link resolved there) or the start fails; nothing reaches the host path.
hostile=$work/hostile
cp -a "$rootfs" "$hostile"
mkdir -p "$work/outside"
ln -s "../../../../../../../$work/outside" "$hostile/data"
sed "s#\"path\": \"$rootfs\"#\"path\": \"$hostile\"#" "$work/a.json" > "$work/s.json"
write_plan "$work/s.json" '{"argv": ["sh", "-c", "echo inside > /data/planted 2>/dev/null; true"], "env": ["PATH=/bin"], "cwd": "/"}'
sed -i "s#\"path\": \"$rootfs\"#\"path\": \"$hostile\"#" "$work/s.json"
"$FK_PLAN_RUN" "$work/s.json" >/dev/null 2>&1
if [ -z "$(ls -A "$work/outside")" ] && [ ! -e "$work/data/planted" ] \
   && ! grep -q "$work" /proc/self/mountinfo; then
  ok "a symlinked bind destination cannot reach out of the root"
else fail "bind destination escaped"; diag "$(ls -la "$work/outside" "$work/data")"; fi

# --- A failing start undoes itself: a clear error, no cgroup left.
write_plan "$work/e.json" '{"argv": ["no-such-program"], "env": ["PATH=/bin"], "cwd": "/"}'
out=$("$FK_PLAN_RUN" "$work/e.json" 2>&1); rc=$?
left=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "plan-$$-e" 2>/dev/null | wc -l)
if [ "$rc" = 125 ] && echo "$out" | grep -q "no-such-program: command not found" && [ "$left" = 0 ]; then
  ok "a failed start says why and leaves no cgroup"
else fail "failed start"; diag "rc=$rc left=$left $out"; fi
