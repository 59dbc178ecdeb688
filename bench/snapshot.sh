#!/usr/bin/env bash
# bench/snapshot.sh: issue 13's four figures in one run, each beside its peer on this machine:
#   snapshot  `fk snapshot' of a sandbox with FILES changed files / MIB MiB (random bytes)
#             against `podman commit' of a container with the same changes;
#   fork      fk_sandbox_fork of N, and fk_warm_pool_fork of N from a pool of N ready sandboxes,
#             against N creates from a warm pool and N plain creates (bench/forkpool, in process);
#   build     a 5-step Dockerfile: `fk template build' cold (step cache emptied) and cached
#             against `buildah bud' (cold: no layer cache) of the same Dockerfile and base;
#   pause     `fk pause --to-disk' + `fk resume' round trip of a sandbox with changed files.
# Podman and buildah run in a mount namespace without the hybrid layout's cgroup2 mount (which
# they refuse), with their own storage in the work dir, a containers.conf without default
# ulimits, no network (the base comes from a local OCI layout). Writes an artifact in the trace
# format {"kind","samples","traces"} and prints n, p50, p95 and the ratios.
#
# usage: bench/snapshot.sh [FK]
# env: FIRKIN_BENCH_SNAPSHOT_RUNS (snapshot runs a side, default 5), FIRKIN_BENCH_SNAPSHOT_FILES
#      (1000), FIRKIN_BENCH_SNAPSHOT_MIB (100), FIRKIN_BENCH_FORK_COUNT (20),
#      FIRKIN_BENCH_FORK_ROUNDS (5), FIRKIN_BENCH_BUILD_RUNS (cold builds a side, 5),
#      FIRKIN_BENCH_BUILD_CACHED_RUNS (20), FIRKIN_BENCH_PAUSE_RUNS (10),
#      FIRKIN_BENCH_ARTIFACT (default ./snapshot.json), FIRKIN_BENCH_NO_PEERS=1 (firkin only),
#      FIRKIN_BENCH_ONLY=snapshot or fork (that figure alone), FIRKIN_BENCH_SNAPSHOT_BASELINE
#      (another fk, e.g. an earlier build with its fk-image beside it, whose snapshots alternate
#      with FK's and podman's in the same run: a before/after on a shared machine)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
FK=${1:-${FK:-$top/build/src/cli/fk}}
FK=$(readlink -f "$FK")
build=$(cd "$(dirname "$FK")/../.." && pwd)
export FIRKIN_SRC=$top
export FIRKIN_AGENT=${FIRKIN_AGENT:-$build/src/agent/fk-agent}
export FIRKIN_TIMEOUT=${FIRKIN_TIMEOUT:-$build/src/lib/sandbox/fk-timeout}
forkpool=$build/bench/forkpool
artifact=$(readlink -f "${FIRKIN_BENCH_ARTIFACT:-$PWD/snapshot.json}")
peers=1
[ "${FIRKIN_BENCH_NO_PEERS:-0}" = 1 ] && peers=0
only=${FIRKIN_BENCH_ONLY:-}
case "$only" in "" | snapshot | fork) ;; *) echo "bench/snapshot: FIRKIN_BENCH_ONLY=$only: only \`snapshot' and \`fork' are known" >&2; exit 1 ;; esac
baseline=${FIRKIN_BENCH_SNAPSHOT_BASELINE:-}
if [ -n "$baseline" ]; then
  baseline=$(readlink -f "$baseline")
  [ -x "$baseline" ] || { echo "bench/snapshot: baseline $baseline not executable" >&2; exit 1; }
fi
for t in python3 unshare; do
  command -v $t >/dev/null || { echo "bench/snapshot: $t not installed" >&2; exit 1; }
done
[ "$only" = fork ] && peers=0
if [ $peers = 1 ]; then
  for t in podman $([ -z "$only" ] && echo buildah); do
    command -v $t >/dev/null || { echo "bench/snapshot: $t not installed (FIRKIN_BENCH_NO_PEERS=1 to skip the peers)" >&2; exit 1; }
  done
fi
[ -x "$FK" ] && [ -x "$forkpool" ] || { echo "bench/snapshot: $FK or $forkpool not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench/snapshot: needs root" >&2; exit 1; }

# Lower case (podman names an image pulled from a layout after its path) and short (its runroot
# must be under 50 characters).
work=/var/tmp/fk-bsnap.$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -m 0755 "$work"
export FIRKIN_STATE_DIR=$work/state
cleanup() {
  "$FK" ls -q 2>/dev/null | xargs -r "$FK" rm -f >/dev/null 2>&1 || true
  # podman's containers (conmon and what it runs) go with its storage.
  if [ $peers = 1 ] && [ -d "$work/podman" ]; then
    peer podman rm -a -f -t 0 >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# peer podman|buildah ARGS...: the tool in a private mount namespace without the cgroup2 mount
# of the hybrid layout, with its own storage and configuration.
cat >"$work/containers.conf" <<CONF
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat >"$work/registries.conf" <<CONF
unqualified-search-registries = []
CONF
peer() {
  local tool=$1; shift
  CONTAINERS_CONF=$work/containers.conf CONTAINERS_REGISTRIES_CONF=$work/registries.conf \
    unshare -m bash -c '
    mount --make-rprivate /
    if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
    exec "$@"' peer "$tool" --root "$work/$tool/root" --runroot "$work/$tool/run" \
    $([ "$tool" = podman ] && echo --tmpdir "$work/podman/tmp") --storage-driver overlay "$@"
}
export -f peer
export work

"$top/scripts/images/busybox.sh" "$work/oci" >/dev/null
"$FK" template prepare -q --id bb "oci:$work/oci:busybox" >/dev/null
if [ $peers = 1 ]; then
  peer podman pull -q "oci:$work/oci:busybox" >/dev/null
  peer podman tag "$(peer podman images -q | head -1)" localhost/bb:latest
  if [ -z "$only" ]; then
    peer buildah pull -q "oci:$work/oci:busybox" >/dev/null
    peer buildah tag "$(peer buildah images -q | head -1)" localhost/bb:latest
  fi
fi
# The build: 5 steps on the same base.
mkdir -p "$work/ctx/app"
for i in $(seq 1 50); do head -c 4096 /dev/urandom >"$work/ctx/app/f$i"; done
cat >"$work/ctx/Dockerfile.fk" <<'DF'
FROM bb
COPY app /app
RUN mkdir -p /srv && echo built > /srv/built
RUN i=0; while [ $i -lt 200 ]; do echo $i > /srv/n$i; i=$((i+1)); done
ENV MODE=bench
WORKDIR /app
DF
sed 's|^FROM bb$|FROM localhost/bb:latest|' "$work/ctx/Dockerfile.fk" >"$work/ctx/Dockerfile.buildah"
printf 'Dockerfile.*\n' >"$work/ctx/.dockerignore"

python3 - "$FK" "$forkpool" "$work" "$artifact" "$peers" "$only" "$baseline" <<'PY'
import json, os, shutil, subprocess, sys, time

fk, forkpool, work, artifact, peers, only, baseline = sys.argv[1:8]
peers = peers == "1"
env = lambda k, d: int(os.environ.get(k, d))
snap_runs = env("FIRKIN_BENCH_SNAPSHOT_RUNS", 5)
files = env("FIRKIN_BENCH_SNAPSHOT_FILES", 1000)
mib = env("FIRKIN_BENCH_SNAPSHOT_MIB", 100)
fork_n = env("FIRKIN_BENCH_FORK_COUNT", 20)
fork_rounds = env("FIRKIN_BENCH_FORK_ROUNDS", 5)
build_runs = env("FIRKIN_BENCH_BUILD_RUNS", 5)
cached_runs = env("FIRKIN_BENCH_BUILD_CACHED_RUNS", 20)
pause_runs = env("FIRKIN_BENCH_PAUSE_RUNS", 10)
state = os.environ["FIRKIN_STATE_DIR"]
size = mib * 1024 * 1024 // files
# The same changes on both sides: FILES files of random bytes, MIB MiB in all, in /data.
gen = (f"mkdir -p /data && i=0; while [ $i -lt {files} ]; do "
       f"head -c {size} /dev/urandom > /data/f$i; i=$((i+1)); done")

def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"bench/snapshot: {' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout.strip()

def timed(argv):
    t0 = time.perf_counter()
    run(argv)
    return (time.perf_counter() - t0) * 1000.0

def peer(tool, *args):
    return ["bash", "-c", 'peer "$@"', "peer", tool, *args]

def say(msg):
    print(f"bench/snapshot: {msg}", file=sys.stderr, flush=True)

def firkin_snapshot(i, snap_fk=fk, tag=""):
    sb = run([fk, "create", "bb"])
    run([fk, "exec", sb, "--", "sh", "-c", gen])
    # What earlier runs wrote (either side's) is written back first, not during the timing.
    subprocess.run(["sync"])
    ms = timed([snap_fk, "snapshot", sb, "--id", f"bench-snap{tag}-{i}"])
    run([fk, "rm", "-f", sb])
    # The snapshots are kept until the end, as podman's images are: removing 1,000 files a run
    # from the state dir's ext4 makes its next inode allocations slower (it skips recently
    # deleted inodes), which would be the benchmark's cleanup, not a snapshot, in the figure.
    return ms

# One podman session per run in its own namespace: the container's mounts live there.
PODMAN_RUN = r'''
set -e
P="podman --root $work/podman/root --runroot $work/podman/run --tmpdir $work/podman/tmp --storage-driver overlay"
c=$($P run -d --pull never --network none localhost/bb:latest sleep 3600)
$P exec $c sh -c "$1"
sync
t0=$(date +%s%N)
$P commit -q $c "localhost/bench-snap-$2" >/dev/null
t1=$(date +%s%N)
$P rm -f -t 0 $c >/dev/null
echo $(( (t1 - t0) / 1000 ))
'''
def podman_commit(i):
    us = run(["unshare", "-m", "bash", "-c",
              "mount --make-rprivate / && { ! mountpoint -q /sys/fs/cgroup/unified || "
              "umount /sys/fs/cgroup/unified; } && exec bash -c \"$0\" podman-run \"$1\" \"$2\"",
              PODMAN_RUN, gen, str(i)],
             env=dict(os.environ, CONTAINERS_CONF=f"{work}/containers.conf",
                      CONTAINERS_REGISTRIES_CONF=f"{work}/registries.conf"))
    return int(us.splitlines()[-1]) / 1000.0

def firkin_build_cold(i):
    shutil.rmtree(f"{state}/build-cache", ignore_errors=True)
    subprocess.run(["sync"])
    ms = timed([fk, "template", "build", "-q", "-f", f"{work}/ctx/Dockerfile.fk", "-t", "bench-build",
                f"{work}/ctx"])
    return ms

def firkin_build_cached(i):
    return timed([fk, "template", "build", "-q", "-f", f"{work}/ctx/Dockerfile.fk", "-t", "bench-build",
                  f"{work}/ctx"])

BUILDAH_RUN = r'''
set -e
B="buildah --root $work/buildah/root --runroot $work/buildah/run --storage-driver overlay"
sync
t0=$(date +%s%N)
$B bud -q --isolation chroot --pull-never --layers=false -f "$work/ctx/Dockerfile.buildah" \
  -t localhost/bench-build "$work/ctx" >/dev/null
t1=$(date +%s%N)
$B rmi localhost/bench-build >/dev/null
echo $(( (t1 - t0) / 1000 ))
'''
def buildah_cold(i):
    us = run(["unshare", "-m", "-n", "bash", "-c",
              "mount --make-rprivate / && { ! mountpoint -q /sys/fs/cgroup/unified || "
              "umount /sys/fs/cgroup/unified; } && exec bash -c \"$0\"", BUILDAH_RUN],
             env=dict(os.environ, CONTAINERS_CONF=f"{work}/containers.conf",
                      CONTAINERS_REGISTRIES_CONF=f"{work}/registries.conf"))
    return int(us.splitlines()[-1]) / 1000.0

def alternate(name, a, b, n, c=None):
    # One warm-up run a side first, not counted (binaries, page cache, the stores' first
    # layers), as bench/prepare.sh does. The sides take turns going first.
    sides = [s for s in (a, b, c) if s is not None]
    for side in sides:
        side("warmup")
    res = {id(s): [] for s in sides}
    for i in range(n):
        k = i % len(sides)
        for side in sides[k:] + sides[:k]:
            res[id(side)].append(side(i))
        ra, rb = res[id(a)], res.get(id(b), [])
        say(f"{name} {i + 1}/{n}: firkin {ra[-1]:.0f} ms" + (f", peer {rb[-1]:.0f} ms" if rb else "")
            + (f", baseline {res[id(c)][-1]:.0f} ms" if c is not None else ""))
    return res[id(a)], res.get(id(b), []), (res[id(c)] if c is not None else [])

def nearest_rank(values, pct):
    s = sorted(values)
    rank = -(-len(s) * pct // 100)
    return s[max(0, min(len(s) - 1, rank - 1))]

snap_fk, snap_pm, snap_base = [], [], []
if only != "fork":
    # --- snapshot ---
    say(f"snapshot: {files} files, {mib} MiB; {snap_runs} runs a side")
    base_side = (lambda i: firkin_snapshot(i, baseline, "-base")) if baseline else None
    snap_fk, snap_pm, snap_base = alternate("snapshot", firkin_snapshot,
                                            podman_commit if peers else None, snap_runs, base_side)
fork, poolfork, pooled, plain = [], [], [], []
build_fk, build_bh, cached = [], [], []
pause, resume, trip = [], [], []
if only in ("", "fork"):
    # --- fork ---
    say(f"fork: {fork_n} sandboxes, {fork_rounds} rounds")
    for line in run([forkpool, state, "bb", str(fork_n), str(fork_rounds)]).splitlines():
        k, v = line.split()
        {"fork": fork, "poolfork": poolfork, "pooled": pooled, "plain": plain}[k].append(float(v))
if not only:
    # --- build ---
    say(f"build: {build_runs} cold runs a side, {cached_runs} cached")
    build_fk, build_bh, _ = alternate("build", firkin_build_cold, buildah_cold if peers else None,
                                      build_runs)
    cached = [firkin_build_cached(i) for i in range(cached_runs)]
    # --- pause to disk + resume ---
    say(f"pause: {pause_runs} round trips")
    sb = run([fk, "create", "bb"])
    run([fk, "exec", sb, "--", "sh", "-c",
         "mkdir -p /data && i=0; while [ $i -lt 100 ]; do head -c 10240 /dev/urandom > /data/f$i; i=$((i+1)); done"])
    for i in range(pause_runs):
        run([fk, "exec", sb, "--", "sh", "-c", f"echo {i} > /data/round"])
        subprocess.run(["sync"])
        p = timed([fk, "pause", "--to-disk", sb])
        r = timed([fk, "resume", sb])
        if run([fk, "exec", sb, "--", "cat", "/data/round"]) != str(i):
            sys.exit("bench/snapshot: a pause to disk lost a change")
        pause.append(p); resume.append(r); trip.append(p + r)
    run([fk, "rm", "-f", sb])

# --- the artifact ---
common = [("image", "busybox"), ("host_cpus", str(os.cpu_count()))]
samples = []
def add(metric, kind, unit, value, tags):
    samples.append({"metric": metric, "kind": kind, "unit": unit, "value": value,
                    "tags": dict(common + tags)})
def series(metric, values, boundary, runner, extra=()):
    for i, v in enumerate(values):
        add(metric, "LifecycleLatency", "Milliseconds", v,
            [("measurement_boundary", boundary), ("runner", runner), ("repeat_index", str(i)),
             ("repeat_count", str(len(values)))] + list(extra))
P = "debug."
work_tags = [("files", str(files)), ("mib", str(mib))]
series(P + "snapshot.firkin_ms", snap_fk, "changed_sandbox_to_template", "fk snapshot", work_tags)
series(P + "snapshot.podman_commit_ms", snap_pm, "changed_container_to_image", "podman commit", work_tags)
series(P + "snapshot.baseline_ms", snap_base, "changed_sandbox_to_template", "fk snapshot (baseline)",
       work_tags + [("baseline", baseline)])
n_tags = [("count", str(fork_n))]
series(P + "fork.firkin_fork_ms", fork, "running_sandbox_to_n_forks", "fk_sandbox_fork", n_tags)
series(P + "fork.firkin_pool_fork_ms", poolfork, "running_sandbox_to_n_forks_from_ready_pool",
       "fk_warm_pool_fork", n_tags)
series(P + "fork.pooled_creates_ms", pooled, "n_creates_from_ready_pool", "fk_warm_pool_create", n_tags)
series(P + "fork.plain_creates_ms", plain, "n_creates", "fk_template_sandbox_create", n_tags)
series(P + "build.firkin_cold_ms", build_fk, "empty_step_cache_to_template", "fk template build")
series(P + "build.firkin_cached_ms", cached, "full_step_cache_to_template", "fk template build")
series(P + "build.buildah_cold_ms", build_bh, "no_layer_cache_to_image", "buildah bud")
series(P + "pause.to_disk_ms", pause, "running_to_paused_on_disk", "fk pause --to-disk")
series(P + "pause.resume_ms", resume, "paused_on_disk_to_running", "fk resume")
series(P + "pause.round_trip_ms", trip, "running_to_running_through_disk", "fk pause --to-disk + fk resume")
ratios = []
def ratio(metric, a, b, an, bn, goal):
    if not a or not b:
        return
    fa, fb = nearest_rank(a, 50), nearest_rank(b, 50)
    tags = [("firkin_metric", P + an), ("peer_metric", P + bn), ("firkin_n", str(len(a))),
            ("peer_n", str(len(b))), ("firkin_p50", f"{fa:.6f}"), ("peer_p50", f"{fb:.6f}"),
            ("firkin_p95", f"{nearest_rank(a, 95):.6f}"), ("peer_p95", f"{nearest_rank(b, 95):.6f}")]
    if goal:
        tags += [("goal_max_ratio", f"{goal:.6f}"), ("goal_met", "true" if fa / fb <= goal else "false")]
    add(P + metric, "FirkinOverhead", "Ratio", fa / fb, tags)
    ratios.append((P + metric, fa / fb, fa, fb, goal))
ratio("snapshot.firkin_vs_podman_commit_p50_ratio", snap_fk, snap_pm, "snapshot.firkin_ms",
      "snapshot.podman_commit_ms", 0.25)
ratio("snapshot.baseline_vs_podman_commit_p50_ratio", snap_base, snap_pm, "snapshot.baseline_ms",
      "snapshot.podman_commit_ms", None)
ratio("snapshot.firkin_vs_baseline_p50_ratio", snap_fk, snap_base, "snapshot.firkin_ms",
      "snapshot.baseline_ms", None)
ratio("fork.firkin_fork_vs_pooled_creates_p50_ratio", fork, pooled, "fork.firkin_fork_ms",
      "fork.pooled_creates_ms", 2.0)
ratio("fork.firkin_fork_vs_plain_creates_p50_ratio", fork, plain, "fork.firkin_fork_ms",
      "fork.plain_creates_ms", None)
ratio("fork.firkin_pool_fork_vs_pooled_creates_p50_ratio", poolfork, pooled,
      "fork.firkin_pool_fork_ms", "fork.pooled_creates_ms", 2.0)
ratio("build.firkin_cold_vs_buildah_p50_ratio", build_fk, build_bh, "build.firkin_cold_ms",
      "build.buildah_cold_ms", 0.5)
def confidence(n):
    for limit, name in ((0, "missing"), (2, "smoke_only"), (4, "superfast_iteration"),
                        (9, "fast_iteration"), (29, "baseline_checkpoint"),
                        (99, "p50_p90_decision_grade"), (499, "p95_decision_grade")):
        if n <= limit:
            return name
    return "p99_decision_grade"
counts = {}
for smp in samples:
    counts[smp["metric"]] = counts.get(smp["metric"], 0) + 1
for smp in samples:
    t = smp["tags"]
    n = min(int(t["firkin_n"]), int(t["peer_n"])) if "firkin_n" in t else counts[smp["metric"]]
    t["confidence"] = confidence(n)
os.makedirs(os.path.dirname(artifact), exist_ok=True)
tmp = artifact + ".tmp"
with open(tmp, "w") as f:
    json.dump({"kind": "snapshot_fork_build_pause", "samples": samples, "traces": []}, f, indent=2)
    f.write("\n")
os.rename(tmp, artifact)

def line(name, v):
    if not v:
        return f"{name:<44} (not measured)"
    return (f"{name:<44} n={len(v):<3} p50 {nearest_rank(v, 50):9.1f} ms  p95 {nearest_rank(v, 95):9.1f} ms"
            f"  min {min(v):9.1f}  max {max(v):9.1f}")
print(line(f"fk snapshot ({files} files, {mib} MiB)", snap_fk))
print(line("podman commit (the same changes)", snap_pm))
if baseline:
    print(line("fk snapshot, baseline", snap_base))
print(line(f"fork of {fork_n} (library)", fork))
print(line(f"fork of {fork_n} from a warm pool (library)", poolfork))
print(line(f"{fork_n} creates from a warm pool (library)", pooled))
print(line(f"{fork_n} plain creates (library)", plain))
print(line("fk template build, 5 steps, cold", build_fk))
print(line("fk template build, 5 steps, cached", cached))
print(line("buildah bud, 5 steps, cold", build_bh))
print(line("fk pause --to-disk", pause))
print(line("fk resume (from disk)", resume))
print(line("pause to disk + resume round trip", trip))
for m, r, fa, fb, goal in ratios:
    g = f"goal <= {goal:.2f}: {'met' if r <= goal else 'MISSED'}" if goal else "no goal"
    print(f"ratio {m} = {r:.3f} (firkin p50 {fa:.1f} ms, peer p50 {fb:.1f} ms; {g})")
if cached:
    cp50 = nearest_rank(cached, 50)
    print(f"goal debug.build.firkin_cached_ms p50 {cp50:.1f} ms (goal < 50 ms: {'met' if cp50 < 50 else 'MISSED'})")
print(f"artifact: {artifact} (fk bench report prints it)")
PY
