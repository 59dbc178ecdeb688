#!/usr/bin/env bash
# Many callers at once on one state directory: parallel create/exec/delete loops, several
# deletes of one sandbox, stop racing delete and extend, and a sweep racing a stop. The
# lifecycle lock (sandbox.h fk_sandbox_lock_dir) keeps each change whole: no failure that is
# not the caller's, and nothing left (directories, cgroups, id ranges, processes).
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 6

work=$(mktemp -d /tmp/firkin-conc.XXXXXX)
on_exit "rm -rf '$work'"
# Every sandbox this test makes is written down, so the leftover check looks at its own
# cgroups only (other work on the host may make and remove sandboxes meanwhile).
new_sandbox() { local id; id=$("$FK" create --rootfs "$rootfs" "$@") && echo "$id" >>"$work/ids" && echo "$id"; }
own_cgroups() {
  local d id n=0
  for d in /sys/fs/cgroup/memory/firkin /sys/fs/cgroup/firkin; do
    [ -d "$d" ] || continue
    while read -r id; do [ -n "$id" ] && [ -d "$d/$id" ] && n=$((n + 1)); done <"$work/ids"
  done
  echo "$n"
}
touch "$work/ids"

# --- 16 loops, each creating, using and deleting sandboxes, all at once.
loop() {
  local n=$1 i id out
  for i in 1 2 3 4 5 6 7; do
    id=$(new_sandbox 2>>"$work/err.$n") || { echo "create $n.$i" >> "$work/fail"; continue; }
    out=$("$FK" exec "$id" -- echo "loop$n.$i" 2>>"$work/err.$n")
    [ "$out" = "loop$n.$i" ] || echo "exec $n.$i: $out" >> "$work/fail"
    "$FK" rm -f "$id" 2>>"$work/err.$n" || echo "rm $n.$i" >> "$work/fail"
  done
}
pids=()
for n in $(seq 16); do loop "$n" & pids+=($!); done
wait "${pids[@]}"
if [ ! -s "$work/fail" ] && [ -z "$("$FK" ls -q)" ]; then
  ok "16 parallel create/exec/rm loops (112 sandboxes): no failure, none left"
else fail "parallel loops"; diag "$(cat "$work/fail" "$work"/err.* 2>/dev/null | head -20)"; fi

# --- Four rm -f of one running sandbox at once: each succeeds, one did the work.
id=$(new_sandbox)
pid=$(host_pid "$id")
pids=()
for n in 1 2 3 4; do ( "$FK" rm -f "$id" 2> "$work/rm.$n"; echo $? > "$work/rc.$n" ) & pids+=($!); done
wait "${pids[@]}"
rcs=$(cat "$work"/rc.* | sort -u | tr '\n' ' ')
if [ "$rcs" = "0 " ] && [ ! -e "$FIRKIN_STATE_DIR/sandboxes/$id" ] && dead "$pid"; then
  ok "four concurrent rm -f of one sandbox all succeed; it is gone"
else fail "concurrent rm -f"; diag "rcs=$rcs $(cat "$work"/rm.*)"; fi

# --- Without -f, a second rm of a deleted sandbox says so plainly.
id=$(new_sandbox)
"$FK" rm -f "$id"
out=$("$FK" rm "$id" 2>&1); rc=$?
if [ "$rc" = 1 ] && echo "$out" | grep -q "no sandbox \`$id'"; then
  ok "rm of a deleted sandbox: a plain error without -f"
else fail "rm of a deleted sandbox"; diag "rc=$rc $out"; fi

# --- stop, extend and rm racing on one sandbox: rm wins in the end, the others either finish
# before it or say the sandbox was deleted; nothing is left half made.
bad=0
for round in 1 2 3 4 5; do
  id=$(new_sandbox --timeout 600)
  "$FK" stop -t 1 "$id" 2> "$work/stop.err" & a=$!
  "$FK" extend "$id" 900 2> "$work/extend.err" & b=$!
  "$FK" rm -f "$id" 2> "$work/rm.err"; rm_rc=$?
  wait $a; wait $b
  [ "$rm_rc" = 0 ] || bad=1
  for f in stop extend; do
    [ -s "$work/$f.err" ] && ! grep -qE "no sandbox|was deleted" "$work/$f.err" && { bad=1; diag "$f: $(cat "$work/$f.err")"; }
  done
  [ -e "$FIRKIN_STATE_DIR/sandboxes/$id" ] && bad=1
done
if [ "$bad" = 0 ]; then ok "stop, extend and rm racing: each whole, the sandbox gone"
else fail "stop/extend/rm race"; fi

# --- A sweep racing a stop: a sandbox stopped on purpose is kept (ls sweeps on open).
bad=0
for round in 1 2 3 4 5; do
  id=$(new_sandbox)
  "$FK" stop -t 1 "$id" & a=$!
  "$FK" ls -q > /dev/null; "$FK" ls -q > /dev/null
  wait $a
  "$FK" ls -q > /dev/null
  [ -e "$FIRKIN_STATE_DIR/sandboxes/$id" ] || { bad=1; diag "stopped sandbox $id swept"; }
  "$FK" rm "$id" || bad=1
done
if [ "$bad" = 0 ]; then ok "a sweep racing a stop keeps the stopped sandbox"
else fail "sweep/stop race"; fi

left_slots=$(find "$FIRKIN_STATE_DIR" -path '*idranges*' -type f 2>/dev/null | wc -l)
if [ -z "$("$FK" ls -q)" ] && [ "$(own_cgroups)" = 0 ] && [ "$left_slots" = 0 ] \
   && [ -z "$(ls -A "$FIRKIN_STATE_DIR/sandboxes")" ]; then
  ok "nothing left: no sandbox, cgroup, id range or directory"
else fail "leftovers"; diag "ls=$("$FK" ls -q) own cgroups left=$(own_cgroups) of $(wc -l <"$work/ids") slots=$left_slots"; fi
done_testing
