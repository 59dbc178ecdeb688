#!/usr/bin/env bash
# prepare-defaults.sh: the default templates, with no outside registry: `busybox' (one layer
# from Debian's busybox-static) and `base' (Debian bookworm by debootstrap --variant=minbase).
# Their OCI layouts are built once into ${FIRKIN_CACHE_DIR:-/var/cache/firkin}/images by
# scripts/images/*.sh and reused; each is then prepared with `fk template prepare oci:DIR:TAG
# --id ID' into the state dir (a no-op when it is there already).
#
# usage: scripts/prepare-defaults.sh [--busybox-only] [FK]
#   FK: the fk binary (default: $FK, else build/src/cli/fk); the state dir is fk's
#   ($FIRKIN_STATE_DIR, else /var/lib/firkin). Prints one line per template: ID SOURCE.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
only_busybox=0
if [ "${1:-}" = "--busybox-only" ]; then
  only_busybox=1
  shift
fi
fk=${1:-${FK:-$top/build/src/cli/fk}}
[ -x "$fk" ] || { echo "prepare-defaults: $fk is not built (make build)" >&2; exit 1; }
cache=${FIRKIN_CACHE_DIR:-/var/cache/firkin}
export FIRKIN_CACHE_DIR=$cache

mkdir -p "$cache/images"
# busybox: rebuilt when missing or older than the busybox binary it packs.
bb=$cache/images/busybox
(
  exec 9>"$cache/images/.busybox.lock"
  flock 9
  if [ ! -f "$bb/index.json" ] || [ /bin/busybox -nt "$bb/index.json" ]; then
    rm -rf "$bb.tmp"
    "$top/scripts/images/busybox.sh" "$bb.tmp" >/dev/null
    rm -rf "$bb"
    mv "$bb.tmp" "$bb"
  fi
)
"$fk" template prepare -q --id busybox "oci:$bb:busybox" >/dev/null
echo "busybox oci:$bb:busybox"

if [ $only_busybox -eq 0 ]; then
  # base.sh builds once (debootstrap takes minutes) and prints the layout.
  base=$("$top/scripts/images/base.sh")
  "$fk" template prepare -q --id base "oci:$base:base" >/dev/null
  echo "base oci:$base:base"
fi
