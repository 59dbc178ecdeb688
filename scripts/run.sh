#!/usr/bin/env bash
# firkin's main job, as far as it goes today (see README): filled in by the areas as they land.
set -euo pipefail
build=${1:-build}
echo "firkin: built in $build; the main job arrives with the sandbox area."
