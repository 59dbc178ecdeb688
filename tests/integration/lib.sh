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
# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for CMD...: polls CMD until it succeeds (readiness, not a fixed sleep), 20 s at most.
wait_for() {
  local i
  for ((i = 0; i < 400; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}
done_testing() { exit $_tap_failed; }
