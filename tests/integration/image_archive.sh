#!/usr/bin/env bash
# image_archive: `fk template prepare' from the archive forms: oci:DIR[:TAG], oci-archive:FILE[:TAG]
# (made by skopeo) and docker-archive:FILE (skopeo's docker save format), each rootfs compared
# with `umoci unpack' of the same image; hostile archives (`..' entries, symlinks) refused with
# nothing written outside the store.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/imagelib.sh"

reason=$(image_skip_reason)
if [ -n "$reason" ]; then
  plan 1
  skip "image_archive" "$reason"
  done_testing
fi
work=$(mktemp -d /tmp/firkin-archive-it.XXXXXX)
on_exit "rm -rf '$work'"
oci=$work/oci
"$FIRKIN_SRC/scripts/images/fixtures.sh" "$oci" >/dev/null 2>"$work/fixtures.err" ||
  diag "fixtures: $(cat "$work/fixtures.err")"
umoci unpack --image "$oci:layered" "$work/umoci-layered" >/dev/null 2>&1

# prepare_cmp NAME REF: prepares REF and compares its rootfs with umoci's of `layered'.
prepare_cmp() {
  local name=$1 ref=$2 id out
  if id=$("$FK" template prepare -q --id "$name" "$ref" 2>"$work/err"); then
    if out=$(template_cmp "$id" "$work/umoci-layered/rootfs" 2>&1); then
      ok "$name: rootfs equals umoci's (${out##*$'\n'})"
    else
      fail "$name: rootfs differs from umoci's"
      printf '%s\n' "$out" | sed 's/^/# /' | head -40
    fi
  else
    fail "$name: prepare failed"
    diag "$(cat "$work/err")"
  fi
}

prepare_cmp oci-dir "oci:$oci:layered"
skopeo copy -q "oci:$oci:layered" "oci-archive:$work/layered.tar:layered"
prepare_cmp oci-archive "oci-archive:$work/layered.tar:layered"
skopeo copy -q "oci:$oci:layered" "docker-archive:$work/layered-docker.tar:fixtures/layered:v1"
prepare_cmp docker-archive "docker-archive:$work/layered-docker.tar"
if [ -z "$(ls -A "$FIRKIN_STATE_DIR/tmp")" ]; then
  ok "archives extracted under tmp/ are removed after the import"
else
  fail "tmp/ keeps extracted archives: $(ls "$FIRKIN_STATE_DIR/tmp")"
fi
n=$(ls "$FIRKIN_STATE_DIR/layers/sha256" | wc -l)
[ "$n" -eq 3 ] && ok "three sources of one image share its 3 layers" || fail "expected 3 layer dirs, found $n"

expect_fail "oci: without a tag when the layout has several images" "name one as" \
  "$FK" template prepare -q "oci:$oci"
expect_fail "oci: unknown tag" "unknown tag \`nope' in OCI layout" \
  "$FK" template prepare -q "oci:$oci:nope"
expect_fail "oci-archive: missing file" "open archive" \
  "$FK" template prepare -q "oci-archive:$work/missing.tar"
expect_fail "oci-archive: not an archive" "Unrecognized archive format" \
  "$FK" template prepare -q "oci-archive:$oci/index.json"

# Hostile archives: a `..' entry, an absolute path, a symlink out of the archive.
mkdir -p "$work/outside"
python3 - "$work" <<'PY'
import io, sys, tarfile
w = sys.argv[1]
def mk(name, members):
    with tarfile.open(f"{w}/{name}", "w") as t:
        for m, data in members:
            if data is None:
                t.addfile(m)
            else:
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
f = tarfile.TarInfo("../outside/escaped"); mk("dotdot.tar", [(f, b"x")])
f = tarfile.TarInfo(f"{w}/outside/absolute"); mk("abs.tar", [(f, b"x")])
l = tarfile.TarInfo("blobs"); l.type = tarfile.SYMTYPE; l.linkname = f"{w}/outside"
f = tarfile.TarInfo("blobs/planted"); mk("symlink.tar", [(l, None), (f, b"x")])
PY
expect_fail "oci-archive: a \`..' entry is refused" "has a \`..' component" \
  "$FK" template prepare -q "oci-archive:$work/dotdot.tar"
expect_fail "oci-archive: an absolute entry is refused" "the path is absolute" \
  "$FK" template prepare -q "oci-archive:$work/abs.tar"
expect_fail "oci-archive: a symlink entry is refused" "not a file or directory" \
  "$FK" template prepare -q "oci-archive:$work/symlink.tar"
if [ -z "$(ls -A "$work/outside")" ] && [ -z "$(ls -A "$FIRKIN_STATE_DIR/tmp")" ]; then
  ok "hostile archives wrote nothing outside the store and left nothing in tmp/"
else
  fail "hostile archives left files: $(ls -A "$work/outside" "$FIRKIN_STATE_DIR/tmp")"
fi

plan $_tap_n
done_testing
