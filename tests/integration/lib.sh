# tests/integration/lib.sh: TAP helpers for integration tests that drive the real binaries.
# A test sources this, calls plan N, then ok/fail/skip per case; cleanup hooks run on any exit.
# Environment from meson: FK, FK_AGENT, FKD (binaries), FIRKIN_SRC (source root).
set -u
_tap_n=0
_tap_failed=0
_cleanups=()
export FIRKIN_STATE_DIR=${FIRKIN_STATE_DIR:-$(mktemp -d /tmp/firkin-it.XXXXXX)}
_cleanups+=("rm -rf '$FIRKIN_STATE_DIR'")

plan() { echo "1..$1"; }
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
fail() { _tap_n=$((_tap_n + 1)); _tap_failed=1; echo "not ok $_tap_n - $*"; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP ${2:-}"; }
diag() { printf "%s\n" "$*" | sed "s/^/# /"; }
# check NAME CMD...: ok when CMD succeeds, else not ok with its output as diagnostics.
check() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then ok "$name"; else fail "$name"; printf '%s\n' "$out" | sed 's/^/# /' | head -40; fi
}
# on_exit CMD: run CMD (a string, eval'd) when the test ends, last registered first.
on_exit() { _cleanups+=("$1"); }
_run_cleanups() {
  local i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1 || true; done
}
trap '_run_cleanups' EXIT
trap 'exit 130' INT TERM
# A watchdog 30 s before meson's timeout (600 s; FK_TEST_WATCHDOG seconds): the shell runs its
# traps only once the command it waits for returns, so a hung command would keep the cleanups
# from running when meson kills the suite (its sandboxes left behind), and the log would not say
# where it hung. The watchdog prints the hung commands, stops them, and the cleanups run. It is
# not this shell's child (a bare `wait' in a suite would wait for it too): it checks every
# second that this shell, the same process, still runs, and ends when it does not.
_descendants() {
  local p
  for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$p"; _descendants "$p"; done
}
_starttime() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo "${20}"
}
_watchdog() {
  local top=$1 limit=$2 born=$3 s waited=0
  trap 'kill $s 2>/dev/null; exit 0' TERM
  while [ "$waited" -lt "$limit" ]; do
    sleep 1 &
    s=$!
    wait $s
    waited=$((waited + 1))
    [ "$(_starttime "$top")" = "$born" ] || exit 0
  done
  echo "# watchdog: the suite ran for $limit s; what it was running:"
  local pids
  pids=$(_descendants "$top")
  # shellcheck disable=SC2086
  [ -n "$pids" ] && ps -o pid=,etime=,args= -p $(echo $pids | tr ' ' ,) | sed 's/^/#   /'
  echo "not ok - the watchdog stopped the suite after $limit s"
  # shellcheck disable=SC2086
  kill -TERM $pids "$top" 2>/dev/null
  exit 0
}
exec 9>&1
_watchdog_pid=$( { _watchdog $$ "${FK_TEST_WATCHDOG:-570}" "$(_starttime $$)" >&9 2>&9 9>&- & } ; echo $! )
exec 9>&-
_cleanups=("kill $_watchdog_pid" "${_cleanups[@]}")
# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for CMD...: polls CMD until it succeeds (readiness, not a fixed sleep), 20 s at most.
wait_for() {
  local i
  for ((i = 0; i < 400; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}
done_testing() { exit $_tap_failed; }
