#!/usr/bin/env bash
# fk bench fkd with tiny counts: the official SDK through a real fkd beside the library, in a
# fresh state dir with the `base' template; the artifact is read back and checked for both
# sides' samples, the plain-HTTP figures, the overhead ratios and fkd's memory; nothing is left
# behind (sandboxes, fkd).
. "$(dirname "$0")/lib.sh"
plan 5

skip_all() {
  for i in $(seq 1 5); do skip "bench fkd $i" "$1"; done
  done_testing
}
[ -n "${FK:-}" ] && [ -x "$FK" ] || skip_all "fk binary not built"
[ -n "${FKD:-}" ] && [ -x "$FKD" ] || skip_all "fkd not built"
[ "$(id -u)" -eq 0 ] || skip_all "sandboxes need root here"
command -v node >/dev/null || skip_all "no node"
[ -f "$FIRKIN_SRC/tests/e2b/node_modules/e2b/package.json" ] ||
  skip_all "the e2b SDK is not installed (npm ci --prefix tests/e2b)"
export FIRKIN_AGENT=${FK_AGENT:-}

dir=$(mktemp -d /tmp/firkin-bench-fkd.XXXXXX)
export FIRKIN_STATE_DIR=$dir/state
leftover_fkd() {
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "--state-dir $FIRKIN_STATE_DIR" && echo "${p#/proc/}"
  done
}
on_exit "for p in \$(leftover_fkd); do kill -KILL \$p; done; \"$FK\" ls -q 2>/dev/null | xargs -r \"$FK\" rm -f >/dev/null 2>&1; rm -rf '$dir'"
"$FIRKIN_SRC/tests/e2b/template.sh" "$FK" >/dev/null || skip_all "cannot prepare the base template"

out=$("$FK" bench fkd --iterations 4 --creates 2 --levels 1,2 --repeats 2 --warm-depth 1 \
  --fkd "$FKD" --artifact "$dir/fkd.json" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -f "$dir/fkd.json" ]; then ok "fk bench fkd writes its artifact"
else fail "fk bench fkd writes its artifact (exit $rc)"; printf '%s\n' "$out" | sed 's/^/# /' | head -40; fi

if grep -q "^commands.run('true') apart" <<<"$out" && grep -q "fkd's memory with 100 sandboxes" <<<"$out"
then ok "the summary sets the SDK, plain HTTP and the library apart, and shows the goals"
else fail "the summary sets the SDK, plain HTTP and the library apart"; printf '%s\n' "$out" | tail -20 | sed 's/^/# /'; fi

check "every operation has samples from both sides, ratios and overheads" python3 - "$dir/fkd.json" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))
assert a['kind'] == 'fkd_api', a['kind']
by = {}
for s in a['samples']:
    by.setdefault(s['metric'], []).append(s)
    assert 'confidence' in s['tags'], s
def n(m): return len(by.get(m, []))
for op, count in [('create_warm', 2), ('create_cold', 2), ('run_true', 4),
                  ('file_1mib_write_read', 1), ('shell_pool_density_c1', 2),
                  ('shell_pool_density_c2', 2)]:
    for side in ('sdk', 'direct'):
        m = f'fkd.{side}.{op}_ms'
        assert n(m) == count, (m, n(m))
        assert all(s['value'] > 0 and s['unit'] == 'Milliseconds' for s in by[m]), m
    r = by[f'fkd.overhead.{op}_p50_ratio']
    assert len(r) == 1 and r[0]['unit'] == 'Ratio', r
    assert r[0]['tags']['firkin_n'] == str(count), r
    assert n(f'fkd.overhead.{op}_p50_ms') == 1
assert n('fkd.http.run_true_ms') == 4 and n('fkd.httpc.run_true_ms') == 4
for m in ('fkd.sdk_cost.run_true_p50_ms', 'fkd.http_cost.run_true_p50_ms',
          'fkd.fkd_cost.run_true_p50_ms'):
    assert n(m) == 1, m
idle = by['fkd.sdk.fkd_rss_idle_mib'][0]['value']
full = by['fkd.sdk.fkd_rss_100_sandboxes_mib']
assert len(full) == 1 and full[0]['tags']['sandboxes'] == '100', full
assert 0 < idle < 1024 and 0 < full[0]['value'] < 1024, (idle, full)
assert n('fkd.sdk.fkd_pss_100_sandboxes_mib') == 1
EOF

r=$("$FK" bench report "$dir/fkd.json" 2>&1)
if [ $? -eq 0 ] && grep -q '^kind fkd_api' <<<"$r"; then ok "fk bench report reads it"
else fail "fk bench report reads it"; printf '%s\n' "$r" | head -10 | sed 's/^/# /'; fi

left=$("$FK" ls -q 2>&1)
procs=$(leftover_fkd)
if [ -z "$left" ] && [ -z "$procs" ]; then ok "no sandbox and no fkd left"
else fail "no sandbox and no fkd left (sandboxes: $left; fkd: $procs)"; fi
done_testing
