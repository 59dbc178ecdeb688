#!/usr/bin/env bash
# Forks from a warm pool (fk_warm_pool_fork, sandbox/reroot.h): a ready sandbox of the source's
# template moved onto the snapshot's root. The forks see the source's files (deletions too) and
# diverge each on its own; /proc, /dev, /tmp and /dev/shm work; their mounts are a created
# fork's; the disk limit holds on the new disk; a snapshot of a pooled fork captures its own
# changes (the agent holds the new upper dir); the pool running out, a pool of another spec and
# dead pooled sandboxes all fall back to creates; nothing is left behind.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
if [ -z "${FK_POOLFORK_RUN:-}" ] || [ ! -x "$FK_POOLFORK_RUN" ] \
  || ! "$FK" template --help >/dev/null 2>&1; then
  echo "1..0 # SKIP no warm pool or template store in this build"
  exit 0
fi
export FIRKIN_TIMEOUT=${FIRKIN_TIMEOUT:-$FIRKIN_BUILD/src/lib/sandbox/fk-timeout}
plan 27
S=$FIRKIN_STATE_DIR
layout=$(mktemp -d /tmp/firkin-layout.XXXXXX)
on_exit "rm -rf '$layout'"
"$FIRKIN_SRC/scripts/images/busybox.sh" "$layout/oci" >/dev/null
"$FK" template prepare -q --id bb "oci:$layout/oci:busybox" >/dev/null

setup='set -e; mkdir -p /data; echo hello > /data/x; rm /etc/group; echo src > /root/who'
# run COUNT DEPTH [MODE]: a fork from a pool; sets src, pooled and forks.
run() {
  local out
  out=$("$FK_POOLFORK_RUN" bb "$1" "$2" 64 "$setup" ${3:-}) || { echo "$out"; return 1; }
  src=$(echo "$out" | sed -n 's/^source //p')
  pooled=$(echo "$out" | sed -n 's/^pooled //p')
  forks=$(echo "$out" | sed -n 's/^fork //p' | tr '\n' ' ')
}
mounts() { "$FK" exec "$1" -- sh -c 'awk "{print \$5}" /proc/self/mountinfo | sort'; }

run 2 2 || fail "fork from a pool"
set -- $forks
f1=${1:-none} f2=${2:-none}
check "both forks come from the pool" [ "$pooled" = 2 ]
check "a pooled fork sees the source's files and its deletions" \
  sh -c "[ \"\$('$FK' exec $f1 -- sh -c 'cat /data/x /root/who; [ ! -e /etc/group ] && echo gone')\" = \"\$(printf 'hello\nsrc\ngone')\" ]"
check "so does the other" "$FK" exec "$f2" -- sh -c '[ "$(cat /data/x)" = hello ] && [ ! -e /etc/group ]'
"$FK" exec "$f1" -- sh -c 'echo one > /data/only1; rm /data/x' >/dev/null
check "each fork diverges on its own (a write and a delete in one stay there)" \
  "$FK" exec "$f2" -- sh -c '[ ! -e /data/only1 ] && [ "$(cat /data/x)" = hello ]'
check "the source sees nothing of its forks" \
  "$FK" exec "$src" -- sh -c '[ ! -e /data/only1 ] && [ "$(cat /data/x)" = hello ]'
check "/proc, /dev, /tmp and /dev/shm work after the move" "$FK" exec "$f1" -- sh -c '
  grep -q "^Pid:" /proc/self/status && [ "$(cat /proc/1/comm)" = fk-agent ] &&
  echo n > /dev/null && head -c 4 /dev/urandom | wc -c | grep -q 4 && [ -d /dev/pts ] &&
  echo t > /tmp/t && [ "$(cat /tmp/t)" = t ] && echo s > /dev/shm/s && [ "$(cat /dev/shm/s)" = s ]'
check "the agent's cwd is the fork's workdir, its hostname the sandbox's own" \
  sh -c "[ \"\$('$FK' exec $f1 -- sh -c 'pwd; hostname')\" = \"\$(printf '/\nfk-%.8s' $f1)\" ]"
check "the fork's state names the snapshot as its template" \
  sh -c "'$FK' inspect $f1 | grep -q '\"template\": \"fork-$src-'"
check "a pooled fork has the source's labels and variables, not the pool's label" \
  sh -c "'$FK' inspect $f1 | grep -q '\"owner\": \"poolfork\"' && ! '$FK' inspect $f1 | grep -q poolfork_run && [ \"\$('$FK' exec $f1 -- sh -c 'echo \$FORKVAR')\" = from-source ]"
check "its deadline is the source's time left, not the pool's year" \
  sh -c "e=\$('$FK' inspect $f1 | sed -n 's/.*\"expires\": \([0-9]*\).*/\1/p'); now=\$(date +%s); [ \$((e - now)) -gt 500 ] && [ \$((e - now)) -le 600 ]"
agent_on_new_disk() {
  local pid d4 d1 dshm
  pid=$(host_pid "$f1")
  d4=$(stat -L -c %d "/proc/$pid/fd/4") d1=$(stat -L -c %d "/proc/$pid/fd/1")
  dshm=$(stat -c %d "/proc/$pid/root/dev/shm")
  [ "$d4" = "$dshm" ] && [ "$d1" = "$dshm" ] && [ "$(readlink "/proc/$pid/cwd")" = / ]
}
check "the agent holds the new disk's upper dir and log (seen from the host), its cwd the new root" \
  agent_on_new_disk
check "inside, the agent's fds (the upper dir, the socket) and the store's paths are out of reach" \
  "$FK" exec "$f1" -- sh -c "! ls /proc/1/fd/4/ >/dev/null 2>&1 && ! ls /proc/1/fd/3/ >/dev/null 2>&1 && ! ls /proc/1/root/ >/dev/null 2>&1 && ! grep -q '$S' /proc/self/mountinfo"
tid=$("$FK" inspect "$f1" | sed -n 's/.*"template": "\([^"]*\)".*/\1/p')
plain=$("$FK" create --disk 64M "$tid")
check "a pooled fork has the mounts a created fork has, no more (nothing of the pool's root)" \
  sh -c "[ \"\$(mounts $f1 | tr '\n' ' ')\" = \"\$(mounts $plain | tr '\n' ' ')\" ]"
"$FK" rm -f "$plain" >/dev/null
check "the disk limit holds on the fork's new disk, /dev/shm counted in it" "$FK" exec "$f2" -- sh -c '
  df -k / | awk "NR==2 { exit !(\$2 <= 65536) }" &&
  head -c 40000000 /dev/zero > /data/a && ! head -c 40000000 /dev/zero > /dev/shm/b 2>/dev/null'
"$FK" exec "$f2" -- sh -c 'rm -f /data/a /dev/shm/b; echo mark > /data/mark' >/dev/null
snap=$("$FK" snapshot "$f2")
back=$("$FK" create --disk 64M "$snap")
check "a snapshot of a pooled fork has its own changes (the agent holds the new upper dir)" \
  "$FK" exec "$back" -- sh -c '[ "$(cat /data/mark)" = mark ] && [ "$(cat /data/x)" = hello ] && [ ! -e /data/only1 ]'
"$FK" rm -f "$back" >/dev/null
check "a pooled fork pauses to disk and resumes with its files" sh -c "
  '$FK' pause --to-disk $f2 && '$FK' resume $f2 &&
  [ \"\$('$FK' exec $f2 -- cat /data/mark /data/x)\" = \"\$(printf 'mark\nhello')\" ]"

run 3 1 || fail "fork from a pool of one"
n=0
for f in $forks; do "$FK" exec "$f" -- sh -c '[ "$(cat /data/x)" = hello ]' && n=$((n + 1)); done
check "the pool running out: one fork from it, the rest created, all alike" \
  sh -c "[ '$pooled' = 1 ] && [ $n = 3 ]"

run 2 2 mismatch || fail "fork beside a pool of another spec"
n=0
for f in $forks; do "$FK" exec "$f" -- sh -c '[ "$(cat /data/x)" = hello ]' && n=$((n + 1)); done
check "a pool of another spec is not used: the forks are created" sh -c "[ '$pooled' = 0 ] && [ $n = 2 ]"

run 2 2 kill-ready || fail "fork from a pool of dead sandboxes"
n=0
for f in $forks; do "$FK" exec "$f" -- sh -c '[ "$(cat /data/x)" = hello ]' && n=$((n + 1)); done
check "dead pooled sandboxes are dropped and the forks created instead" \
  sh -c "[ '$pooled' = 0 ] && [ $n = 2 ]"
check "nothing of the dropped ones is left (only the sources and the forks run)" \
  sh -c "[ \$('$FK' ls -q | wc -l) = \$(( 2 + 1 + 3 + 1 + 2 + 1 + 2 + 1 )) ]"

run 2 2 mark-ready || fail "fork from a pool whose sandboxes were written to"
n=0
for f in $forks; do
  "$FK" exec "$f" -- sh -c '[ "$(cat /data/x)" = hello ] && ! ls /root/pool-mark /tmp/pool-mark /dev/shm/pool-mark 2>/dev/null && ! ps -o comm | grep -qx sleep' && n=$((n + 1))
done
check "nothing a pooled sandbox held before (files in its root, /tmp, /dev/shm, a process) is in its fork" \
  sh -c "[ '$pooled' = 2 ] && [ $n = 2 ]"

# A fork of 4 from a pool of 2 whose creates fail (fk-agent gone): the 2 pooled forks made go too.
before=$("$FK" ls -q | sort)
fout=$("$FK_POOLFORK_RUN" bb 4 2 64 "$setup" fail-creates 2>&1)
rc=$?
src=$(echo "$fout" | sed -n 's/^source //p')
failed_whole() { [ $rc = 3 ] && grep -q "^failed: fork of sandbox .$src' ([1-4] of 4): open fk-agent" <<<"$fout"; }
check "a fork that fails part way fails as a whole (exit $rc)" failed_whole
none_left() { [ "$("$FK" ls -q | sort | tr '\n' ' ')" = "$(printf '%s\n' $before $src | sort | tr '\n' ' ')" ]; }
check "and leaves none of its forks, pooled or not (the source alone is new)" none_left

# fkd's fork route takes its warm pool when the parent is of the pool's template.
if [ -n "${FKD:-}" ] && [ -x "$FKD" ] && command -v curl >/dev/null; then
  port=$(free_port) eport=$(free_port)
  "$FKD" --listen 127.0.0.1:$port --envd-listen 127.0.0.1:$eport --warm-pool 3 \
    --warm-template bb --log-level info >"$S/fkd.out" 2>"$S/fkd.log" &
  fkd_pid=$!
  on_exit "kill $fkd_pid"
  api() { curl -sf -X POST "127.0.0.1:$port$1" -H 'Content-Type: application/json' -d "$2"; }
  wait_for grep -q 'warm pool: 3 sandboxes' "$S/fkd.log"
  parent=$(api /sandboxes '{"templateID":"bb"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxID"])')
  "$FK" exec "$parent" -- sh -c 'echo via-fkd > /root/f' >/dev/null
  kids=$(api "/sandboxes/$parent/fork" '{"count":2}' |
    python3 -c 'import json,sys; print(" ".join(x["sandbox"]["sandboxID"] for x in json.load(sys.stdin)))')
  n=0
  for k in $kids; do [ "$("$FK" exec "$k" -- cat /root/f)" = via-fkd ] && n=$((n + 1)); done
  check "fkd forks from its warm pool (the parent's files in both)" \
    sh -c "[ $n = 2 ] && grep -q 'forked sandbox $parent 2 times (2 from the warm pool)' '$S/fkd.log'"
  kill $fkd_pid; wait $fkd_pid 2>/dev/null
else
  skip "fkd forks from its warm pool" "no fkd or curl"
fi

made=$("$FK" ls -q)
"$FK" ls -q | xargs -r "$FK" rm -f >/dev/null
# The firkin cgroup parent is shared with whatever else runs sandboxes here: look for ours.
no_cgroup_left() {
  local id
  for id in $made; do
    [ ! -e "/sys/fs/cgroup/memory/firkin/$id" ] && [ ! -e "/sys/fs/cgroup/firkin/$id" ] || return 1
  done
}
check "every sandbox deleted: no cgroup of theirs left" no_cgroup_left
check "no mount of the state dir left on the host" sh -c "! grep -q '$S' /proc/self/mountinfo"
check "no process of the pool's helper left" sh -c "! pgrep -x poolfork_run"
done_testing
