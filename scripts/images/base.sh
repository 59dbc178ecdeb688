#!/usr/bin/env bash
# base.sh: the default `base' image: Debian bookworm from `debootstrap --variant=minbase` (bash,
# coreutils, apt: what debian:bookworm-slim has), packed by mkimage into an OCI layout.
# Built once and reused: the rootfs and the layout live in the cache dir, and a second run
# only prints where the layout is.
#
# usage: scripts/images/base.sh [--rebuild]
#   prints the layout dir: ${FIRKIN_CACHE_DIR:-/var/cache/firkin}/images/base (tag `base')
# env: FIRKIN_CACHE_DIR, FIRKIN_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      FIRKIN_BASE_COMPRESSION (gzip, zstd or none; default gzip)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${FIRKIN_CACHE_DIR:-/var/cache/firkin}
mirror=${FIRKIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
compression=${FIRKIN_BASE_COMPRESSION:-gzip}
rootfs=$cache/base/rootfs
layout=$cache/images/base

if [ "${1:-}" = "--rebuild" ]; then
  rm -rf "$rootfs" "$layout"
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--rebuild]" >&2
  exit 2
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "base.sh: debootstrap needs root (file owners and device nodes)" >&2
  exit 1
fi
mkdir -p "$cache/base" "$cache/images"
# One builder at a time; a second one waits and then finds the result.
exec 9>"$cache/base/.lock"
flock 9

if [ ! -f "$rootfs/.firkin-complete" ]; then
  tmp=$cache/base/rootfs.tmp
  rm -rf "$tmp" "$rootfs"
  echo "base.sh: debootstrap --variant=minbase bookworm from $mirror (once; cached in $cache)" >&2
  debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$cache/base/debootstrap.log" 2>&1 || {
    echo "base.sh: debootstrap failed; see $cache/base/debootstrap.log" >&2
    tail -20 "$cache/base/debootstrap.log" >&2
    exit 1
  }
  # What a slim image drops: package lists and caches are re-fetchable, logs are per-host.
  rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb \
    "$tmp"/var/log/*.log "$tmp"/var/log/apt/* "$tmp"/var/cache/debconf/*-old
  # The sandbox mounts its own /dev, /proc and /sys: ship them empty (device nodes are never
  # taken from images anyway).
  find "$tmp/dev" -mindepth 1 -delete
  touch "$tmp/.firkin-complete"
  mv "$tmp" "$rootfs"
fi

if [ ! -f "$layout/index.json" ] || [ "$rootfs/.firkin-complete" -nt "$layout/index.json" ]; then
  rm -rf "$layout.tmp"
  # The marker is not part of the image: pack a view without it.
  "$here/mkimage" --tag base --compression "$compression" --cmd /bin/bash --workdir / \
    --exclude .firkin-complete "$layout.tmp" "$rootfs" >/dev/null
  rm -rf "$layout"
  mv "$layout.tmp" "$layout"
fi
echo "$layout"
