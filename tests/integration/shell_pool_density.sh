#!/usr/bin/env bash
# fk bench shell-pool-density with small settings from the reference's environment variables:
# a real sandbox (busybox root), shell pools through fk-agent, crun exec as the peer; the
# artifacts are validated with the trace reader (fk bench report) and against the reference's
# shape, and nothing is left behind (sandbox, crun container, work directories).
. "$(dirname "$0")/lib.sh"
plan 8

skip_all() { for i in 1 2 3 4 5 6 7 8; do skip "shell-pool-density $i" "$1"; done; done_testing; }
[ -n "${FK:-}" ] && [ -x "$FK" ] || skip_all "fk binary not built"
[ "$(id -u)" = 0 ] || skip_all "needs root (sandboxes and crun)"
command -v crun >/dev/null || skip_all "crun not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

dir=$(mktemp -d /tmp/firkin-spd.XXXXXX)
on_exit "rm -rf '$dir'"
art=$dir/out/density.json
export FIRKIN_LIVE_SANDBOX_SHELL_POOL_DENSITY_ARTIFACT=$art
export FIRKIN_LIVE_SANDBOX_SHELL_POOL_DENSITY_REPEATS=3
export FIRKIN_LIVE_SANDBOX_SHELL_POOL_DENSITY_LEVELS=1,2
out=$("$FK" bench shell-pool-density 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -f "$art" ] && [ -f "$dir/out/density-crun-exec.json" ]; then
  ok "the benchmark runs and writes both artifacts"
else
  fail "the benchmark runs and writes both artifacts"; printf '%s\n' "$out" | sed 's/^/# /' | head -40
fi

check "fk bench report reads the artifact" "$FK" bench report "$art"
check "fk bench report reads the peer artifact" "$FK" bench report "$dir/out/density-crun-exec.json"

check "the artifact has the reference's metrics, tags and breakpoint" python3 - "$art" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["kind"] == "live_sandbox_shell_pool_density", a["kind"]
assert a["traces"] == []
s = a["samples"]
assert len(s) == 7, len(s)  # 2 levels x 3 repeats + the breakpoint
for i, x in enumerate(s[:6]):
    level, repeat = (1, i) if i < 3 else (2, i - 3)
    assert x["metric"] == "debug.exec.sandbox_shell_pool_run_completion_c%d_ms" % level, x
    assert x["kind"] == "LifecycleLatency" and x["unit"] == "Milliseconds"
    assert isinstance(x["value"], float) and 0 < x["value"] < 10000, x["value"]
    t = x["tags"]
    assert list(t) == ["measurement_boundary", "shell_surface", "output_boundary", "command",
                       "warmup_dispatch", "concurrency_level", "repeat_index", "repeat_count",
                       "concurrency_levels", "confidence"], list(t)
    assert t["measurement_boundary"] == "sandbox_shell_pool_run_completion"
    assert t["shell_surface"] == "firkin_sandbox_shell_pool"
    assert t["output_boundary"] == "command_completion"
    assert t["command"] == "printf" and t["warmup_dispatch"] == "excluded"
    assert t["concurrency_level"] == str(level) and t["repeat_index"] == str(repeat)
    assert t["repeat_count"] == "3" and t["concurrency_levels"] == "1,2"
    assert t["confidence"] == "superfast_iteration"
bp = s[6]
assert bp["metric"] == "debug.density.max_active_before_sandbox_shell_pool_run_completion_p95_doubles"
assert bp["kind"] == "WorkloadResource" and bp["unit"] == "Count"
c1 = sorted(x["value"] for x in s[:3])
c2 = sorted(x["value"] for x in s[3:6])
want = 2.0 if c2[2] <= 2 * c1[2] else 1.0
assert bp["value"] == want, (bp["value"], c1, c2)
assert bp["tags"]["baseline_p95_ms"] == "%.6f" % c1[2], (bp["tags"], c1)
assert bp["tags"]["threshold_p95_ms"] == "%.6f" % (2 * c1[2])
assert bp["tags"]["source"] == "sandbox-shell-pool-run-completion-p95-threshold"
assert bp["tags"]["confidence"] == "smoke_only"
PY

check "the peer artifact has the same shape for crun exec" python3 - "$dir/out/density-crun-exec.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["kind"] == "live_crun_exec_density", a["kind"]
s = a["samples"]
assert len(s) == 7, len(s)
assert all(x["metric"].startswith("debug.exec.crun_exec_run_completion_c") for x in s[:6])
assert all(x["tags"]["shell_surface"] == "crun_exec" for x in s[:6])
assert s[6]["metric"] == "debug.density.max_active_before_crun_exec_run_completion_p95_doubles"
PY

if printf '%s\n' "$out" | grep -Eq '^ +1 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+x$'; then
  ok "the comparison table shows level 1 beside crun with the ratio"
else
  fail "the comparison table shows level 1 beside crun with the ratio"; printf '%s\n' "$out" | tail -8 | sed 's/^/# /'
fi

# --template names a prepared template; a missing one is refused up front, naming it.
out2=$("$FK" bench shell-pool-density --template no-such-template --no-peer 2>&1)
if [ $? -ne 0 ] && [[ $out2 == *"no-such-template"* ]] && [[ $out2 != *unrecognized* ]]; then
  ok "--template with a missing template is a clear error"
else
  fail "--template with a missing template is a clear error"; printf '%s\n' "$out2" | head -5 | sed 's/^/# /'
fi

left=$(find "$FIRKIN_STATE_DIR/sandboxes" "$FIRKIN_STATE_DIR/tmp" -mindepth 1 2>/dev/null)
if [ -z "$left" ] && ! ps -eo args | grep -q '^sleep 100000000'; then
  ok "nothing is left: no sandbox, no work directory, no crun container"
else
  fail "nothing is left: no sandbox, no work directory, no crun container"; echo "# $left"
fi
done_testing
