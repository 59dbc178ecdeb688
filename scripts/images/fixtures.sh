#!/usr/bin/env bash
# fixtures.sh: the test images, in one OCI layout (blobs shared):
#   busybox   one layer (busybox.sh), gzip
#   layered   three layers over busybox: the upper two delete files and a directory with
#             whiteouts, replace a directory's content (opaque), re-create a deleted file, and
#             carry hard links, symlinks, setuid bits and non-root owners; gzip
#   plain     `layered' with uncompressed layers
#   zstd      `layered' with zstd layers
#   arm64     a tiny made-up linux/arm64 image (one text file), for platform selection
#   multi     an image index: linux/amd64 -> busybox, linux/arm64 -> arm64
# `layered', `plain' and `zstd' have the same diff_ids: one rootfs, three compressions.
#
# usage: scripts/images/fixtures.sh LAYOUT      (LAYOUT is created; prints it)
#        scripts/images/fixtures.sh --layers DIR  only writes the layered rootfs dirs l1 l2 l3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

layers() {
  local d=$1
  mkdir -p "$d"
  # l1: busybox plus content the upper layers change.
  "$here/busybox.sh" --rootfs "$d/l1"
  local l1=$d/l1
  mkdir -p "$l1"/opt/app/sub "$l1"/var/lib/data "$l1"/usr/share/doc/fixture "$l1"/home/user
  echo "welcome to layer 1" >"$l1/etc/motd"
  echo a >"$l1/opt/app/a.txt"
  echo b >"$l1/opt/app/b.txt"
  echo c >"$l1/opt/app/sub/c.txt"
  echo x >"$l1/var/lib/data/x"
  echo y >"$l1/var/lib/data/y"
  echo v1 >"$l1/usr/share/doc/fixture/version"
  ln "$l1/opt/app/a.txt" "$l1/opt/app/a-hardlink"
  ln -s app "$l1/opt/current"
  ln -s ../../../etc/passwd "$l1/usr/share/doc/fixture/relative-link"
  printf '#!/bin/sh\necho suid\n' >"$l1/usr/bin/suid-tool"
  chown 1000:1000 "$l1/usr/bin/suid-tool"
  chmod 4755 "$l1/usr/bin/suid-tool"
  printf 'secret\n' >"$l1/home/user/.profile"
  chown -R 1234:2345 "$l1/home/user"
  chmod 0700 "$l1/home/user"
  chmod 0600 "$l1/home/user/.profile"
  # A file with a hole, kept sparse by the tar.
  truncate -s 1M "$l1/var/lib/sparse"
  echo end >>"$l1/var/lib/sparse"

  # l2: delete a file, empty a directory (opaque) and refill it, delete one file of a directory.
  local l2=$d/l2
  mkdir -p "$l2"/etc "$l2"/opt/app "$l2"/var/lib/data "$l2"/usr/share/doc/fixture
  : >"$l2/etc/.wh.motd"
  : >"$l2/opt/app/.wh..wh..opq"
  echo new >"$l2/opt/app/new.txt"
  ln "$l2/opt/app/new.txt" "$l2/opt/app/new-hardlink"
  : >"$l2/var/lib/data/.wh.x"
  echo v2 >"$l2/usr/share/doc/fixture/version"
  echo fixture >"$l2/etc/hostname"
  chmod 2750 "$l2/opt/app"

  # l3: delete a whole directory and a symlink, re-create the file l2 deleted, drop an applet.
  local l3=$d/l3
  mkdir -p "$l3"/var/lib "$l3"/opt "$l3"/etc "$l3"/bin "$l3"/srv/www
  : >"$l3/var/lib/.wh.data"
  : >"$l3/opt/.wh.current"
  : >"$l3/bin/.wh.vi"
  echo "welcome back in layer 3" >"$l3/etc/motd"
  echo '<h1>fixture</h1>' >"$l3/srv/www/index.html"
  chown -R 33:33 "$l3/srv/www"
  chmod 0600 "$l3/srv/www/index.html"
  ln -s /srv/www/index.html "$l3/srv/index"
}

case "${1:-}" in
  --layers)
    [ $# -eq 2 ] || { echo "usage: $0 --layers DIR" >&2; exit 2; }
    layers "$2"
    exit 0
    ;;
  "" | -*)
    echo "usage: $0 LAYOUT | --layers DIR" >&2
    exit 2
    ;;
esac

out=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mk() { "$here/mkimage" "$@" >/dev/null; }
common=(--cmd /bin/sh --workdir / --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --env FIXTURE=1)

FIRKIN_IMAGE_COMPRESSION=gzip "$here/busybox.sh" "$out" >/dev/null
layers "$tmp/layered"
L=("$tmp/layered/l1" "$tmp/layered/l2" "$tmp/layered/l3")
mk --tag layered --compression gzip "${common[@]}" "$out" "${L[@]}"
mk --tag plain --compression none "${common[@]}" "$out" "${L[@]}"
mk --tag zstd --compression zstd "${common[@]}" "$out" "${L[@]}"

mkdir -p "$tmp/arm64/etc"
echo arm64 >"$tmp/arm64/etc/arch"
mk --tag arm64 --arch arm64 --compression gzip --cmd /bin/sh "$out" "$tmp/arm64"
# The amd64 entry is busybox whatever the host: the index describes those two platforms.
mk --index busybox,arm64 --tag multi "$out"
echo "$out"
