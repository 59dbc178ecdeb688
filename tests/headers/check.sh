#!/bin/sh
# public_headers: every include/firkin/*.h was compiled alone (tests/headers/meson.build).
# usage: check.sh INCLUDE_DIR BUILD_DIR
inc=$1 build=$2
n=0 rc=0
for h in "$inc"/firkin/*.h; do
  n=$((n + 1))
  name=$(basename "$h" .h)
  if [ -f "$build/header_$name.c" ]; then
    echo "ok $n - firkin/$name.h compiles alone"
  else
    echo "not ok $n - firkin/$name.h was not compiled alone (reconfigure the build)"
    rc=1
  fi
done
echo "1..$n"
exit $rc
