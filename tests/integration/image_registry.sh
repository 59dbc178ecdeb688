#!/usr/bin/env bash
# image_registry: `fk template prepare' against a real registry (Debian's docker-registry on a
# loopback port, images pushed with skopeo from the fixture layouts): each rootfs equals
# `umoci unpack' of the same image; platform selection; bearer and basic auth through an
# authenticating front; credentials kept from a redirected blob host; the errors for unknown
# repository/tag, wrong platform, digest mismatch, unreachable, timeout; a killed pull followed
# by a good one; the debian:bookworm-slim fallback; rm and prune.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/imagelib.sh"

reason=$(image_skip_reason)
if [ -n "$reason" ]; then
  plan 1
  skip "image_registry" "$reason"
  done_testing
fi
# Other people's settings must not change what is tested.
unset FIRKIN_INSECURE_REGISTRIES FIRKIN_DOCKER_HUB_MIRROR REGISTRY_AUTH_FILE DOCKER_CONFIG
export HOME=$(mktemp -d /tmp/firkin-home.XXXXXX)
on_exit "rm -rf '$HOME'"
export FIRKIN_REGISTRY_TIMEOUT=10

work=$(mktemp -d /tmp/firkin-image-it.XXXXXX)
on_exit "rm -rf '$work'"
oci=$work/oci
"$FIRKIN_SRC/scripts/images/fixtures.sh" "$oci" >/dev/null 2>"$work/fixtures.err" ||
  { diag "fixtures: $(cat "$work/fixtures.err")"; }
start_registry "$work/registry" || exit 1
for tag in busybox layered plain zstd arm64 multi; do
  push "$oci" $tag "fixtures/$tag:v1" || diag "push $tag failed"
done

# 1. Every fixture through the registry, compared with umoci's unpack of the same image.
for tag in busybox layered plain zstd; do
  ref=$tag
  [ $tag = zstd ] && ref=plain # umoci 0.4 reads no zstd; `plain' has the same diff_ids
  [ -d "$work/umoci-$ref" ] || umoci unpack --image "$oci:$ref" "$work/umoci-$ref" >/dev/null 2>&1
  if id=$("$FK" template prepare -q "$REGISTRY/fixtures/$tag:v1" 2>"$work/err"); then
    ok "$tag: prepared from the registry as \`$id'"
    if out=$(template_cmp "$id" "$work/umoci-$ref/rootfs" 2>&1); then
      ok "$tag: rootfs equals umoci's (${out##*$'\n'})"
    else
      fail "$tag: rootfs differs from umoci's"
      printf '%s\n' "$out" | sed 's/^/# /' | head -40
    fi
  else
    fail "$tag: prepare failed"
    diag "$(cat "$work/err")"
    skip "$tag: rootfs equals umoci's" "prepare failed"
  fi
done

# layered, plain and zstd have the same diff_ids: their layers are unpacked once.
n=$(ls "$FIRKIN_STATE_DIR/layers/sha256" | wc -l)
[ "$n" -eq 4 ] && ok "layers shared by diff-id: 4 layer dirs for busybox + 3 three-layer images" ||
  fail "expected 4 layer dirs, found $n"

# A second prepare of a cached image changes nothing and is quick.
before=$(stat -c %Y "$FIRKIN_STATE_DIR/templates/layered-v1.json")
check "second prepare of a cached image" "$FK" template prepare -q "$REGISTRY/fixtures/layered:v1"
[ "$(stat -c %Y "$FIRKIN_STATE_DIR/templates/layered-v1.json")" = "$before" ] &&
  ok "second prepare left the record alone" || fail "second prepare rewrote the record"

# 2. Platforms: the index gives the host's image by default, another with --platform.
check "index: default platform picks linux/amd64" bash -c \
  "[ \"\$('$FK' template prepare -q --id multi-host '$REGISTRY/fixtures/multi:v1')\" = multi-host ] &&
   '$FK' template inspect multi-host | grep -q '\"platform\": \"linux/amd64\"'"
check "index: --platform linux/arm64 picks the arm64 image" bash -c \
  "'$FK' template prepare -q --id multi-arm --platform linux/arm64 '$REGISTRY/fixtures/multi:v1' &&
   '$FK' template inspect multi-arm | grep -q '\"platform\": \"linux/arm64\"'"
expect_fail "index: a platform the index lacks is refused, naming what it has" \
  "no image for platform linux/s390x in the index (it has: linux/amd64, linux/arm64)" \
  "$FK" template prepare -q --platform linux/s390x "$REGISTRY/fixtures/multi:v1"
expect_fail "single image of another platform: wrong platform" "wrong platform" \
  "$FK" template prepare -q "$REGISTRY/fixtures/arm64:v1"

# 3. Errors.
expect_fail "unknown tag" "unknown tag \`v9' in repository \`fixtures/busybox'" \
  "$FK" template prepare -q "$REGISTRY/fixtures/busybox:v9"
expect_fail "unknown repository" "unknown repository \`fixtures/nothing'" \
  "$FK" template prepare -q "$REGISTRY/fixtures/nothing:v1"
closed=$(free_port)
expect_fail "unreachable registry" "registry \`127.0.0.1:$closed' is unreachable" \
  "$FK" template prepare -q "127.0.0.1:$closed/fixtures/busybox:v1"
# A listener that accepts and never answers.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)' >"$work/silent.port" &
silent=$!
on_exit "kill $silent"
wait_for test -s "$work/silent.port"
expect_fail "registry that never answers: timeout" "timed out" \
  env FIRKIN_REGISTRY_TIMEOUT=1 "$FK" template prepare -q "127.0.0.1:$(cat "$work/silent.port")/fixtures/busybox:v1"
expect_fail "malformed reference names the wrong part" "tag \`.bad' must start" \
  "$FK" template prepare -q "$REGISTRY/fixtures/busybox:.bad"

# Digest mismatch: the registry serves a corrupted layer (same size, one byte changed).
mkdir -p "$work/corrupt"
echo "corrupt me $RANDOM" >"$work/corrupt/file"
"$FIRKIN_SRC/scripts/images/mkimage" --tag c --compression none "$work/c-oci" "$work/corrupt" >/dev/null
push "$work/c-oci" c "fixtures/corrupt:v1"
# The layer as the registry stores it (skopeo may have changed the compression on the way).
layer_of() {
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$1/manifests/v1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"][7:])'
}
layer=$(layer_of fixtures/corrupt)
data=$REGISTRY_DATA/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data
python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xff
open(p, "wb").write(b)' "$data"
expect_fail "corrupted blob: digest mismatch" "digest mismatch for blob \`sha256:$layer'" \
  "$FK" template prepare -q "$REGISTRY/fixtures/corrupt:v1"
if [ ! -e "$FIRKIN_STATE_DIR/blobs/sha256/$layer" ] && [ -z "$(ls -A "$FIRKIN_STATE_DIR/tmp")" ] &&
  [ ! -e "$FIRKIN_STATE_DIR/templates/corrupt-v1.json" ]; then
  ok "corrupted blob: nothing kept (no blob, no tmp file, no record)"
else
  fail "corrupted blob left something behind"
fi

# 4. Auth: bearer tokens through the front, then basic auth from an auth file.
start_proxy "$work/bearer.log" --auth bearer --redirect-blobs
if id=$("$FK" template prepare -q --id via-bearer "$PROXY/fixtures/layered:v1" 2>"$work/err"); then
  ok "bearer: anonymous token flow"
else
  fail "bearer: anonymous token flow"
  diag "$(cat "$work/err")"
fi
grep -q "token scope=repository:fixtures/layered:pull service=firkin-test" "$work/bearer.log" &&
  ok "bearer: token asked for the repository's pull scope and service" ||
  fail "bearer: no token request in the log"
# The layers are cached: make the blob host serve one by pulling an image not yet in the store.
mkdir -p "$work/fresh"
echo "fresh $RANDOM" >"$work/fresh/f"
"$FIRKIN_SRC/scripts/images/mkimage" --tag f "$work/f-oci" "$work/fresh" >/dev/null
push "$work/f-oci" f "fixtures/fresh:v1"
check "bearer: blobs fetched through a redirect to another host" \
  "$FK" template prepare -q "$PROXY/fixtures/fresh:v1"
if grep -q "blobhost .* authorization=absent" "$work/bearer.log" &&
  ! grep -q "blobhost .* authorization=present" "$work/bearer.log"; then
  ok "bearer: the redirected blob host never saw the Authorization header"
else
  fail "bearer: the blob host got credentials"
  diag "$(grep blobhost "$work/bearer.log")"
fi

start_proxy "$work/basic.log" --auth basic --user "tester:s3cret"
expect_fail "basic: no credentials stored: unauthorised" "unauthorised" \
  "$FK" template prepare -q "$PROXY/fixtures/busybox:v1"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$PROXY" "$(printf 'tester:wrong' | base64)" >"$work/bad-auth.json"
expect_fail "basic: wrong password: unauthorised" "unauthorised" \
  env REGISTRY_AUTH_FILE="$work/bad-auth.json" "$FK" template prepare -q "$PROXY/fixtures/busybox:v1"
printf '{"auths":{"http://%s":{"auth":"%s"}}}' "$PROXY" "$(printf 'tester:s3cret' | base64)" >"$work/auth.json"
check "basic: credentials from REGISTRY_AUTH_FILE" \
  env REGISTRY_AUTH_FILE="$work/auth.json" "$FK" template prepare -q --id via-basic "$PROXY/fixtures/busybox:v1"
mkdir -p "$HOME/.docker"
cp "$work/auth.json" "$HOME/.docker/config.json"
check "basic: credentials from ~/.docker/config.json" \
  "$FK" template prepare -q --id via-basic2 "$PROXY/fixtures/busybox:v1"
rm -rf "$HOME/.docker"

# 5. A pull killed midway leaves nothing trusted; the next pull gives a correct template.
mkdir -p "$work/big"
head -c $((24 << 20)) /dev/urandom >"$work/big/random.bin"
"$FIRKIN_SRC/scripts/images/mkimage" --tag big --compression none "$work/big-oci" "$work/big" >/dev/null
push "$work/big-oci" big "fixtures/big:v1"
start_proxy "$work/slow.log" --auth none --throttle $((8 << 20))
"$FK" template prepare -q --id big "$PROXY/fixtures/big:v1" >/dev/null 2>&1 &
pull=$!
# Kill it once part of the blob has arrived.
wait_for bash -c "find '$FIRKIN_STATE_DIR/tmp' -name 'blob-*' -size +1M | grep -q ."
kill -9 $pull
wait $pull 2>/dev/null
bigdg=$(layer_of fixtures/big)
if [ ! -e "$FIRKIN_STATE_DIR/blobs/sha256/$bigdg" ] && [ ! -e "$FIRKIN_STATE_DIR/templates/big.json" ] &&
  [ ! -e "$FIRKIN_STATE_DIR/layers/sha256/$bigdg" ]; then
  ok "killed pull: no blob, layer or record for the half-fetched image"
else
  fail "killed pull left something a later pull would trust"
fi
check "pull again after the kill" "$FK" template prepare -q --id big "$REGISTRY/fixtures/big:v1"
if cmp -s "$(template_layers big | head -1)/random.bin" "$work/big/random.bin"; then
  ok "pull again: the template holds the exact content"
else
  fail "pull again: content differs"
fi

# 6. debian:bookworm-slim: through a Docker Hub mirror when one answers, else the local `base'.
push "$oci" busybox "library/debian:bookworm-slim"
out=$(FIRKIN_DOCKER_HUB_MIRROR=$REGISTRY "$FK" template prepare -q debian:bookworm-slim 2>&1)
[ "$out" = debian-bookworm-slim ] && ok "debian:bookworm-slim pulled through a mirror that answers" ||
  { fail "debian:bookworm-slim through the mirror"; diag "$out"; }
check "base template for the fallback" "$FK" template prepare -q --id base "oci:$oci:busybox"
if out=$(FIRKIN_DOCKER_HUB_MIRROR=127.0.0.1:$closed "$FK" template prepare -q --id deb debian:bookworm-slim 2>"$work/err") &&
  [ "$out" = deb ] && grep -q "using the local template \`base'" "$work/err"; then
  ok "debian:bookworm-slim falls back to \`base' when no registry answers, and says so"
  diag "$(cat "$work/err")"
else
  fail "debian:bookworm-slim fallback"
  diag "$out $(cat "$work/err")"
fi
expect_fail "no fallback for other references" "unreachable" \
  env FIRKIN_DOCKER_HUB_MIRROR=127.0.0.1:$closed "$FK" template prepare -q debian:bullseye

# 7. ls, rm and prune free only what no template uses.
"$FK" template ls >"$work/ls" && grep -q '^layered-v1 ' "$work/ls" && grep -q '^big ' "$work/ls" &&
  ok "template ls lists the templates" || fail "template ls"
check "template rm big frees its layer and blob" bash -c \
  "'$FK' template rm big && [ ! -e '$FIRKIN_STATE_DIR/layers/sha256/$bigdg' ] && [ ! -e '$FIRKIN_STATE_DIR/blobs/sha256/$bigdg' ]"
check "template rm of a shared image keeps the layers others use" bash -c \
  "'$FK' template rm plain-v1 && '$FK' template inspect layered-v1 >/dev/null &&
   [ \$(ls '$FIRKIN_STATE_DIR/layers/sha256' | wc -l) -ge 3 ]"
for id in $("$FK" template ls | awk 'NR > 1 { print $1 }'); do "$FK" template rm "$id" 2>/dev/null; done
check "image prune after removing every template leaves an empty store" bash -c \
  "'$FK' image prune >/dev/null && ! find '$FIRKIN_STATE_DIR/templates' '$FIRKIN_STATE_DIR/layers/sha256' '$FIRKIN_STATE_DIR/blobs/sha256' '$FIRKIN_STATE_DIR/tmp' -mindepth 1 | grep ."
expect_fail "rm of an unknown template" "no template \`nope'" "$FK" template rm nope

plan $_tap_n
done_testing
