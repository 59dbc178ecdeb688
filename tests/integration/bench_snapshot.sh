#!/usr/bin/env bash
# bench/snapshot.sh with tiny counts (issue 13's four figures: snapshot against podman commit,
# fork (and fork from a warm pool) against pooled and plain creates, cold and cached builds against buildah bud, pause to
# disk + resume): the artifact is read back by fk bench report and checked for its samples,
# ratios, goals and confidence; nothing is left (sandboxes, the work dir, podman's containers
# and mounts, the host's cgroup2 mount).
. "$(dirname "$0")/lib.sh"
plan 8
skip_all() {
  for i in $(seq 1 8); do skip "bench snapshot $i" "$1"; done
  done_testing
}
[ -n "${FK:-}" ] && [ -x "$FK" ] || skip_all "fk binary not built"
[ -x "${FIRKIN_BUILD:-}/bench/forkpool" ] || skip_all "bench/forkpool not built"
[ "$(id -u)" -eq 0 ] || skip_all "sandboxes need root here"
peers=1
for t in podman buildah; do command -v $t >/dev/null || peers=0; done
[ $peers = 1 ] || export FIRKIN_BENCH_NO_PEERS=1
export FIRKIN_AGENT=${FK_AGENT:-}

dir=$(mktemp -d /tmp/firkin-bench-snapshot.XXXXXX)
on_exit "rm -rf '$dir'"
unified_before=$(grep -c ' /sys/fs/cgroup/unified ' /proc/self/mountinfo || true)
bench_dirs_before=$(ls -d /var/tmp/fk-bsnap.* 2>/dev/null | wc -l)
out=$(FIRKIN_BENCH_SNAPSHOT_RUNS=2 FIRKIN_BENCH_SNAPSHOT_FILES=20 FIRKIN_BENCH_SNAPSHOT_MIB=1 \
  FIRKIN_BENCH_FORK_COUNT=3 FIRKIN_BENCH_FORK_ROUNDS=2 FIRKIN_BENCH_BUILD_RUNS=1 \
  FIRKIN_BENCH_BUILD_CACHED_RUNS=3 FIRKIN_BENCH_PAUSE_RUNS=2 FIRKIN_BENCH_ARTIFACT=$dir/art.json \
  bash "$FIRKIN_SRC/bench/snapshot.sh" "$FK" 2>&1)
rc=$?
check "bench/snapshot.sh runs and writes its artifact (exit $rc)" \
  sh -c "[ $rc -eq 0 ] && [ -f '$dir/art.json' ] || { printf '%s\n' \"\$0\" | tail -30; false; }" "$out"
r=$("$FK" bench report "$dir/art.json" 2>&1)
check "fk bench report reads it" grep -q '^kind snapshot_fork_build_pause' <<<"$r"

# check_artifact NAME PYTHON: the artifact as `a', the values of a metric as values(m)
check_artifact() {
  check "$1" python3 - "$dir/art.json" "$peers" <<<"import json, sys
a = json.load(open(sys.argv[1]))
peers = sys.argv[2] == '1'
by = {}
for x in a['samples']:
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
    assert t['firkin_n'] == str(len(values(f))) and t['peer_n'] == str(len(values(p))), t
    assert abs(r['value'] - float(t['firkin_p50']) / float(t['peer_p50'])) < 1e-4, r
    if goal is None:
        assert 'goal_met' not in t
    else:
        assert abs(float(t['goal_max_ratio']) - goal) < 1e-6, t
        assert t['goal_met'] == ('true' if r['value'] <= goal else 'false'), t
$2"
}
check_artifact "snapshot: fk snapshot beside podman commit, and the 1/4 goal" "
v = values('debug.snapshot.firkin_ms')
assert len(v) == 2 and all(0 < x < 60000 for x in v), v
assert by['debug.snapshot.firkin_ms'][0]['tags']['files'] == '20'
if peers:
    assert len(values('debug.snapshot.podman_commit_ms')) == 2
    ratio('debug.snapshot.firkin_vs_podman_commit_p50_ratio', 'debug.snapshot.firkin_ms',
          'debug.snapshot.podman_commit_ms', 0.25)
"
check_artifact "fork: fork of 3, and from a pool, beside 3 pooled and 3 plain creates, the 2x goal" "
for m in ('firkin_fork_ms', 'firkin_pool_fork_ms', 'pooled_creates_ms', 'plain_creates_ms'):
    v = values('debug.fork.' + m)
    assert len(v) == 2 and all(0 < x < 60000 for x in v), (m, v)
ratio('debug.fork.firkin_fork_vs_pooled_creates_p50_ratio', 'debug.fork.firkin_fork_ms',
      'debug.fork.pooled_creates_ms', 2.0)
ratio('debug.fork.firkin_fork_vs_plain_creates_p50_ratio', 'debug.fork.firkin_fork_ms',
      'debug.fork.plain_creates_ms', None)
ratio('debug.fork.firkin_pool_fork_vs_pooled_creates_p50_ratio', 'debug.fork.firkin_pool_fork_ms',
      'debug.fork.pooled_creates_ms', 2.0)
"
check_artifact "build: cold and cached fk template build beside buildah bud, the 1/2 goal" "
assert len(values('debug.build.firkin_cold_ms')) == 1
assert len(values('debug.build.firkin_cached_ms')) == 3
if peers:
    assert len(values('debug.build.buildah_cold_ms')) == 1
    ratio('debug.build.firkin_cold_vs_buildah_p50_ratio', 'debug.build.firkin_cold_ms',
          'debug.build.buildah_cold_ms', 0.5)
"
check_artifact "pause: to disk, resume and their sum per round trip" "
p, r, t = (values('debug.pause.' + m) for m in ('to_disk_ms', 'resume_ms', 'round_trip_ms'))
assert len(p) == len(r) == len(t) == 2
assert all(abs(a + b - c) < 1e-6 for a, b, c in zip(p, r, t))
"
check "the summary prints the ratios and the cached-build goal" \
  bash -c "grep -q '^ratio debug.fork.firkin_fork_vs_pooled_creates_p50_ratio = ' <<<\"\$0\" && grep -q '^goal debug.build.firkin_cached_ms p50 ' <<<\"\$0\"" "$out"
unified_after=$(grep -c ' /sys/fs/cgroup/unified ' /proc/self/mountinfo || true)
left=$(ls -d /var/tmp/fk-bsnap.* 2>/dev/null | wc -l; grep -c 'fk-bsnap' /proc/self/mountinfo || true)
check "nothing is left: no work dir, no mount; the host keeps its cgroup2 mount" \
  test "$left $unified_after" = "$(printf '%s\n0' "$bench_dirs_before") $unified_before"
done_testing
