#!/usr/bin/env bash
# Runs one file of E2B SDK tests (TAP; tests/e2b/NAME.test.mjs, NAME the argument) against fkd; skips when the SDK is not installed
# (`npm ci --prefix tests/e2b', which .ci/run does) or sandboxes cannot be made here.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/e2b" ]; then
  echo "1..0 # SKIP the e2b SDK is not installed (npm ci --prefix tests/e2b)"
  exit 0
fi
if ! command -v node >/dev/null 2>&1; then
  echo "1..0 # SKIP node is not installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP sandboxes need root here (user namespaces mapped from a host range)"
  exit 0
fi
: "${FK:?}" "${FKD:?}" "${FK_AGENT:?}"
export FIRKIN_AGENT=$FK_AGENT
exec node --test-reporter=tap "$here/${1:-e2b}.test.mjs"
