#!/usr/bin/env bash
# layer_umoci: firkin's unpack of the fixture images (every layer through `fk layer apply`, the
# layer dirs stacked by a real overlay mount, as sandboxes use them) against `umoci unpack` of
# the same image: same paths, types, modes, owners, sizes, contents, symlink targets and hard
# link groups. Also each diff_id against the image config. The base image joins when cached.
. "$(dirname "$0")/lib.sh"

tags=(busybox layered plain zstd)
plan $((${#tags[@]} * 3 + 4))

need_skip=""
[ -n "${FK:-}" ] && [ -x "${FK:-}" ] || need_skip="fk not built"
command -v umoci >/dev/null || need_skip="umoci not installed"
[ -x /bin/busybox ] || need_skip="busybox-static not installed"
[ "$(id -u)" -eq 0 ] || need_skip="needs root (image owners, overlay mounts)"
if [ -z "$need_skip" ] && ! unshare -m true 2>/dev/null; then need_skip="no mount namespaces"; fi
if [ -n "$need_skip" ]; then
  for ((i = 0; i < ${#tags[@]} * 3 + 4; i++)); do skip "layer_umoci" "$need_skip"; done
  done_testing
fi

work=$(mktemp -d /tmp/firkin-layer-it.XXXXXX)
on_exit "rm -rf '$work'"
oci=$work/oci
"$FIRKIN_SRC/scripts/images/fixtures.sh" "$oci" >/dev/null 2>"$work/fixtures.err" ||
  { diag "$(cat "$work/fixtures.err")"; }

# json_get LAYOUT TAG WHAT: layer digests ("layers") or diff_ids ("diff_ids") of a tag, one a line.
json_get() {
  python3 - "$@" <<'PY'
import json, sys
layout, tag, what = sys.argv[1:]
blob = lambda d: json.load(open(f"{layout}/blobs/sha256/{d.split(':')[1]}"))
idx = json.load(open(f"{layout}/index.json"))
m = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
man = blob(m["digest"])
if what == "layers":
    print("\n".join(l["digest"] for l in man["layers"]))
else:
    print("\n".join(blob(man["config"]["digest"])["rootfs"]["diff_ids"]))
PY
}

# treecmp A B: compares two rootfs trees (firkin's, umoci's); prints every difference, fails
# when there is one.
treecmp() { python3 "$FIRKIN_SRC/tests/integration/treecmp.py" "$@"; }

# firkin_unpack LAYOUT TAG DIR: applies every layer of TAG into DIR/l0, DIR/l1, ... and checks
# each printed diff_id against the config's.
firkin_unpack() {
  local layout=$1 tag=$2 dir=$3 i=0 d got
  mapfile -t diffs < <(json_get "$layout" "$tag" diff_ids)
  mkdir -p "$dir"
  for d in $(json_get "$layout" "$tag" layers); do
    got=$("$FK" layer apply "$layout/blobs/sha256/${d#sha256:}" "$dir/l$i" 2>>"$dir/log") || {
      cat "$dir/log"; return 1; }
    [ "$got" = "${diffs[$i]}" ] || { echo "layer $i: diff_id $got, config says ${diffs[$i]}"; return 1; }
    i=$((i + 1))
  done
  echo "$i" >"$dir/count"
}

# stacked_cmp DIR UMOCI_ROOTFS: mounts DIR's layers as one overlay (top layer first) in a
# private mount namespace, so the mount goes when the command ends, and compares.
stacked_cmp() {
  local dir=$1 ref=$2 n lower="" i
  n=$(cat "$dir/count")
  for ((i = n - 1; i >= 0; i--)); do lower+="${lower:+:}$dir/l$i"; done
  mkdir -p "$dir/merged"
  if [ "$n" -eq 1 ]; then
    # overlay needs two lower dirs without an upper; one layer is its own rootfs.
    treecmp "$dir/l0" "$ref"
    return
  fi
  unshare -m bash -c "mount --make-rprivate / && mount -t overlay overlay -o ro,lowerdir=$lower '$dir/merged' && \
    $(declare -f treecmp); treecmp '$dir/merged' '$ref'"
}

for tag in "${tags[@]}"; do
  ref=$tag
  # umoci 0.4 does not read zstd layers: its reference is `plain', the same rootfs (same diff_ids).
  if [ "$tag" = zstd ]; then
    ref=plain
    if [ "$(json_get "$oci" zstd diff_ids)" = "$(json_get "$oci" plain diff_ids)" ]; then
      ok "zstd: the same diff_ids as plain (umoci's reference for it)"
    else
      fail "zstd: diff_ids differ from plain"
    fi
  else
    check "$tag: umoci unpack" umoci unpack --image "$oci:$ref" "$work/umoci-$tag"
  fi
  check "$tag: fk layer apply of every layer, diff_ids as in the config" \
    firkin_unpack "$oci" "$tag" "$work/fk-$tag"
  umoci_root=$work/umoci-$ref/rootfs
  if out=$(stacked_cmp "$work/fk-$tag" "$umoci_root" 2>&1); then
    ok "$tag: stacked layers equal umoci's rootfs (${out##*$'\n'})"
  else
    fail "$tag: stacked layers differ from umoci's rootfs"
    printf '%s\n' "$out" | sed 's/^/# /' | head -40
  fi
done

# The overlay format of the layer dirs themselves.
l=$work/fk-layered
if [ -c "$l/l1/etc/motd" ] && [ "$(stat -c %t:%T "$l/l1/etc/motd")" = 0:0 ] &&
  [ -c "$l/l2/var/lib/data" ]; then
  ok "layered: whiteouts are 0/0 char devices in the layer dirs"
else
  fail "layered: whiteouts missing"
fi
if python3 -c "import os,sys; sys.exit(os.getxattr(sys.argv[1], 'trusted.overlay.opaque') != b'y')" \
  "$l/l1/opt/app" 2>/dev/null; then
  ok "layered: the opaque directory carries trusted.overlay.opaque=y"
else
  fail "layered: opaque xattr missing on opt/app"
fi

# Hostile layers through the CLI: refused with the reason, nothing written beside the target.
python3 - "$work" <<'PY'
import io, sys, tarfile
work = sys.argv[1]
def tar(name, entries):
    with tarfile.open(f"{work}/{name}", "w:gz") as t:
        for n, kind, arg in entries:
            i = tarfile.TarInfo(n)
            if kind == "sym":
                i.type, i.linkname = tarfile.SYMTYPE, arg
                t.addfile(i)
            elif kind == "hard":
                i.type, i.linkname = tarfile.LNKTYPE, arg
                t.addfile(i)
            else:
                i.size = len(arg)
                t.addfile(i, io.BytesIO(arg))
tar("dotdot.tgz", [("../escape", "file", b"pwned")])
tar("symlink.tgz", [("link", "sym", work + "/outside"), ("link/pwned", "file", b"pwned")])
tar("hardlink.tgz", [("shadow", "hard", "/etc/shadow")])
PY
mkdir -p "$work/outside" "$work/h"
hostile() {
  local name=$1 want=$2 out
  if out=$("$FK" layer apply "$work/$name.tgz" "$work/h/$name" 2>&1); then
    echo "accepted: $out"; return 1
  fi
  case $out in *"$want"*) ;; *) echo "error \`$out' does not say \`$want'"; return 1 ;; esac
  [ ! -e "$work/h/escape" ] && [ ! -e "$work/escape" ] && [ -z "$(ls -A "$work/outside")" ] ||
    { echo "something was written outside the target"; return 1; }
}
check "hostile layers via fk layer apply: refused with the reason, nothing outside written" \
  eval 'hostile dotdot "has a \`..'"'"' component" && hostile symlink "is a symlink of this layer" &&
    hostile hardlink "is not an earlier entry of the layer"'

# The base image, when scripts/images/base.sh has built it (minutes, once).
base=${FIRKIN_CACHE_DIR:-/var/cache/firkin}/images/base
if [ -f "$base/index.json" ]; then
  if umoci unpack --image "$base:base" "$work/umoci-base" >/dev/null 2>&1 &&
    firkin_unpack "$base" base "$work/fk-base" >"$work/base.out" 2>&1 &&
    stacked_cmp "$work/fk-base" "$work/umoci-base/rootfs" >>"$work/base.out" 2>&1; then
    ok "base: firkin's unpack equals umoci's ($(tail -1 "$work/base.out"))"
  else
    fail "base: firkin's unpack differs from umoci's"
    sed 's/^/# /' "$work/base.out" | head -40
  fi
else
  skip "base: firkin's unpack equals umoci's" "base image not built (scripts/images/base.sh)"
fi
done_testing
