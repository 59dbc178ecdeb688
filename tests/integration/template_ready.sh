#!/usr/bin/env bash
# A template's start and ready commands (fk template build --start-cmd/--ready-cmd/
# --ready-timeout): kept in the record, the start command left running at every create, the
# ready command polled until it succeeds before the create returns; a ready command that never
# succeeds, one that hangs, and a start command that fails each fail the create with a clear
# error and leave no sandbox; a chatty start command does not stall; a snapshot keeps them.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 17
work=$(mktemp -d /tmp/firkin-ready.XXXXXX)
on_exit "rm -rf '$work'"
"$FIRKIN_SRC/scripts/images/busybox.sh" "$work/oci" >/dev/null
mkdir -p "$work/ctx"
printf 'FROM oci:%s:busybox\nUSER 1000\nWORKDIR /home/user\n' "$work/oci" > "$work/ctx/Dockerfile"
build() { "$FK" template build -q "$@" "$work/ctx" >/dev/null 2>"$work/build.err"; }
record() { python3 -c "import json,sys; r=json.load(open('$FIRKIN_STATE_DIR/templates/$1.json')); print(r.get('startCmd'), r.get('readyCmd'), r.get('readyTimeout'))"; }

# The start command becomes ready after ~1 s; it writes a lot to stdout first (kept output
# would fill the agent's buffer and stop it).
start='head -c 4000000 /dev/zero; id -u > start.uid; pwd > start.cwd; sleep 1; touch ready; exec sleep 1000'
build -t web --start-cmd "$start" --ready-cmd 'test -f /home/user/ready' --ready-timeout 20
check "the build records the start and ready commands and the timeout" \
  test "$(record web)" = "$start test -f /home/user/ready 20"
t0=$(date +%s%N)
sb=$("$FK" create web 2>"$work/create.err")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "create returns once the ready command succeeds (${ms} ms)" \
  sh -c "test -n '$sb' && test $ms -ge 900 && '$FK' exec '$sb' -- test -f /home/user/ready"
check "the start command keeps running after create" running_in "$sb" sleep
check "it ran as the image's user, in its working directory" \
  test "$("$FK" exec "$sb" -- cat /home/user/start.uid /home/user/start.cwd | tr '\n' ' ')" = "1000 /home/user "

# A snapshot of it: the processes are not kept, the commands are.
snap=$("$FK" snapshot "$sb" --id web-snap)
check "a snapshot keeps the start and ready commands" \
  test "$(record web-snap)" = "$start test -f /home/user/ready 20"
"$FK" exec "$sb" -- rm /home/user/ready
"$FK" rm -f "$sb" >/dev/null
sb2=$("$FK" create web-snap)
check "a sandbox from the snapshot runs the start command again" \
  sh -c "test -n '$sb2' && '$FK' exec '$sb2' -- test -f /home/user/ready"
"$FK" rm -f "$sb2" >/dev/null

# Only a start command: create does not wait.
build -t bg --start-cmd 'exec sleep 1000'
sb=$("$FK" create bg)
check "a start command without a ready command is left running" running_in "$sb" sleep
"$FK" rm -f "$sb" >/dev/null

# Failures: a clear error, no sandbox left, no cgroup left.
# nothing_left ERRFILE: no sandbox, and no cgroup of the one the error names (other tests on
# the machine may make cgroups meanwhile: a count would not do).
nothing_left() {
  local id
  id=$(sed -n 's/.*sandbox \([0-9a-f]*\) deleted.*/\1/p' "$1")
  test -n "$id" && test -z "$("$FK" ls -q)" && ! ls -d /sys/fs/cgroup/*/firkin/"$id" /sys/fs/cgroup/firkin/"$id" 2>/dev/null | grep -q .
}
build -t never --start-cmd 'exec sleep 1000' --ready-cmd 'exit 3' --ready-timeout 1
t0=$(date +%s%N)
if "$FK" create never >"$work/out" 2>"$work/err"; then rc=0; else rc=$?; fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a ready command that never succeeds fails the create" test "$rc" -ne 0
check "with a timeout error naming the command and its last code" \
  grep -q "sandbox [0-9a-f]* deleted: .*ready command .exit 3. did not succeed within 1 s (last exit code 3)" "$work/err"
check "after about the timeout (${ms} ms)" test "$ms" -ge 1000 -a "$ms" -lt 5000
check "and leaves no sandbox and no cgroup" nothing_left "$work/err"

build -t hangs --ready-cmd 'exec sleep 1000' --ready-timeout 1
t0=$(date +%s%N)
! "$FK" create hangs >/dev/null 2>"$work/err2"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a ready command that hangs is killed at the timeout (${ms} ms)" \
  sh -c "grep -q 'did not succeed within 1 s' '$work/err2' && test $ms -lt 5000"
check "and leaves nothing" nothing_left "$work/err2"

build -t badstart --start-cmd 'echo boom >&2; exit 7' --ready-cmd 'exit 1' --ready-timeout 30
t0=$(date +%s%N)
! "$FK" create badstart >/dev/null 2>"$work/err3"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a start command that fails ends the wait at once (${ms} ms)" \
  sh -c "grep -q 'start command .* exited with code 7 before the sandbox was ready' '$work/err3' && test $ms -lt 5000"
check "and leaves nothing" nothing_left "$work/err3"

check "--ready-timeout takes whole seconds only" \
  sh -c "! '$FK' template build -t x --ready-timeout 1.5 '$work/ctx' 2>'$work/err4' && grep -q 'not 1 to 86400 seconds' '$work/err4'"
check "a build without the options records none" \
  sh -c "$(declare -f build record); FK='$FK' work='$work' FIRKIN_STATE_DIR='$FIRKIN_STATE_DIR'; build -t plain && test \"\$(record plain)\" = 'None None None'"
done_testing
