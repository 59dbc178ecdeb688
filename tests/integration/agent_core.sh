#!/usr/bin/env bash
# fk bench agent-core with small settings: every metric of the suite is in the artifact with its
# target, goal and confidence tags (with the host floors measured in the same run), the trace
# reader reads it, and cleanup left 0 bytes.
. "$(dirname "$0")/lib.sh"
plan 5

skip_all() { for i in 1 2 3 4 5; do skip "agent-core $i" "$1"; done; done_testing; }
[ -n "${FK:-}" ] && [ -x "$FK" ] || skip_all "fk binary not built"
[ "$(id -u)" = 0 ] || skip_all "needs root (sandboxes)"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

art=$FIRKIN_STATE_DIR/out/agent-core.json
out=$(FIRKIN_AGENT_CORE_ARTIFACT=$art "$FK" bench agent-core --iterations 3 --batches 1 --repeats 2 2>&1)
rc=$?
[ $rc = 0 ] && [ -f "$art" ] && ok "the suite runs and writes its artifact" || { fail "the suite runs"; printf '%s\n' "$out" | tail -20 | sed 's/^/# /'; }
check "fk bench report reads it" "$FK" bench report "$art"
check "every metric is there with its tags, and nothing was left" python3 - "$art" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["kind"] == "agent_core", a["kind"]
by = {}
for s in a["samples"]:
    by.setdefault(s["metric"], []).append(s)
want = {"hot_create_to_first_stdout_ms": 3, "cold_create_to_first_stdout_ms": 3, "pool_lease_ms": 3,
        "command_start_ms": 3, "first_stdout_byte_ms": 3, "batch_100_shell_ms": 1,
        "batch_100_exec_ms": 1, "shell_pool_density_breakpoint": 1, "cleanup_leftover_bytes": 1,
        "floor_first_stdout_ms": 3, "floor_batch_100_exec_ms": 1}
for m, n in want.items():
    got = by.get("agent_core." + m, [])
    assert len(got) == n, (m, len(got))
    for s in got:
        t = s["tags"]
        assert t["suite"] == "agent_core" and "target" in t and "goal" in t, t
        assert t["confidence"] == ("superfast_iteration" if n == 3 else "smoke_only"), t
        assert s["value"] >= 0
assert by["agent_core.hot_create_to_first_stdout_ms"][0]["tags"]["target"] == "p95 75 ms"
assert by["agent_core.cleanup_leftover_bytes"][0]["value"] == 0
assert by["agent_core.cleanup_leftover_bytes"][0]["unit"] == "Bytes"
assert 1 <= by["agent_core.shell_pool_density_breakpoint"][0]["value"] <= 8
# The floors: host starts of the same commands, measured in the same run (a start costs time).
assert by["agent_core.floor_first_stdout_ms"][0]["tags"]["measurement_boundary"] == "host_spawn_to_first_stdout"
assert all(s["value"] > 0.01 for s in by["agent_core.floor_first_stdout_ms"])
assert by["agent_core.floor_batch_100_exec_ms"][0]["value"] > 1
PY
check "the table sets the floors beside the commands" grep -q "floor p95" <<<"$out"
left=$(find "$FIRKIN_STATE_DIR/sandboxes" "$FIRKIN_STATE_DIR/tmp" -mindepth 1 2>/dev/null)
[ -z "$left" ] && ok "no sandbox is left" || { fail "no sandbox is left"; echo "# $left"; }
done_testing
