#!/usr/bin/env bash
# The terminal escape: code in a sandbox must never reach the host's terminal or session. An
# interactive host shell runs in a real pseudo-terminal (script(1)); from it `fk run`, `fk exec
# -t` and `fk shell` run a program that pushes `touch MARK` into every terminal it can reach
# with TIOCSTI. Had it reached the host's terminal, the host shell would run the line after fk
# returned; the test then has the shell touch a second file, which it can only do after any
# injected line, and checks that MARK does not exist.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 9

attack=$FK_ATTACK_DIR/fk-attack-tiocsti
cp "$attack" "$rootfs/bin/fk-attack-tiocsti"
work=$(mktemp -d /tmp/firkin-tty.XXXXXX)
on_exit "rm -rf '$work'"

# host_shell LINE: types LINE into an interactive bash on a new pseudo-terminal, waits until it
# ran, then until anything typed into that terminal behind it ran too. Prints the session's log.
host_shell() {
  local d
  d=$(mktemp -d "$work/sh.XXXXXX")
  local fifo=$d/in log=$d/log done1=$d/done1 done2=$d/done2
  mkfifo "$fifo"
  script -qfec "bash --norc --noprofile -i" /dev/null <"$fifo" >"$log" 2>&1 &
  local spid=$!
  exec 7>"$fifo"
  printf '%s; touch %s\n' "$1" "$done1" >&7
  wait_for test -e "$done1" || diag "the host shell did not finish: $(tail -5 "$log")"
  printf 'touch %s\n' "$done2" >&7
  wait_for test -e "$done2"
  printf 'exit\n' >&7
  exec 7>&-
  wait "$spid" 2>/dev/null
  cat "$log"
}

mark=$work/pwned
out=$(host_shell "'$FK' run --rootfs '$rootfs' -- /bin/fk-attack-tiocsti 'touch $mark'")
if [ ! -e "$mark" ]; then ok "fk run from a terminal: no line reaches the host shell"; else
  fail "fk run from a terminal: the sandbox injected a line the host shell ran"; diag "$out"; fi
if echo "$out" | grep -q 'stdin (/dev/pts/0): TIOCSTI refused: Operation not permitted'; then
  ok "fk run on a terminal: the command has a terminal of the sandbox's own, TIOCSTI is refused"
else fail "fk run: the sandbox's terminal"; diag "$out"; fi
if echo "$out" | grep -q 'TIOCLINUX refused: Operation not permitted' && ! echo "$out" | grep -q 'TIOCLINUX allowed'; then
  ok "fk run: TIOCLINUX refused"; else fail "fk run: TIOCLINUX"; diag "$out"; fi

rm -f "$mark"
out=$(host_shell "echo | '$FK' run --rootfs '$rootfs' -- /bin/fk-attack-tiocsti 'touch $mark' 2>&1 | cat")
if [ ! -e "$mark" ] && echo "$out" | grep -q 'stdin: not a terminal' && echo "$out" | grep -q '/dev/tty: No such device or address'; then
  ok "fk run with pipes: no terminal inside at all, not even /dev/tty"
else fail "fk run with pipes"; diag "$out"; fi

out=$("$FK" run --rootfs "$rootfs" -- /bin/fk-attack-tiocsti true </dev/null 2>&1)
sid=$(echo "$out" | sed -n 's/^session \([0-9-]*\), pid \([0-9]*\).*/\1 \2/p')
if [ "$sid" = "1 1" ]; then ok "fk run: the command leads a session of its own"; else
  fail "fk run: session"; diag "$out"; fi

id=$(new_sandbox)
rm -f "$mark"
out=$(host_shell "'$FK' exec -i -t $id -- /bin/fk-attack-tiocsti 'touch $mark'")
if [ ! -e "$mark" ] && echo "$out" | grep -q 'TIOCSTI refused: Operation not permitted'; then
  ok "fk exec -t from a terminal: nothing reaches the host shell, TIOCSTI refused"
else fail "fk exec -t"; diag "$out"; fi
rm -f "$mark"
out=$(host_shell "'$FK' exec $id -- /bin/fk-attack-tiocsti 'touch $mark'")
if [ ! -e "$mark" ] && echo "$out" | grep -q '/dev/tty: No such device or address'; then
  ok "fk exec from a terminal: no terminal inside"; else fail "fk exec"; diag "$out"; fi
rm -f "$mark"
out=$(host_shell "'$FK' shell $id -c '/bin/fk-attack-tiocsti \"touch $mark\"'")
if [ ! -e "$mark" ] && echo "$out" | grep -q '/dev/tty: No such device or address'; then
  ok "fk shell from a terminal: no terminal inside"; else fail "fk shell"; diag "$out"; fi

# With the filter lifted for the test, TIOCSTI on the sandbox's own terminal works, and still
# reaches only the sandbox: the isolation does not rest on the filter alone.
rm -f "$mark"
out=$(host_shell "'$FK' run --rootfs '$rootfs' --seccomp unconfined -- /bin/fk-attack-tiocsti 'touch $mark'")
if [ ! -e "$mark" ] && echo "$out" | grep -q 'stdin (/dev/pts/0): injected'; then
  ok "unconfined: TIOCSTI goes into the sandbox's own terminal, never the host's"
else fail "unconfined fk run"; diag "$out"; fi
done_testing
