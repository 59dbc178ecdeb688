#!/usr/bin/env bash
# Default limits: a sandbox created without options is held to 1024 tasks, 2 GiB and 2 CPUs, so
# a fork loop stops at its own limit with errors while the host and other sandboxes go on; the
# `firkin' parent cgroup holds all sandboxes together to a share that leaves the host its
# reserve; `max' lifts a limit, a number raises it. cgroup v1 (this machine) or v2.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 12

if [ -d /sys/fs/cgroup/pids ] && [ "$(stat -f -c %T /sys/fs/cgroup/pids)" = cgroupfs ]; then
  v=1
else
  v=2
fi
# cg CONTROLLER NAME FILE: a control file of cgroup NAME (v2 has one hierarchy).
cg() { if [ $v = 1 ]; then cat "/sys/fs/cgroup/$1/$2/$3"; else cat "/sys/fs/cgroup/$2/$3"; fi; }
mem_file() { [ $v = 1 ] && echo memory.limit_in_bytes || echo memory.max; }
# limits NAME: "pids memory cpu" as the cgroup holds them (cpu: quota/period).
limits() {
  local cpu
  if [ $v = 1 ]; then
    cpu="$(cg cpu "$1" cpu.cfs_quota_us)/$(cg cpu "$1" cpu.cfs_period_us)"
  else
    cpu=$(cg cpu "$1" cpu.max | tr ' ' /)
  fi
  echo "$(cg pids "$1" pids.max) $(cg memory "$1" "$(mem_file)") $cpu"
}
# v1 reads an unlimited memory limit back as the largest page-aligned 63-bit number.
unlimited_mem() { [ $v = 1 ] && echo 9223372036854771712 || echo max; }
unlimited_cpu() { [ $v = 1 ] && echo -1/100000 || echo max/100000; }

id=$(new_sandbox)
check "a sandbox made without options" test -n "$id"
got=$(limits "firkin/$id")
check "its cgroup holds the default limits: 1024 tasks, 2 GiB, 2 CPUs ($got)" \
  test "$got" = "1024 2147483648 200000/100000"
inspected() {
  local out
  out=$("$FK" inspect "$id")
  grep -q '"pids": 1024,*$' <<<"$out" && grep -q '"memory": 2147483648,*$' <<<"$out" \
    && grep -Eq '"vcpus": 2(\.0*)?,*$' <<<"$out" || { echo "$out"; return 1; }
}
check "fk inspect shows them" inspected

# The parent's limits, as cgroup.h derives them from this host.
pid_max=$(cat /proc/sys/kernel/pid_max)
threads_max=$(cat /proc/sys/kernel/threads-max)
tasks=$((pid_max < threads_max ? pid_max : threads_max))
mem_total=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))
reserve=$((mem_total / 10 > 1073741824 ? mem_total / 10 : 1073741824))
[ $reserve -gt $((mem_total / 2)) ] && reserve=$((mem_total / 2))
want_parent="$((tasks / 4 * 3)) $(((mem_total - reserve) / 1048576 * 1048576))"
parent_limits() {
  local w
  if [ $v = 1 ]; then w=$(cg cpu firkin cpu.shares); else w=$(cg cpu firkin cpu.weight); fi
  echo "$(cg pids firkin pids.max) $(cg memory firkin "$(mem_file)") $w"
}
want_weight() { [ $v = 1 ] && echo 512 || echo 50; }
parent_ok() {
  local got
  got=$(parent_limits)
  [ "$got" = "$want_parent $(want_weight)" ] || { echo "parent: $got, want $want_parent $(want_weight)"; return 1; }
}
check "the firkin parent leaves the host its share: 3/4 of the tasks, memory less 10 % (1 GiB at least), half the CPU weight" parent_ok

# The fork loop: 3000 background sleeps. The sandbox's shell gets `can't fork' at the limit
# and the cgroup stays at 1024 tasks.
bomb_out=$("$FK" exec "$id" -- sh -c 'i=0; while [ $i -lt 3000 ]; do sleep 300 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo all 3000 started' 2>&1)
diag "fork loop: $(sort <<<"$bomb_out" | uniq -c | head -3 | tr '\n' ' ')"
bomb_stopped() {
  local cur events
  cur=$(cg pids "firkin/$id" pids.current) events=$(cg pids "firkin/$id" pids.events)
  echo "pids.current $cur; pids.events $events"
  grep -q "can't fork\|Resource temporarily unavailable" <<<"$bomb_out" \
    && ! grep -q 'all 3000 started' <<<"$bomb_out" \
    && [ "$cur" -le 1024 ] && [ "$cur" -ge 1000 ] && grep -Eq '^max [1-9]' <<<"$events"
}
check "a fork loop stops at the default pids limit, with errors inside" bomb_stopped
# While it holds its 1024 tasks, the host forks, and another sandbox is made and runs.
other_runs() {
  local o out
  o=$(new_sandbox) || return 1
  out=$("$FK" exec "$o" -- sh -c 'echo fine') || return 1
  "$FK" rm -f "$o" >/dev/null
  [ "$out" = fine ]
}
check "meanwhile the host forks and another sandbox is made and runs" eval '/bin/true && other_runs'
check "the sandbox of the fork loop is deleted with every task" \
  sh -c "'$FK' rm -f $id && [ ! -e /sys/fs/cgroup/pids/firkin/$id ] && [ ! -e /sys/fs/cgroup/firkin/$id ]"

# max (or 0, or unlimited) lifts a limit; numbers raise one.
lifted=$(new_sandbox --pids max --memory max --cpus max)
got=$(limits "firkin/$lifted")
check "--pids max --memory max --cpus max lift the limits ($got)" \
  test "$got" = "max $(unlimited_mem) $(unlimited_cpu)"
zero=$(new_sandbox --pids 0 --memory unlimited --cpus 0)
got=$(limits "firkin/$zero")
check "0 and unlimited lift them too ($got)" test "$got" = "max $(unlimited_mem) $(unlimited_cpu)"
raised=$(new_sandbox --pids 4096 --memory 4G --cpus 1.5)
got=$(limits "firkin/$raised")
check "numbers raise or lower them ($got)" test "$got" = "4096 4294967296 150000/100000"
check "a bad value is refused with its option named" \
  sh -c "'$FK' create --rootfs '$rootfs' --cpus lots 2>&1 | grep -q -- '--cpus: .lots. is not a number of CPUs' && '$FK' create --rootfs '$rootfs' --pids -1 2>&1 | grep -q -- '--pids: .-1. is not a whole number'"

# The parent goes with the last sandbox; the next create makes it again, with its limits.
"$FK" rm -f "$lifted" "$zero" "$raised"
parent_dir=/sys/fs/cgroup/firkin
[ $v = 1 ] && parent_dir=/sys/fs/cgroup/pids/firkin
if [ -e "$parent_dir" ]; then
  skip "the parent made again has its limits" \
    "other sandboxes on this host keep the parent: $(ls "$parent_dir" | grep -c '^[0-9a-f]\{12\}$') left"
else
  again=$(new_sandbox)
  check "the parent made again has its limits" parent_ok
  "$FK" rm -f "$again"
fi
done_testing
