#!/usr/bin/env bash
# busybox.sh: the `busybox' image: one layer made from Debian's busybox-static (/bin/busybox and
# a symlink per applet), /etc/passwd, /etc/group and /tmp. Small and quick to build: for tests.
#
# usage: scripts/images/busybox.sh LAYOUT          adds tag `busybox' to the OCI layout LAYOUT
#        scripts/images/busybox.sh --rootfs DIR    only writes the rootfs into DIR (empty or new)
# env: FIRKIN_IMAGE_COMPRESSION (gzip, zstd or none; default gzip)
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

case "${1:-}" in
  --rootfs)
    [ $# -eq 2 ] || { echo "usage: $0 --rootfs DIR" >&2; exit 2; }
    busybox_rootfs "$2"
    ;;
  "" | -*)
    echo "usage: $0 LAYOUT | --rootfs DIR" >&2
    exit 2
    ;;
  *)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    busybox_rootfs "$tmp/rootfs"
    "$here/mkimage" --tag busybox --compression "${FIRKIN_IMAGE_COMPRESSION:-gzip}" \
      --cmd /bin/sh --workdir / "$1" "$tmp/rootfs" >/dev/null
    echo "$1"
    ;;
esac
