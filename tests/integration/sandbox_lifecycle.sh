#!/usr/bin/env bash
# Sandbox lifecycle through fk: create, ls, inspect, exec (codes, env, cwd, stdin), cp in and
# out, pause/resume, stop, rm, run, timeout expiry, stale state cleaned, bad input.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 22

id=$(new_sandbox --env GREETING=hello --metadata owner=tests)
check "ls lists it running" sh -c "'$FK' ls | grep -E \"^$id +running\""
check "inspect shows state as JSON" \
  sh -c "'$FK' inspect $id | grep -q '\"status\": \"running\"' && '$FK' inspect $id | grep -q '\"owner\": \"tests\"'"
check "state file under the state dir" test -f "$FIRKIN_STATE_DIR/sandboxes/$id/state.json"
"$FK" exec "$id" -- sh -c 'exit 7'
check "exec exits with the command's code" test $? = 7
"$FK" exec "$id" -- sh -c 'kill -TERM $$'
check "exec exits 128+N for a signal" test $? = 143
check "env from the spec and from exec" \
  sh -c "[ \"\$('$FK' exec --env X=1 $id -- sh -c 'echo \$GREETING\$X')\" = hello1 ]"
check "cwd" sh -c "[ \"\$('$FK' exec --cwd /etc $id -- pwd)\" = /etc ]"
check "stdin with -i" sh -c "[ \"\$(echo piped | '$FK' exec -i $id -- cat)\" = piped ]"
check "stdout and stderr kept apart" \
  sh -c "[ \"\$('$FK' exec $id -- sh -c 'echo out; echo err >&2' 2>/dev/null)\" = out ]"
src=$(mktemp); head -c 300000 /dev/urandom > "$src"; on_exit "rm -f '$src' '$src.back'"
check "cp into the sandbox" sh -c "'$FK' cp '$src' $id:/root/blob && [ \"\$('$FK' exec $id -- md5sum /root/blob | cut -d' ' -f1)\" = \"\$(md5sum < '$src' | cut -d' ' -f1)\" ]"
check "cp out of the sandbox" sh -c "'$FK' cp $id:/root/blob '$src.back' && cmp '$src' '$src.back'"
"$FK" pause "$id"
frozen=$(cat /sys/fs/cgroup/freezer/firkin/$id/freezer.state 2>/dev/null || grep -c 'frozen 1' /sys/fs/cgroup/firkin/$id/cgroup.events)
check "pause freezes the cgroup" sh -c "'$FK' ls | grep -E \"^$id +paused\" && [ '$frozen' = FROZEN -o '$frozen' = 1 ]"
"$FK" resume "$id"
check "resume thaws it" sh -c "'$FK' exec $id -- true && '$FK' ls | grep -E \"^$id +running\""
pid=$(host_pid "$id")
check "stop ends every process, the sandbox stays listed" \
  sh -c "'$FK' stop -t 5 $id && { [ ! -e /proc/$pid/stat ] || awk '{ exit !(\$3 == \"Z\") }' /proc/$pid/stat; } && '$FK' ls | grep -E \"^$id +stopped\""
check "rm removes the directory and the cgroup" \
  sh -c "'$FK' rm $id && [ ! -e '$FIRKIN_STATE_DIR/sandboxes/$id' ] && [ ! -e /sys/fs/cgroup/memory/firkin/$id ] && [ ! -e /sys/fs/cgroup/firkin/$id ]"
check "run: create, run, delete, with the command's code" \
  sh -c "'$FK' run --rootfs '$rootfs' -- sh -c 'echo ran' | grep -qx ran && { '$FK' run --rootfs '$rootfs' -- sh -c 'exit 3'; [ \$? = 3 ]; } && [ -z \"\$('$FK' ls -q)\" ]"
# Timeout: the watchdog on the host stops it, and the next fk call cleans it.
tid=$(new_sandbox --timeout 1)
gone() { ! "$FK" ls -q | grep -qx "$1"; }
check "timeout: the sandbox deletes itself" wait_for gone "$tid"
# Extend: a 2 s timeout moved to 60 s outlives its first deadline.
eid=$(new_sandbox --timeout 2)
"$FK" extend "$eid" 60
sleep 4
check "extend moves the deadline (alive past the first one)" \
  sh -c "'$FK' ls | grep -E \"^$eid +running +[^ ]+ +[^ ]+ +in [0-9]+s\" && for p in \$(pgrep -x fk-timeout); do readlink /proc/\$p/fd/3; done | grep -qx '$FIRKIN_STATE_DIR/sandboxes/$eid/deadline'"
"$FK" rm -f "$eid"
# Stale state: PID 1 killed from the host; the next fk call notices and cleans.
sid=$(new_sandbox)
kill -9 "$(host_pid "$sid")"
check "stale sandbox (PID 1 killed) is cleaned by the next fk call" wait_for gone "$sid"
check "bad input: unknown id, bad size, missing layer" \
  sh -c "! '$FK' inspect nosuchid 2>&1 | grep -q 'no sandbox' ; '$FK' inspect nosuchid 2>&1 | grep -q \"no sandbox \\\`nosuchid'\" && '$FK' create --memory 12Q --rootfs '$rootfs' 2>&1 | grep -q 'unknown suffix' && '$FK' create --rootfs /nonexistent 2>&1 | grep -q \"layer \\\`/nonexistent'\""
check "rm without -f refuses a running sandbox" \
  sh -c "x=\$('$FK' create --rootfs '$rootfs'); '$FK' rm \$x 2>&1 | grep -q 'is running'; r=\$?; '$FK' rm -f \$x; [ \$r = 0 ]"
# cgroup v2 end to end on the real unified hierarchy (this machine's has no controllers, so no
# limits): the sandbox starts in its cgroup (CLONE_INTO_CGROUP), pauses with cgroup.freeze,
# and its cgroup goes away with it.
v2=/sys/fs/cgroup/unified
v2_cycle() {
  local x p
  # This hierarchy has no controllers: the default limits are lifted, as a user of such a
  # hierarchy must (a limit whose controller is missing is an error).
  x=$(FIRKIN_CGROUP_ROOT=$v2 new_sandbox --pids max --memory max --cpus max) || return 1
  p=$(host_pid "$x")
  grep -qx "0::/firkin/$x" "/proc/$p/cgroup" || { echo "PID 1 not in its cgroup"; return 1; }
  "$FK" exec "$x" -- grep -qx '0::/' /proc/self/cgroup || { echo "no cgroup namespace"; return 1; }
  "$FK" pause "$x" && grep -qx 'frozen 1' "$v2/firkin/$x/cgroup.events" || { echo "not frozen"; return 1; }
  "$FK" resume "$x" && "$FK" exec "$x" -- true || return 1
  "$FK" rm -f "$x" && [ ! -e "$v2/firkin/$x" ]
}
if [ "$(stat -f -c %T $v2 2>/dev/null)" = cgroup2fs ]; then
  check "cgroup v2: create (into its cgroup), exec, pause, resume, delete on the unified hierarchy" v2_cycle
else
  skip "cgroup v2 end to end" "no cgroup2 hierarchy at $v2"
fi
done_testing
