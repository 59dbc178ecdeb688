#!/usr/bin/env bash
# fk bench sandbox with tiny counts: real sandboxes beside real crun and bwrap; each artifact is
# read back by fk bench report and checked for its samples, ratios and confidence tags; nothing
# is left behind (sandboxes, crun state, work directory, the host's cgroup2 mount).
. "$(dirname "$0")/lib.sh"
plan 14

skip_all() {
  for i in $(seq 1 14); do skip "bench sandbox $i" "$1"; done
  done_testing
}
[ -n "${FK:-}" ] && [ -x "$FK" ] || skip_all "fk binary not built"
[ "$(id -u)" -eq 0 ] || skip_all "sandboxes need root here"
[ -x /bin/busybox ] || skip_all "no /bin/busybox (busybox-static) for the benchmark rootfs"
export FIRKIN_AGENT=${FK_AGENT:-}

dir=$(mktemp -d /tmp/firkin-bench-sandbox.XXXXXX)
chmod 755 "$dir" # crun enters the rootfs as an unprivileged user namespace root
on_exit "rm -rf '$dir'"
mkdir -p "$dir/tmp"
export TMPDIR=$dir/tmp
unified_before=$(grep -c ' /sys/fs/cgroup/unified ' /proc/self/mountinfo || true)
have_crun=0; command -v crun >/dev/null && have_crun=1
have_bwrap=0; command -v bwrap >/dev/null && have_bwrap=1

out=$("$FK" bench sandbox --runs 2 --exec-runs 3 --warmup 1 --idle 3 --artifact-dir "$dir/art" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -f "$dir/art/sandbox-create.json" ] && [ -f "$dir/art/sandbox-exec.json" ] \
   && [ -f "$dir/art/sandbox-idle.json" ]; then
  ok "fk bench sandbox writes three artifacts"
else
  fail "fk bench sandbox writes three artifacts (exit $rc)"; printf '%s\n' "$out" | sed 's/^/# /' | head -60
fi

for a in create exec idle; do
  r=$("$FK" bench report "$dir/art/sandbox-$a.json" 2>&1)
  if [ $? -eq 0 ] && grep -q '^kind sandbox_' <<<"$r"; then ok "fk bench report reads sandbox-$a.json"
  else fail "fk bench report reads sandbox-$a.json"; printf '%s\n' "$r" | sed 's/^/# /' | head -20; fi
done

# check_artifact NAME FILE PYTHON: the artifact as `a', the peer flags as have_crun/have_bwrap
check_artifact() {
  check "$1" python3 - "$2" "$have_crun" "$have_bwrap" <<<"import json, sys
a = json.load(open(sys.argv[1]))
have_crun, have_bwrap = sys.argv[2] == '1', sys.argv[3] == '1'
s = a['samples']
assert a['traces'] == []
by = {}
for x in s:
    by.setdefault(x['metric'], []).append(x)
    assert 'confidence' in x['tags'], x
def values(m): return [x['value'] for x in by.get(m, [])]
def ratio(m, f, p, goal):
    r = by[m]
    assert len(r) == 1, (m, r)
    r = r[0]
    assert r['kind'] == 'FirkinOverhead' and r['unit'] == 'Ratio', r
    t = r['tags']
    assert t['firkin_metric'] == f and t['peer_metric'] == p, t
    fv, pv = sorted(values(f)), sorted(values(p))
    assert t['firkin_n'] == str(len(fv)) and t['peer_n'] == str(len(pv)), t
    assert abs(r['value'] - float(t['firkin_p50']) / float(t['peer_p50'])) < 1e-4, r
    if goal is None:
        assert 'goal_met' not in t
    else:
        assert abs(float(t['goal_max_ratio']) - goal) < 1e-6, t
        assert t['goal_met'] == ('true' if r['value'] <= goal else 'false'), t
$3"
}

check_artifact "create artifact: firkin library, agent and CLI runs, crun and bwrap beside them" \
  "$dir/art/sandbox-create.json" "
assert a['kind'] == 'sandbox_create_run_delete'
P = 'debug.sandbox.create_run_true_delete.'
for m in ('firkin_library_ms', 'firkin_library_agent_ms', 'firkin_cli_ms'):
    v = values(P + m)
    assert len(v) == 2 and all(0 < x < 60000 for x in v), (m, v)
    assert by[P + m][0]['kind'] == 'LifecycleLatency' and by[P + m][0]['unit'] == 'Milliseconds'
    assert by[P + m][0]['tags']['confidence'] == 'smoke_only'
if have_crun:
    assert len(values(P + 'crun_ms')) == 2
    ratio(P + 'firkin_library_vs_crun_p50_ratio', P + 'firkin_library_ms', P + 'crun_ms', 1/3)
    ratio(P + 'firkin_cli_vs_crun_p50_ratio', P + 'firkin_cli_ms', P + 'crun_ms', 1/3)
    assert len(values(P + 'crun_wrapper_only_ms')) == 2
else:
    assert P + 'crun_ms' not in by
if have_bwrap:
    assert len(values(P + 'bwrap_ms')) == 2
    ratio(P + 'firkin_library_vs_bwrap_p50_ratio', P + 'firkin_library_ms', P + 'bwrap_ms', None)
"

check_artifact "exec artifact: library and fk exec beside crun exec, with the 1/4 goal" \
  "$dir/art/sandbox-exec.json" "
assert a['kind'] == 'sandbox_exec'
P = 'debug.sandbox.exec_true.'
for m in ('firkin_library_ms', 'firkin_cli_ms'):
    v = values(P + m)
    assert len(v) == 3 and all(0 < x < 60000 for x in v), (m, v)
    assert by[P + m][0]['tags']['confidence'] == 'superfast_iteration'
if have_crun:
    assert len(values(P + 'crun_ms')) == 3
    ratio(P + 'firkin_library_vs_crun_p50_ratio', P + 'firkin_library_ms', P + 'crun_ms', 0.25)
"

check_artifact "idle artifact: per-sandbox memory of 3 idle sandboxes and the 2 MiB goal" \
  "$dir/art/sandbox-idle.json" "
assert a['kind'] == 'sandbox_idle_memory'
P = 'debug.sandbox.idle_n3.'
for m in ('host_mib', 'pss_mib', 'rss_mib', 'cgroup_charge_mib', 'cgroup_kernel_mib', 'procs'):
    v = values(P + m)
    assert len(v) == 3 and all(x > 0 for x in v), (m, v)
assert values(P + 'procs') == [1.0, 1.0, 1.0]
for h, p, k in zip(values(P + 'host_mib'), values(P + 'pss_mib'), values(P + 'cgroup_kernel_mib')):
    assert abs(h - (p + k)) < 1e-6
assert values(P + 'alive_count') == [3.0]
assert len(values(P + 'host_used_delta_mib')) == 1
r = by[P + 'host_mib_vs_goal_ratio'][0]
assert r['kind'] == 'FirkinOverhead' and r['unit'] == 'Ratio'
assert r['tags']['goal_max_mib'] == '2.000000'
t = r['tags']
assert r['value'] == max(float(t['host_p50_mib']), float(t['host_used_delta_mib'])) / 2 or abs(r['value'] - max(float(t['host_p50_mib']), float(t['host_used_delta_mib'])) / 2) < 1e-5, t
assert t['goal_met'] == ('true' if r['value'] <= 1 else 'false')
"

if [ $have_crun -eq 1 ]; then
  grep -q '^ratio debug.sandbox.create_run_true_delete.firkin_library_vs_crun_p50_ratio = ' <<<"$out" \
    && grep -q '^ratio debug.sandbox.exec_true.firkin_library_vs_crun_p50_ratio = ' <<<"$out" \
    && ok "the ratios to crun are printed" || fail "the ratios to crun are printed"
else
  skip "the ratios to crun are printed" "crun is not installed"
fi

left=$(ls -A "$FIRKIN_STATE_DIR/sandboxes" 2>/dev/null; ls -A "$TMPDIR")
mounts=$(grep -c "$dir" /proc/self/mountinfo || true)
unified_after=$(grep -c ' /sys/fs/cgroup/unified ' /proc/self/mountinfo || true)
if [ -z "$left" ] && [ "$mounts" -eq 0 ] && [ "$unified_after" -eq "$unified_before" ]; then
  ok "nothing is left: no sandbox, no work directory, no mount; the host keeps its cgroup2 mount"
else
  fail "nothing is left (left: $left; mounts: $mounts; unified $unified_before -> $unified_after)"
fi

# bad input
o=$("$FK" bench sandbox --runs 0 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "invalid --runs \`0'" <<<"$o" && ok "--runs 0 is refused" \
  || { fail "--runs 0 is refused (exit $rc)"; printf '%s\n' "$o" | sed 's/^/# /'; }
o=$("$FK" bench sandbox --only create,nope 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "unknown benchmark \`nope'" <<<"$o" && ok "an unknown benchmark is refused" \
  || { fail "an unknown benchmark is refused (exit $rc)"; printf '%s\n' "$o" | sed 's/^/# /'; }
o=$("$FK" bench sandbox --only idle --rootfs "$dir/none" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "rootfs \`$dir/none': No such file" <<<"$o" && [ -z "$(ls -A "$TMPDIR")" ] \
  && ok "a missing rootfs is named and leaves nothing" \
  || { fail "a missing rootfs is named and leaves nothing (exit $rc)"; printf '%s\n' "$o" | sed 's/^/# /'; }

mkdir -m 700 "$dir/private"
o=$(TMPDIR=$dir/private "$FK" bench sandbox --only create --runs 1 --warmup 0 2>&1); rc=$?
if [ $have_crun -eq 0 ]; then
  skip "a work directory crun cannot reach is named" "crun is not installed"
elif [ $rc -eq 1 ] && grep -q "\`$dir/private' is not searchable by others" <<<"$o" \
     && [ -z "$(ls -A "$dir/private")" ]; then
  ok "a work directory crun cannot reach is named"
else
  fail "a work directory crun cannot reach is named (exit $rc)"; printf '%s\n' "$o" | sed 's/^/# /'
fi

# Ctrl-C in the middle of the idle phase: every sandbox made so far is deleted, nothing is left.
"$FK" bench sandbox --only idle --idle 400 --artifact-dir "$dir/int" >"$dir/int.out" 2>&1 &
bench_pid=$!
on_exit "kill -9 $bench_pid"
wait_for grep -q 'idle: 100/400' "$dir/int.out"
kill -INT $bench_pid
wait $bench_pid
rc=$?
left=$(ls -A "$FIRKIN_STATE_DIR/sandboxes" 2>/dev/null; ls -A "$TMPDIR")
if [ $rc -eq 1 ] && grep -q '^fk: interrupted' "$dir/int.out" && grep -q '^idle: deleting' "$dir/int.out" \
   && [ -z "$left" ] && [ ! -e "$dir/int/sandbox-idle.json" ]; then
  ok "an interrupt deletes every sandbox made so far and writes no artifact"
else
  fail "an interrupt deletes every sandbox made so far (exit $rc, left: $left)"; sed 's/^/# /' "$dir/int.out" | tail -5
fi

done_testing
