#!/usr/bin/env bash
# Per-user kernel limits: every sandbox maps its ids to a host range of its own, so a sandbox
# that uses up the limits of its host uid (fds in flight over unix sockets, pipe buffers) takes
# nothing from the others. Sandbox A runs a hog that holds as many fds in flight as the kernel
# lets its uid, and enough pipes to pass fs.pipe-user-pages-soft; B (made before) and C (made
# after) must still pass an fd over SCM_RIGHTS and get 64 KiB pipes. Then the ranges: distinct,
# not overlapping, one slot file each under the state dir's idranges/, freed on delete, after
# PID 1 is killed, and after a crash that left a slot without its sandbox.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 12

attack=$FK_ATTACK_DIR/fk-attack-userlimits
table=$FIRKIN_STATE_DIR/idranges
base0=1000000000
size=65536

# map_of ID: "INSIDE HOST COUNT" of PID 1's uid_map as the host reads it.
map_of() { awk '{ print $1, $2, $3 }' "/proc/$(host_pid "$1")/uid_map"; }
# host_base ID: the first host id of the sandbox's range.
host_base() { map_of "$1" | awk '{ print $2 }'; }
# slot_file ID: the slot file of the sandbox's range (it may not exist).
slot_file() { echo "$table/$((($(host_base "$1") - base0) / size))"; }
# install ID: the attack program at /tmp/u in sandbox ID.
install() { "$FK" cp "$attack" "$1:/tmp/u" && "$FK" exec "$1" -- chmod 755 /tmp/u; }
# probe_ok ID: one SCM_RIGHTS send works and a new pipe has 64 KiB, in sandbox ID.
probe_ok() {
  local out
  out=$("$FK" exec "$1" -- /tmp/u probe 2>&1)
  echo "$out"
  grep -qx 'scm_rights=ok' <<<"$out" && grep -qx 'pipe_size=65536' <<<"$out"
}

a=$(new_sandbox)
b=$(new_sandbox)
check "two sandboxes made" test -n "$a" -a -n "$b"
diag "A: $(map_of "$a"); B: $(map_of "$b")"

# distinct_ranges X Y: X's and Y's ranges are whole, aligned slots that do not overlap; gid_map
# is the same as uid_map.
distinct_ranges() {
  local x=$1 y=$2 bx by
  bx=$(host_base "$x") by=$(host_base "$y")
  for s in "$x" "$y"; do
    local m
    m=$(map_of "$s")
    [ "$m" = "$(awk '{ print $1, $2, $3 }' "/proc/$(host_pid "$s")/gid_map")" ] || { echo "$s: gid_map differs from uid_map ($m)"; return 1; }
    case $m in "0 "*" $size") ;; *) echo "$s: map $m is not 0 BASE $size"; return 1 ;; esac
  done
  for v in "$bx" "$by"; do
    [ $(((v - base0) % size)) = 0 ] && [ "$v" -gt "$base0" ] && [ $((v + size - 1)) -lt 4294967295 ] || { echo "base $v is not a slot's"; return 1; }
  done
  [ $((bx + size)) -le "$by" ] || [ $((by + size)) -le "$bx" ] || { echo "ranges $bx and $by overlap"; return 1; }
}
check "A and B map to different host ranges that do not overlap" distinct_ranges "$a" "$b"
# owns ID: the slot file of ID's range exists and names ID.
owns() { local f; f=$(slot_file "$1"); [ "$(cat "$f" 2>/dev/null)" = "$1" ] || { echo "$f: $(cat "$f" 2>&1)"; ls -l "$table" 2>&1; return 1; }; }
check "each range is a slot of the state dir's table, naming its sandbox" eval 'owns "$a" && owns "$b"'

install "$a" && install "$b"
# The hog runs in the background in A (its own session, its output in a file inside A).
"$FK" exec "$a" -- sh -c '/tmp/u hog </dev/null >/tmp/hog.log 2>&1 &'
hog_ready() { "$FK" exec "$a" -- grep -qx ready /tmp/hog.log; }
if wait_for hog_ready; then
  ok "the hog holds its fds in flight and its pipes in A"
else
  fail "the hog holds its fds in flight and its pipes in A"
fi
diag "hog: $("$FK" exec "$a" -- cat /tmp/hog.log | tr '\n' ' ')"
# The hog must have exhausted its own uid's limits, or the checks below prove nothing.
hog_effective() {
  local out
  out=$("$FK" exec "$a" -- /tmp/u probe 2>&1)
  echo "$out"
  grep -qx 'scm_rights=ETOOMANYREFS.*' <<<"$out" && [ "$(sed -n 's/^pipe_size=//p' <<<"$out")" -lt 65536 ]
}
check "the hog used up its own uid's limits (a probe in A fails)" hog_effective
check "B (made before the hog) still passes an fd over SCM_RIGHTS and gets 64 KiB pipes" probe_ok "$b"
c=$(new_sandbox)
install "$c"
check "C (made after the hog) still passes an fd over SCM_RIGHTS and gets 64 KiB pipes" probe_ok "$c"
check "C's range differs from A's and B's" eval 'distinct_ranges "$c" "$a" && distinct_ranges "$c" "$b"'

# Ranges come back: on delete (the hog's sandbox first: until then its uid's limits are spent),
# when PID 1 was killed and the next fk call cleans up, and when a crash left a slot whose
# sandbox is gone. Each slot file must exist before, or its absence after proves nothing.
# freed_by FILE CMD...: FILE exists, CMD runs, then FILE is gone (within wait_for's 20 s).
freed_by() {
  local f=$1
  shift
  [ -e "$f" ] || { echo "no slot file $f before"; return 1; }
  "$@" >/dev/null || return 1
  wait_for test ! -e "$f" || { echo "$f is still there: $(cat "$f")"; return 1; }
}
check "delete frees the range (its slot file goes): the hog's sandbox" freed_by "$(slot_file "$a")" "$FK" rm -f "$a"
check "delete frees the range: B" freed_by "$(slot_file "$b")" "$FK" rm -f "$b"
fc=$(slot_file "$c")
pc=$(host_pid "$c")
gone() { ! "$FK" ls -q | grep -qx "$1"; }
check "PID 1 killed: the next fk call removes the sandbox and frees its range" \
  freed_by "$fc" eval 'kill -9 "$pc" && wait_for gone "$c"'
orphan=
for ((s = 50276; s > 50176; s--)); do [ -e "$table/$s" ] || { orphan=$table/$s; break; }; done
mkdir -p "$table"
printf 0123456789ab >"$orphan"
touch -d '2 minutes ago' "$orphan"
on_exit "rm -f '$orphan'"
check "a slot left by a crash (no sandbox directory) is swept by the next fk call" \
  freed_by "$orphan" "$FK" ls
done_testing
