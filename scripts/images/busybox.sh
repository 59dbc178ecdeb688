#!/usr/bin/env bash
# busybox.sh: the `busybox' image: one layer made from Debian's busybox-static (/bin/busybox and
# a symlink per applet), /etc/passwd, /etc/group and /tmp. Small and quick to build: for tests.
#
# usage: scripts/images/busybox.sh                 the default image, built once: prints its layout
#                                                  ${FIRKIN_CACHE_DIR:-/var/cache/firkin}/images/busybox
#        scripts/images/busybox.sh LAYOUT          adds tag `busybox' to the OCI layout LAYOUT
#        scripts/images/busybox.sh --rootfs DIR    only writes the rootfs into DIR (empty or new)
# env: FIRKIN_CACHE_DIR, FIRKIN_IMAGE_COMPRESSION (gzip, zstd or none; default gzip)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

busybox_rootfs() {
  local dir=$1 bb=/bin/busybox applet
  [ -x "$bb" ] || { echo "busybox.sh: $bb missing: install busybox-static" >&2; return 1; }
  file -b "$bb" 2>/dev/null | grep -q 'dynamically linked' &&
    { echo "busybox.sh: $bb is not static (install busybox-static)" >&2; return 1; }
  mkdir -p "$dir"
  install -d -m 0755 "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,run,var}
  install -d -m 0700 "$dir/root"
  install -d -m 1777 "$dir/tmp"
  install -m 0755 "$bb" "$dir/bin/busybox"
  while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$dir/$(dirname "$applet")"
    ln -sfn /bin/busybox "$dir/$applet"
  done < <("$bb" --list-full)
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >"$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$dir/etc/group"
  chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
}

build_image() {
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  busybox_rootfs "$tmp/rootfs"
  "$here/mkimage" --tag busybox --compression "${FIRKIN_IMAGE_COMPRESSION:-gzip}" \
    --cmd /bin/sh --workdir / "$1" "$tmp/rootfs" >/dev/null
}

case "${1:-}" in
  "")
    cache=${FIRKIN_CACHE_DIR:-/var/cache/firkin}
    layout=$cache/images/busybox
    mkdir -p "$cache/images"
    exec 9>"$cache/images/.busybox.lock"
    flock 9
    # Rebuilt when Debian's busybox changes.
    if [ ! -f "$layout/index.json" ] || [ /bin/busybox -nt "$layout/index.json" ]; then
      rm -rf "$layout.tmp"
      build_image "$layout.tmp"
      # Readers of the old layout see it until the rename: keep that window short.
      rm -rf "$layout.old"
      [ ! -e "$layout" ] || mv -T "$layout" "$layout.old"
      mv -T "$layout.tmp" "$layout"
      rm -rf "$layout.old"
    fi
    echo "$layout"
    ;;
  --rootfs)
    [ $# -eq 2 ] || { echo "usage: $0 --rootfs DIR" >&2; exit 2; }
    busybox_rootfs "$2"
    ;;
  -*)
    echo "usage: $0 [LAYOUT | --rootfs DIR]" >&2
    exit 2
    ;;
  *)
    build_image "$1"
    echo "$1"
    ;;
esac
