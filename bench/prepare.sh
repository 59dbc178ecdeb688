#!/usr/bin/env bash
# bench/prepare.sh: preparing the `base' image (Debian bookworm minbase) from a local registry:
# `fk template prepare' against the peers `skopeo copy' + `umoci unpack' of the same image, in
# the same run, alternating which goes first; plus the second prepare of a cached image.
# Every run starts from an empty store / empty directories. Writes an artifact
# {"kind","samples","traces"} in the trace format and prints a summary with the ratio.
#
# usage: bench/prepare.sh [FK]
# env: FIRKIN_BENCH_RUNS (cold runs per side, default 5), FIRKIN_BENCH_CACHED_RUNS (default 20),
#      FIRKIN_BENCH_ARTIFACT (default ./image-prepare.json), FIRKIN_CACHE_DIR (base layout cache)
# The cached prepare is also timed in process (build/bench/prepare_cached): fk's own start-up
# (the dynamic loader mapping libcurl and its dependencies) is measured apart.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
FK=${1:-${FK:-$top/build/src/cli/fk}}
export FIRKIN_SRC=$top
runs=${FIRKIN_BENCH_RUNS:-5}
cached_runs=${FIRKIN_BENCH_CACHED_RUNS:-20}
artifact=${FIRKIN_BENCH_ARTIFACT:-$PWD/image-prepare.json}
for t in docker-registry skopeo umoci python3; do
  command -v $t >/dev/null || { echo "bench/prepare: $t not installed" >&2; exit 1; }
done
[ -x "$FK" ] || { echo "bench/prepare: $FK not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench/prepare: needs root (image owners)" >&2; exit 1; }

# The registry helpers of the integration tests (free port, cleanup on exit, readiness polls).
. "$top/tests/integration/lib.sh" >/dev/null
. "$top/tests/integration/imagelib.sh"
unset FIRKIN_INSECURE_REGISTRIES FIRKIN_DOCKER_HUB_MIRROR
base=$("$top/scripts/images/base.sh")
work=$(mktemp -d /var/tmp/firkin-bench-prepare.XXXXXX)
on_exit "rm -rf '$work'"
start_registry "$work/registry"
push "$base" base "library/debian:bookworm-slim"
ref=$REGISTRY/library/debian:bookworm-slim
echo "bench/prepare: base ($(du -sh "$base/blobs" | cut -f1) in the layout) at $ref; $runs cold runs a side, $cached_runs cached" >&2

python3 - "$FK" "$ref" "$work" "$runs" "$cached_runs" "$artifact" <<'PY'
import json, math, os, shutil, subprocess, sys, time

fk, ref, work, runs, cached_runs, artifact = sys.argv[1:7]
runs, cached_runs = int(runs), int(cached_runs)
env = dict(os.environ, FIRKIN_LOG="error")

def timed(argv, extra_env=None):
    e = dict(env, **(extra_env or {}))
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t0) * 1000.0
    if p.returncode != 0:
        sys.exit(f"bench/prepare: {' '.join(argv)} failed: {p.stderr.decode()}")
    return ms

def firkin_cold(i):
    state = f"{work}/state-{i}"
    shutil.rmtree(state, ignore_errors=True)
    subprocess.run(["sync"])
    ms = timed([fk, "template", "prepare", "-q", "--id", "bench", ref], {"FIRKIN_STATE_DIR": state})
    return ms, state

def peer_cold(i):
    d = f"{work}/peer-{i}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    subprocess.run(["sync"])
    t0 = time.perf_counter()
    for argv in (["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{d}/oci:base"],
                 ["umoci", "unpack", "--image", f"{d}/oci:base", f"{d}/bundle"]):
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            sys.exit(f"bench/prepare: {' '.join(argv)} failed: {p.stderr.decode()}")
    ms = (time.perf_counter() - t0) * 1000.0
    shutil.rmtree(d, ignore_errors=True)
    return ms

def nearest_rank(values, pct):
    s = sorted(values)
    rank = -(-len(s) * pct // 100)
    return s[max(0, min(len(s) - 1, rank - 1))]

# One warm-up each (registry page cache, binaries), not counted.
_, st = firkin_cold("warmup"); shutil.rmtree(st, ignore_errors=True)
peer_cold("warmup")

firkin, peer = [], []
for i in range(runs):
    order = ("firkin", "peer") if i % 2 == 0 else ("peer", "firkin")
    for side in order:
        if side == "firkin":
            ms, st = firkin_cold(i)
            firkin.append(ms)
            if i < runs - 1:
                shutil.rmtree(st, ignore_errors=True)
            else:
                last_state = st
        else:
            peer.append(peer_cold(i))
    print(f"run {i + 1}/{runs}: firkin {firkin[-1]:.0f} ms, skopeo+umoci {peer[-1]:.0f} ms", file=sys.stderr)

cached = [timed([fk, "template", "prepare", "-q", "--id", "bench", ref], {"FIRKIN_STATE_DIR": last_state})
          for _ in range(cached_runs)]
# The same in process: the library's cost without the dynamic loader's start-up of `fk'.
p = subprocess.run([os.path.join(os.path.dirname(fk), "../../bench/prepare_cached"), last_state, ref,
                    "bench", str(cached_runs)], env=env, capture_output=True, text=True)
if p.returncode != 0:
    sys.exit(f"bench/prepare: prepare_cached failed: {p.stderr}")
cached_lib = [float(x) for x in p.stdout.split()]
startup = [timed([fk, "--help"]) for _ in range(cached_runs)]
shutil.rmtree(last_state, ignore_errors=True)

common = [("image", "base"), ("source", "local_registry"), ("reference", "debian:bookworm-slim")]
samples = []
def add(metric, kind, unit, value, tags):
    samples.append({"metric": metric, "kind": kind, "unit": unit, "value": value,
                    "tags": dict(common + tags)})
for i, v in enumerate(firkin):
    add("image.prepare.firkin_cold_ms", "LifecycleLatency", "Milliseconds", v,
        [("measurement_boundary", "empty_store_to_template"), ("runner", "fk template prepare"),
         ("repeat_index", str(i)), ("repeat_count", str(runs))])
for i, v in enumerate(peer):
    add("image.prepare.peer_cold_ms", "LifecycleLatency", "Milliseconds", v,
        [("measurement_boundary", "empty_dir_to_rootfs"), ("runner", "skopeo copy + umoci unpack"),
         ("repeat_index", str(i)), ("repeat_count", str(runs))])
for i, v in enumerate(cached):
    add("image.prepare.firkin_cached_ms", "LifecycleLatency", "Milliseconds", v,
        [("measurement_boundary", "second_prepare_of_cached_image"), ("runner", "fk template prepare"),
         ("repeat_index", str(i)), ("repeat_count", str(cached_runs))])
for i, v in enumerate(cached_lib):
    add("image.prepare.firkin_cached_in_process_ms", "LifecycleLatency", "Milliseconds", v,
        [("measurement_boundary", "second_prepare_of_cached_image"), ("runner", "fk_template_prepare"),
         ("repeat_index", str(i)), ("repeat_count", str(cached_runs))])
for i, v in enumerate(startup):
    add("image.prepare.fk_startup_ms", "FirkinOverhead", "Milliseconds", v,
        [("measurement_boundary", "exec_to_exit"), ("runner", "fk --help"),
         ("repeat_index", str(i)), ("repeat_count", str(cached_runs))])
fp50, pp50 = nearest_rank(firkin, 50), nearest_rank(peer, 50)
add("image.prepare.firkin_vs_peer_ratio", "FirkinOverhead", "Ratio", fp50 / pp50,
    [("source", "p50(firkin_cold) / p50(peer_cold)"), ("sample_count", str(runs)),
     ("firkin_p50_ms", f"{fp50:.3f}"), ("peer_p50_ms", f"{pp50:.3f}"),
     ("firkin_p90_ms", f"{nearest_rank(firkin, 90):.3f}"), ("peer_p90_ms", f"{nearest_rank(peer, 90):.3f}"),
     ("goal", "<= 1.0")])
# The trace format's confidence tag, from each metric's sample count.
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
    smp["tags"]["confidence"] = confidence(counts[smp["metric"]])
os.makedirs(os.path.dirname(os.path.abspath(artifact)), exist_ok=True)
tmp = artifact + ".tmp"
with open(tmp, "w") as f:
    json.dump({"kind": "image_prepare", "samples": samples, "traces": []}, f, indent=2)
    f.write("\n")
os.rename(tmp, artifact)

def line(name, v):
    return (f"{name:<34} n={len(v):<3} p50 {nearest_rank(v, 50):9.1f} ms  p90 {nearest_rank(v, 90):9.1f} ms"
            f"  min {min(v):9.1f}  max {max(v):9.1f}")
print(line("firkin prepare (cold)", firkin))
print(line("skopeo copy + umoci unpack (cold)", peer))
print(line("firkin prepare (cached, 2nd)", cached))
print(line("  the same, in process", cached_lib))
print(line("  fk start-up alone (fk --help)", startup))
print(f"ratio firkin/peer (p50): {fp50 / pp50:.2f}x  (goal <= 1.0x)")
print(f"cached second prepare p50: {nearest_rank(cached_lib, 50):.1f} ms in process, "
      f"{nearest_rank(cached, 50):.1f} ms through fk (goal < 10 ms)")
print(f"artifact: {artifact} (fk bench report prints it)")
PY
