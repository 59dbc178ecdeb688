#!/usr/bin/env bash
# bench/oci_exec.sh [N]: `fk exec ID -- true' into a container fk-oci made (its agent as init)
# against `crun exec ID true' into the same bundle run by crun (in a mount namespace without the
# cgroup2 mount, which crun refuses on a hybrid host), and `fk-oci exec' (through the agent's
# relay) beside them: n, p50, p95 in ms. Needs root and a build (FIRKIN_BUILD, default build/).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
B=${FIRKIN_BUILD:-$src/build}
N=${1:-100}
export FIRKIN_AGENT=$B/src/agent/fk-agent
w=$(mktemp -d /tmp/fk-oci-bench.XXXXXX)
cleanup() {
  "$B/src/oci/fk-oci" --root "$w/st-fk" delete --force bench >/dev/null 2>&1 || true
  unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; crun --root $w/st-crun delete --force bench" >/dev/null 2>&1 || true
  for h in /sys/fs/cgroup/*/fk-oci-bench /sys/fs/cgroup/unified/fk-oci-bench; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null; done
  rm -rf "$w"
}
trap cleanup EXIT
"$src/scripts/busybox-rootfs.sh" "$w/rootfs" >/dev/null
for rt in fk crun; do
  mkdir -p "$w/$rt"
  cat >"$w/$rt/config.json" <<JSON
{"ociVersion": "1.0.2",
 "process": {"user": {"uid": 0, "gid": 0}, "args": ["sleep", "1000"], "cwd": "/",
             "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
 "root": {"path": "$w/rootfs"},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}],
 "linux": {"cgroupsPath": "/fk-oci-bench/$rt",
           "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]}}
JSON
done
"$B/src/oci/fk-oci" --root "$w/st-fk" create --bundle "$w/fk" bench </dev/null >/dev/null
"$B/src/oci/fk-oci" --root "$w/st-fk" start bench
# times CMD...: N runs (after 5 warm-up runs), prints n, p50, p95 in ms.
times() {
  python3 - "$N" "$@" <<'PY'
import subprocess, sys, time
n = int(sys.argv[1]); cmd = sys.argv[2:]
for _ in range(5):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
t = []
for _ in range(n):
    a = time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True); t.append((time.perf_counter() - a) * 1000)
t.sort()
print("n=%d p50=%.2f ms p95=%.2f ms" % (n, t[n // 2], t[min(n - 1, int(n * 0.95))]))
PY
}
echo "fk exec ID -- true (fk-oci container): $(times "$B/src/cli/fk" --state-dir "$w/fkstate" --oci-root "$w/st-fk" exec bench -- true)"
echo "fk-oci exec ID true (the agent's relay): $(times "$B/src/oci/fk-oci" --root "$w/st-fk" exec bench true)"
unshare -m --propagation private bash -c "
  umount /sys/fs/cgroup/unified 2>/dev/null || true
  crun --root $w/st-crun create --bundle $w/crun bench </dev/null >/dev/null
  crun --root $w/st-crun start bench
  $(declare -f times); N=$N
  echo \"crun exec ID true (crun container): \$(times crun --root $w/st-crun exec bench true)\"
  crun --root $w/st-crun delete --force bench"
