#!/usr/bin/env bash
# 200 sandboxes created, used and deleted in a loop leave nothing behind: no process, mount,
# cgroup, network namespace or directory.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 6
N=${FIRKIN_LOOP_N:-200}

procs() { ps -eo uid=,stat= | awk '$1 == 1000000000 && $2 !~ /^Z/' | wc -l; }
netns() { for p in /proc/[0-9]*; do readlink "$p/ns/net" 2>/dev/null; done | sort -u | wc -l; }
# Mounts a sandbox could leak to the host: its staging point /tmp, anything under the state dir,
# an overlay. (Other work on the machine mounts and unmounts elsewhere meanwhile.)
mounts() { awk -v s="$FIRKIN_STATE_DIR" '$5 == "/tmp" || index($5, s) == 1 || $9 == "overlay"' /proc/self/mountinfo | wc -l; }
procs0=$(procs); netns0=$(netns); mounts0=$(mounts); cg0=$(cgroup_dirs)

failed=0
t0=$(date +%s%N)
for ((i = 0; i < N; i++)); do
  id=$(new_sandbox) || { failed=$((failed + 1)); continue; }
  "$FK" exec "$id" -- true || failed=$((failed + 1))
  "$FK" rm -f "$id" || failed=$((failed + 1))
done
t1=$(date +%s%N)
diag "$N create+exec+rm cycles in $(( (t1 - t0) / 1000000 )) ms"
check "$N create, exec, delete cycles succeed" test "$failed" = 0
# Processes leave the cgroup as they die; the host's init collects the zombies a moment later.
no_procs() { [ "$(procs)" -le "$procs0" ]; }
check "no sandbox process left" wait_for no_procs
check "no mount left on the host" test "$(mounts)" -le "$mounts0"
check "no cgroup left" test "$(cgroup_dirs)" -le "$cg0"
no_netns() { [ "$(netns)" -le "$netns0" ]; }
check "no network namespace left" wait_for no_netns
check "no sandbox directory left" test -z "$(ls -A "$FIRKIN_STATE_DIR/sandboxes")"
done_testing
