#!/usr/bin/env bash
# firkin's main job, as far as it goes today (see README): filled in by the areas as they land.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
# image: the default templates `busybox' and `base' (built once, cached; then a no-op).
"$top/scripts/prepare-defaults.sh" "$build/src/cli/fk"
echo "firkin: built in $build; the main job arrives with the sandbox area."
