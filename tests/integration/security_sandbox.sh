#!/usr/bin/env bash
# The hostile-code review's attacks on the agent, the host's disk, the disk limit, the timeout
# and host details, each run from inside a sandbox (docs/security.md).
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 16

for a in agent files; do cp "$FK_ATTACK_DIR/fk-attack-$a" "$rootfs/bin/"; done

# --- The agent cannot be taken over by the commands it runs.
id=$(new_sandbox)
pid=$(host_pid "$id")
out=$("$FK" exec "$id" -- /bin/fk-attack-agent 2>&1)
# pidfd_open only names the process; kill(1, SIGSTOP) "succeeds" but PID 1 of a pid namespace
# never gets a signal it does not handle from inside: the next check sees it answer.
bad=$(echo "$out" | grep -E ' ok$' | grep -vE '^(pidfd_open|kill_stop_pid1) ok$')
if [ -z "$bad" ] && [ "$(echo "$out" | wc -l)" -ge 15 ]; then
  ok "a command cannot trace, read, write, stop or take fds from the agent"
else fail "agent takeover"; diag "$out"; fi
check "the agent still answers after the attempts" sh -c "[ \"\$('$FK' exec $id -- echo alive)\" = alive ]"
# Even with the filter lifted for those calls, the kernel refuses: the agent is not dumpable.
id2=$(new_sandbox --seccomp-allow ptrace --seccomp-allow process_vm_readv \
  --seccomp-allow process_vm_writev --seccomp-allow pidfd_getfd --seccomp-allow kcmp 2>&1) ||
  id2=$(new_sandbox --seccomp unconfined)
out=$("$FK" exec "$id2" -- /bin/fk-attack-agent 2>&1)
bad=$(echo "$out" | grep -E ' ok$' | grep -vE '^(pidfd_open|kill_stop_pid1) ok$')
if [ -z "$bad" ] && "$FK" exec "$id2" -- true; then
  ok "without the filter the kernel still refuses: the agent is not dumpable"
else fail "agent takeover without the filter"; diag "$out"; fi
"$FK" rm -f "$id2" >/dev/null

# --- No host file grows from inside: the agent logs to the sandbox's own disk.
sdir=$FIRKIN_STATE_DIR/sandboxes/$id
"$FK" exec "$id" -- sh -c 'head -c 33554432 /dev/zero > /proc/1/fd/1' >/dev/null 2>&1
check "nothing of the sandbox's directory on the host is writable from inside" \
  sh -c "[ \$(du -sk '$sdir' | cut -f1) -lt 64 ] && ! ls '$sdir/agent.log' 2>/dev/null"
log=$(readlink "/proc/$pid/fd/2")
check "the agent's log is a file on the sandbox's disk, not the host's (fd 2 -> $log)" \
  sh -c "[ '$log' = /agent.log ] && [ \"\$(stat -f -c %T /proc/$pid/fd/2)\" = tmpfs ]"
small=$(new_sandbox --disk 16M)
spid=$(host_pid "$small")
if ! head -c 33554432 /dev/zero 2>/dev/null >>"/proc/$spid/fd/1"; then
  ok "what the agent logs counts against the sandbox's disk limit (32 MB into a 16 MB disk fails)"
else fail "the agent's log is not bounded by the disk limit"; fi

# --- --disk bounds everything writable, inodes included.
out=$("$FK" exec "$small" -- sh -c 'head -c 1073741824 /dev/zero > /dev/shm/big; echo rc=$?; du -sk /dev/shm/big' 2>&1)
kb=$(echo "$out" | tail -1 | cut -f1)
if echo "$out" | grep -q 'rc=1' && [ "${kb:-0}" -le 16384 ]; then ok "/dev/shm is bounded by --disk"; else
  fail "/dev/shm"; diag "$out"; fi
"$FK" exec "$small" -- rm -f /dev/shm/big
out=$("$FK" exec "$small" -- sh -c 'head -c 10485760 /dev/zero > /tmp/a && head -c 10485760 /dev/zero > /dev/shm/b; echo rc=$?; head -c 10485760 /dev/zero > /c; echo rc=$?' 2>&1)
if [ "$(echo "$out" | grep -c 'rc=1')" = 2 ]; then
  ok "/, /tmp and /dev/shm share one --disk budget"; else fail "shared budget"; diag "$out"; fi
"$FK" exec "$small" -- rm -f /tmp/a /dev/shm/b /c
out=$("$FK" exec "$small" -- /bin/fk-attack-files /tmp 100000 2>&1)
made=$(echo "$out" | sed -n 's/^made \([0-9]*\) files.*/\1/p')
if [ -n "$made" ] && [ "$made" -le 4096 ] && echo "$out" | grep -q 'No space left'; then
  ok "100,000 empty files stop at the inode bound of a 16 MB disk ($made)"; else
  fail "inodes are not bounded"; diag "$out"; fi
"$FK" exec "$small" -- sh -c 'rm -rf /tmp/*'
out=$("$FK" exec "$small" -- /bin/fk-attack-files /dev 100000 2>&1)
made=$(echo "$out" | sed -n 's/^made \([0-9]*\) files.*/\1/p')
if [ -n "$made" ] && [ "$made" -le 64 ]; then ok "/dev is bounded too ($made files)"; else
  fail "/dev is not bounded"; diag "$out"; fi
"$FK" rm -f "$small" >/dev/null

# --- The timeout holds whatever the sandbox does.
t=$(new_sandbox --timeout 3)
tpid=$(host_pid "$t")
watchdog() {
  local p
  for p in $(pgrep -x fk-timeout); do
    [ "$(readlink "/proc/$p/fd/3" 2>/dev/null)" = "$FIRKIN_STATE_DIR/sandboxes/$1/deadline" ] && echo "$p"
  done
}
wpid=$(watchdog "$t")
check "the watchdog is a host process, outside the sandbox" \
  sh -c "[ -n '$wpid' ] && ! '$FK' exec $t -- sh -c 'ps -o comm' | grep -q fk-timeout"
"$FK" exec "$t" -- sh -c 'kill -9 -1; pkill -9 fk-timeout; true' >/dev/null 2>&1
if wait_for dead "$tpid"; then ok "the sandbox ends at its deadline after killing every process it can"; else
  fail "the sandbox outlived its deadline"; fi
check "the watchdog ends with its sandbox" wait_for sh -c "[ -z \"\$(pgrep -x fk-timeout | grep -x '$wpid')\" ]"

# --- Host details do not leak inside.
out=$("$FK" exec "$id" -- cat /proc/cmdline 2>&1)
if [ -z "$out" ]; then ok "/proc/cmdline is masked"; else fail "/proc/cmdline: $out"; fi
out=$("$FK" exec "$id" -- cat /sys/kernel/vmcoreinfo 2>&1)
if [ -z "$out" ] || echo "$out" | grep -q 'No such file'; then ok "/sys/kernel/vmcoreinfo is masked"; else
  fail "/sys/kernel/vmcoreinfo: $out"; fi
agent_dir=$(dirname "$FK_AGENT")
out=$("$FK" exec "$id" -- sh -c 'for f in /proc/1/exe /proc/1/fd/*; do readlink $f; done; cat /proc/1/maps /proc/1/environ /proc/1/cmdline /proc/1/mountinfo /proc/self/mountinfo' 2>&1)
if ! echo "$out" | grep -qE "$agent_dir|$FIRKIN_STATE_DIR|agent\.log"; then
  ok "no host path of the agent or its log shows through /proc/1"
else fail "host paths leak"; diag "$(echo "$out" | grep -E "$agent_dir|$FIRKIN_STATE_DIR|agent\.log")"; fi
done_testing
