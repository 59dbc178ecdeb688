#!/usr/bin/env bash
# fk bench trace-demo writes a real artifact; fk bench report reads it; truncated and malformed
# copies are refused with an error naming the problem.
. "$(dirname "$0")/lib.sh"
plan 9

if [ -z "${FK:-}" ] || [ ! -x "$FK" ]; then
  for i in 1 2 3 4 5 6 7 8 9; do skip "bench report $i" "fk binary not built"; done
  done_testing
fi

dir=$(mktemp -d /tmp/firkin-bench-report.XXXXXX)
on_exit "rm -rf '$dir'"
art=$dir/nested/dir/demo.json

out=$("$FK" bench trace-demo --artifact "$art" --repeats 3 --levels 1,2 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -f "$art" ]; then ok "trace-demo writes an artifact in a new directory"
else fail "trace-demo writes an artifact in a new directory"; printf '%s\n' "$out" | sed 's/^/# /'; fi

check "the artifact has the reference's shape" python3 - "$art" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["kind"] == "host_fork_exec_density", a["kind"]
assert a["traces"] == []
s = a["samples"]
assert len(s) == 7, len(s)  # 2 levels x 3 repeats + the breakpoint
for x in s[:6]:
    assert x["kind"] == "LifecycleLatency" and x["unit"] == "Milliseconds"
    assert isinstance(x["value"], float) and x["value"] > 0
    assert x["tags"]["confidence"] == "superfast_iteration", x["tags"]
    assert x["tags"]["concurrency_levels"] == "1,2"
bp = s[6]
assert bp["metric"] == "debug.density.max_active_before_host_fork_exec_completion_p95_doubles"
assert bp["value"] in (1.0, 2.0)
c1 = sorted(x["value"] for x in s[:3])
assert bp["tags"]["baseline_p95_ms"] == "%.6f" % c1[2], (bp["tags"], c1)
assert bp["tags"]["confidence"] == "smoke_only"
PY

report=$("$FK" bench report "$art" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok "report exits 0"; else fail "report exits 0"; printf '%s\n' "$report" | sed 's/^/# /'; fi
if grep -q 'debug.exec.host_fork_exec_completion_c2_ms' <<<"$report" \
   && grep -Eq '^ +3 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+  superfast_iteration$' <<<"$report" \
   && grep -q 'baseline_p95_ms: ' <<<"$report"; then
  ok "report prints a table per metric with confidence and the breakpoint's baseline"
else
  fail "report prints a table per metric with confidence and the breakpoint's baseline"
  printf '%s\n' "$report" | sed 's/^/# /'
fi
grep -q '^    threshold_p95_ms: ' <<<"$out" && ok "trace-demo prints the report" || fail "trace-demo prints the report"

# refused: exit 1 and an error that names the problem
refused() { # NAME FILE PATTERN
  local o rc
  o=$("$FK" bench report "$2" 2>&1)
  rc=$?
  if [ $rc -eq 1 ] && grep -q -- "$3" <<<"$o"; then ok "$1"; else fail "$1 (exit $rc)"; printf '%s\n' "$o" | sed 's/^/# /'; fi
}
head -c 300 "$art" >"$dir/truncated.json"
refused "a truncated artifact is refused" "$dir/truncated.json" "artifact \`$dir/truncated.json': invalid JSON at line .*the file is truncated"
python3 - "$art" "$dir/nometric.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
del a["samples"][2]["metric"]
json.dump(a, open(sys.argv[2], "w"))
PY
refused "a sample without metric is refused" "$dir/nometric.json" "sample 2: missing \`metric'"
sed 's/"Milliseconds"/"Fortnights"/' "$art" >"$dir/unit.json"
refused "an unknown unit is refused" "$dir/unit.json" "sample 0: .*unknown unit \`Fortnights'"
refused "a missing file is refused" "$dir/none.json" "No such file"

done_testing
