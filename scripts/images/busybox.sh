#!/usr/bin/env bash
# busybox.sh: the `busybox' image: one layer made from Debian's busybox-static, the tree of
# scripts/busybox-rootfs.sh (/bin/busybox and a symlink per applet, /etc/passwd, /etc/group,
# /home/user, /tmp). Small and quick to build: for tests.
#
# usage: scripts/images/busybox.sh                 the default image, built once: prints its layout
#                                                  ${FIRKIN_CACHE_DIR:-/var/cache/firkin}/images/busybox
#        scripts/images/busybox.sh LAYOUT          adds tag `busybox' to the OCI layout LAYOUT
#        scripts/images/busybox.sh --rootfs DIR    only writes the rootfs into DIR (empty or new)
# env: FIRKIN_CACHE_DIR, FIRKIN_IMAGE_COMPRESSION (gzip, zstd or none; default gzip)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# The tree: scripts/busybox-rootfs.sh, the one shell builder of a busybox root.
busybox_rootfs() {
  "$here/../busybox-rootfs.sh" "$1"
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
