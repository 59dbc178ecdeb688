#!/usr/bin/env bash
# firkin's main job, as far as it goes today (see README): filled in by the areas as they land.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
# image: the default templates `busybox' and `base' (built once, cached; then a no-op).
"$top/scripts/prepare-defaults.sh" "$build/src/cli/fk"
# Until sandboxes exist: the trace demo measures concurrent fork+exec on this host with the
# density procedure of the benchmarks, writes an artifact and prints its report.
artifact=${FIRKIN_TRACE_DEMO_ARTIFACT:-artifacts/host-fork-exec-density.json}
"$build/src/cli/fk" bench trace-demo --artifact "$artifact"
echo "firkin: artifact written to $artifact (fk bench report $artifact prints it again)"
