#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes each for SECONDS (default 20)
# from its seed corpus; new inputs go to a scratch corpus, never into the tree. Ends with
# "fuzz: N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
build=${FUZZ_BUILD:-$top/build-fuzz}
cd "$top"
[ -f "$build/build.ninja" ] || CC=clang meson setup "$build" -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
ninja -C "$build" >/dev/null || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
pass=0 failed=0
scratch=$(mktemp -d /tmp/fk-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
for exe in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  name=$(basename "$exe"); name=${name#fuzz_}
  mkdir -p "$scratch/$name"
  if (cd "$scratch" && "$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        "$scratch/$name" "$top/tests/fuzz/corpus/$name" >"$scratch/$name.log" 2>&1); then
    pass=$((pass + 1))
    echo "ok - fuzz_$name: $(grep -Eo 'Done [0-9]+ runs' "$scratch/$name.log" | tail -1)"
  else
    failed=$((failed + 1))
    echo "not ok - fuzz_$name"
    tail -40 "$scratch/$name.log"
  fi
done
echo "fuzz: $pass passed, $failed failed"
[ $failed -eq 0 ]
