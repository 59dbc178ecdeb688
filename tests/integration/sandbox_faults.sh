#!/usr/bin/env bash
# Bad input and faults: command not found, bad cwd, a sandbox dying mid-command, the agent
# killed, 1 GB of stdout in bounded memory, fork bomb, memory bomb, disk fill, a command that
# ignores SIGTERM at stop, two sandboxes that cannot see or signal each other.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 13

id=$(new_sandbox --memory 64M --disk 8M --pids 64)
# expect NAME COND: ok when COND (a shell test, evaluated here) holds, else not ok with $out.
expect() { if eval "$2"; then ok "$1"; else fail "$1"; printf '%s\n' "rc=$rc" "$out" | sed 's/^/# /' | head -20; fi; }
out=$("$FK" exec "$id" -- no-such-command 2>&1); rc=$?
expect "command not found: 127 and a message" '[ $rc = 127 ] && grep -q "no-such-command: command not found" <<<"$out"'
out=$("$FK" exec --cwd /no/such/dir "$id" -- true 2>&1); rc=$?
expect "bad cwd: an error naming it" '[ $rc != 0 ] && grep -q /no/such/dir <<<"$out"'
out=$("$FK" exec "$id" -- sh -c 'x=$(head -c 100000000 /dev/zero | tr "\0" x); echo survived' 2>&1); rc=$?
expect "memory bomb: OOM kill reported as such" '[ $rc = 137 ] && grep -q "OOM killer" <<<"$out" && ! grep -q survived <<<"$out"'
out=$("$FK" exec "$id" -- dd if=/dev/zero of=/root/fill bs=1M count=32 2>&1); rc=$?
expect "disk fill: ENOSPC inside" '[ $rc != 0 ] && grep -q "No space left on device" <<<"$out"'
check "disk fill: the host is not affected, the sandbox still works" \
  sh -c "'$FK' exec $id -- sh -c 'rm /root/fill && echo ok > /root/after && cat /root/after' | grep -qx ok"
"$FK" exec "$id" -- sh -c 'b(){ b|b& }; b; sleep 3' >/dev/null 2>&1
pids_now=$(cat /sys/fs/cgroup/pids/firkin/$id/pids.peak 2>/dev/null || cat /sys/fs/cgroup/firkin/$id/pids.peak 2>/dev/null || echo 64)
check "fork bomb contained by the pids limit" test "$pids_now" -le 64
check "the sandbox deletes after a fork bomb" sh -c "'$FK' rm -f $id && [ ! -e /sys/fs/cgroup/pids/firkin/$id ] && [ -z \"\$('$FK' ls -q)\" ]"

# 1 GB on stdout: it streams; neither fk nor the agent holds it. (Under ASan, freed memory sits
# in a quarantine that would count as RSS: keep it small for this measurement.)
big=$(new_sandbox)
rss=$(ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=1:thread_local_quarantine_size_kb=64 python3 -c "
import resource, subprocess, sys
p = subprocess.Popen(['$FK', 'exec', '$big', '--', 'head', '-c', '1073741824', '/dev/zero'], stdout=subprocess.PIPE)
n = 0
while True:
    b = p.stdout.read(1 << 20)
    if not b: break
    n += len(b)
p.wait()
print(n, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
agent_hwm=$(awk '/VmHWM/ {print $2}' /proc/$(host_pid "$big")/status)
diag "1 GB: bytes and fk max RSS (KiB): $rss; agent VmHWM $agent_hwm KiB"
check "1 GB of stdout arrives whole, in bounded memory on both sides" \
  sh -c "set -- $rss; [ \$1 = 1073741824 ] && [ \$2 -lt 65536 ] && [ '$agent_hwm' -lt 65536 ]"

# Dies mid-command: the exec returns with a clear error instead of hanging.
"$FK" exec "$big" -- sleep 100 > /dev/null 2>"$FIRKIN_STATE_DIR/exec.err" &
job=$!
wait_for running_in "$big" sleep
"$FK" rm -f "$big"
wait $job; rc=$?
check "a sandbox deleted mid-command: exec returns with an error" \
  sh -c "[ $rc = 255 ] && grep -q 'ended while the command ran' '$FIRKIN_STATE_DIR/exec.err'"

# The agent killed from the host.
ag=$(new_sandbox)
"$FK" exec "$ag" -- sleep 100 > /dev/null 2>&1 &
job=$!
wait_for running_in "$ag" sleep
kill -9 "$(host_pid "$ag")"
wait $job; rc=$?
out=$("$FK" exec "$ag" -- true 2>&1)
check "the agent killed: the exec ends, the next call says so and cleans" \
  sh -c "[ $rc != 0 ] && ! '$FK' ls -q | grep -qx $ag"

# A command that ignores SIGTERM does not block stop.
st=$(new_sandbox)
"$FK" exec "$st" -- sh -c 'trap "" TERM; while :; do sleep 1; done' > /dev/null 2>&1 &
job=$!
wait_for running_in "$st" sleep
t0=$(date +%s)
"$FK" stop -t 4 "$st"; rc=$?
t1=$(date +%s)
wait $job
check "stop ends a command ignoring SIGTERM (within the grace)" \
  sh -c "[ $rc = 0 ] && [ $((t1 - t0)) -le 8 ] && '$FK' ls | grep -E '^$st +stopped'"
"$FK" rm "$st"

# Two sandboxes: neither sees nor can signal the other.
a=$(new_sandbox); b=$(new_sandbox)
"$FK" exec "$a" -- sh -c 'echo secret > /root/a-only; exec sleep 1000' > /dev/null 2>&1 &
job=$!
wait_for running_in "$a" sleep
sleep_host=$(pgrep -x -u "$(stat -c %u "/proc/$(host_pid "$a")")" sleep | head -1)
if ! running_in "$b" sleep && ! "$FK" exec "$b" -- cat /root/a-only 2>/dev/null; then
  ok "two sandboxes cannot see each other"
else fail "two sandboxes cannot see each other"; fi
if [ -n "$sleep_host" ] && ! "$FK" exec "$b" -- kill -9 "$sleep_host" 2>/dev/null && running_in "$a" sleep; then
  ok "two sandboxes cannot signal each other"
else fail "two sandboxes cannot signal each other"; fi
"$FK" rm -f "$a" "$b"
wait $job
done_testing
