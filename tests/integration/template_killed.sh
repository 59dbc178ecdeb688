#!/usr/bin/env bash
# A build or a snapshot SIGKILLed at several points (while a RUN runs, while a RUN's changes are
# captured, while a COPY layer is written, while `fk snapshot' has the sandbox frozen) leaves no
# template of its name, and what it left (the RUN sandbox, temporary records, its lock, partial
# blobs, a frozen sandbox) is removed by the next build, `fk image prune' or the sweep of any
# fk command; a build or snapshot of the same name then works.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 25
work=$(mktemp -d /tmp/firkin-killed.XXXXXX)
on_exit "rm -rf '$work'"
S=$FIRKIN_STATE_DIR
"$FIRKIN_SRC/scripts/images/busybox.sh" "$work/oci" >/dev/null
"$FK" template prepare -q --id bb "oci:$work/oci:busybox" >/dev/null

# wait_file GLOB: polls (10 ms) until a path matches GLOB, 20 s at most.
wait_file() {
  local i
  for ((i = 0; i < 2000; i++)); do compgen -G "$1" >/dev/null && return 0; sleep 0.01; done
  return 1
}
# build_then_kill CTX GLOB: starts a build of CTX as `victim', SIGKILLs fk once GLOB exists.
build_then_kill() {
  "$FK" template build -q -t victim "$1" >/dev/null 2>&1 &
  local pid=$!
  if wait_file "$2"; then kill -9 $pid; fi
  wait $pid 2>/dev/null
  return 0
}
# leftovers: what a killed build may leave, one a line.
leftovers() {
  "$FK" ls -q
  ls "$S/templates" | grep '^build-' || true
  ls "$S/locks" | grep '^build-' || true
  ls "$S/tmp"
  grep -F "$S" /proc/self/mountinfo || true
}
# cgroups_of IDS...: the cgroups still there of those sandboxes.
cgroups_of() { local id; for id in "$@"; do ls -d /sys/fs/cgroup/*/firkin/"$id" /sys/fs/cgroup/firkin/"$id" 2>/dev/null; done; }

mkdir -p "$work/run" "$work/cap" "$work/copy"
printf 'FROM bb\nRUN echo a > /a\nRUN touch /started; sleep 60\n' > "$work/run/Dockerfile"
printf 'FROM bb\nRUN head -c 300000000 /dev/zero > /big\n' > "$work/cap/Dockerfile"
printf 'FROM bb\nCOPY big /big\n' > "$work/copy/Dockerfile"
head -c 300000000 /dev/zero > "$work/copy/big"

# started: the build's RUN sandbox runs the command that touches /started.
started() { local id; id=$("$FK" ls -q | head -1); [ -n "$id" ] && "$FK" exec "$id" -- test -f /started; }
# 1. While a RUN runs.
"$FK" template build -q -t victim "$work/run" >/dev/null 2>&1 &
pid=$!
wait_for started
kill -9 $pid; wait $pid 2>/dev/null
ids=$("$FK" ls -q)
check "killed during RUN: the RUN sandbox is left running at first" test -n "$ids"
check "and no template of the build's name" sh -c "! '$FK' template inspect victim >/dev/null 2>&1"
out=$("$FK" image prune 2>&1)
check "fk image prune removes the sandbox, the temporary records and the lock" \
  sh -c "test -z \"\$(leftovers)\"" 
check "and the sandbox's cgroups" test -z "$(cgroups_of $ids)"

# 2. While a RUN's changes are captured (the sandbox frozen, a partial blob in tmp/).
build_then_kill "$work/cap" "$S/sandboxes/*/capturing"
ids=$("$FK" ls -q)
check "killed during a RUN's capture: no template" sh -c "! '$FK' template inspect victim >/dev/null 2>&1"
# The next build of another Dockerfile sweeps what the killed one left.
printf 'FROM bb\nRUN echo other > /o\n' > "$work/run2.Dockerfile"
mkdir -p "$work/other" && cp "$work/run2.Dockerfile" "$work/other/Dockerfile"
"$FK" template build -q -t other "$work/other" >/dev/null 2>"$work/other.err"
check "the next build removes the killed build's sandbox and records" \
  sh -c "test -z \"\$('$FK' ls -q)\" && ! ls '$S/templates' | grep -q '^build-' && ! ls '$S/locks' | grep -q '^build-'"
check "and its cgroups" test -z "$(cgroups_of $ids)"
"$FK" image prune >/dev/null 2>&1
check "fk image prune then removes the partial blob" test -z "$(leftovers)"

# 3. While a COPY layer is written.
build_then_kill "$work/copy" "$S/tmp/blob-*"
check "killed during COPY: no template" sh -c "! '$FK' template inspect victim >/dev/null 2>&1"
"$FK" image prune >/dev/null 2>&1
check "fk image prune leaves nothing behind" test -z "$(leftovers)"

# 4. Killed at once, or a few milliseconds in: before any step, or while the RUN sandbox is
#    being made (a create killed before its state is saved leaves a directory without it and
#    the cgroup, which the runtime sweep removes once the directory is a minute old: aged here).
for d in 0 0.01 0.02 0.03 0.05 0.08; do
  "$FK" template build -q -t victim "$work/run" >/dev/null 2>&1 &
  pid=$!; sleep $d; kill -9 $pid; wait $pid 2>/dev/null
done
made=$(ls "$S/sandboxes")
for id in $made; do [ -e "$S/sandboxes/$id/state.json" ] || touch -d '-2 min' "$S/sandboxes/$id"; done
"$FK" ls >/dev/null 2>&1
"$FK" image prune >/dev/null 2>&1
check "killed at once or while making its sandbox: nothing left after the sweeps" \
  test -z "$(leftovers; ls "$S/sandboxes")"
check "nor any of their cgroups (${made//$'\n'/ })" test -z "$(cgroups_of $made)"

# The same name builds afterwards, and from the cache where the killed build got that far.
printf 'FROM bb\nRUN echo a > /a\nRUN echo done > /done\n' > "$work/run/Dockerfile"
check "a build of the killed build's name then works" \
  sh -c "'$FK' template build -q -t victim '$work/run' >/dev/null 2>&1 && [ \"\$('$FK' run victim -- cat /a /done | tr '\n' ' ')\" = 'a done ' ]"

# 5. fk snapshot killed while it has the sandbox frozen.
sb=$("$FK" create bb)
"$FK" exec "$sb" -- sh -c 'head -c 300000000 /dev/zero > /big; echo kept > /kept'
"$FK" snapshot "$sb" --id snap >/dev/null 2>&1 &
pid=$!
wait_file "$S/sandboxes/$sb/capturing" && kill -9 $pid
wait $pid 2>/dev/null
check "killed snapshot: the sandbox was left frozen with the capture's mark" \
  test -e "$S/sandboxes/$sb/capturing"
check "and no template of its name" sh -c "! '$FK' template inspect snap >/dev/null 2>&1"
# Any fk command's sweep thaws it (fk ls opens the runtime).
"$FK" ls >/dev/null
check "the next fk command thaws it: it runs commands again" \
  sh -c "! test -e '$S/sandboxes/$sb/capturing' && timeout 10 '$FK' exec '$sb' -- cat /kept | grep -qx kept"
status=$("$FK" inspect "$sb" | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p')
check "and its status is running ($status)" test "$status" = running
check "a snapshot of the same name then works" \
  sh -c "[ \"\$('$FK' snapshot '$sb' --id snap)\" = snap ] && [ \"\$('$FK' run snap -- cat /kept)\" = kept ]"
# A user's pause is not undone by the sweep: no capture mark.
"$FK" pause "$sb"
"$FK" ls >/dev/null
status=$("$FK" inspect "$sb" | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p')
check "a sandbox the user paused stays paused through the sweep" test "$status" = paused
"$FK" rm -f "$sb" >/dev/null
"$FK" image prune >/dev/null 2>&1
check "after the snapshot tests nothing is left" test -z "$(leftovers)"

# 6. A live build's sandbox and records are not swept by another build or a prune.
printf 'FROM bb\nRUN touch /started; sleep 3; echo slow > /slow\n' > "$work/run/Dockerfile"
"$FK" template build -q -t slow "$work/run" >/dev/null 2>"$work/slow.err" &
slow=$!
wait_for started
"$FK" template build -q -t other "$work/other" >/dev/null 2>&1
check "another build meanwhile leaves the live build's sandbox alone" test -n "$("$FK" ls -q)"
wait $slow
check "and the live build completes" sh -c "[ \"\$('$FK' run slow -- cat /slow)\" = slow ]"
check "leaving nothing behind" test -z "$(leftovers)"
check "an orphaned atomic write's file is removed by prune" \
  sh -c "echo x > '$S/templates/.gone.json.tmp.999999999' && '$FK' image prune >/dev/null 2>&1 && ! test -e '$S/templates/.gone.json.tmp.999999999'"
check "no build lock is left" sh -c "! ls '$S/locks' | grep -q '^build-'"
done_testing
