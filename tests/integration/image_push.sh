#!/usr/bin/env bash
# image_push: `fk template push' to a real registry (Debian's docker-registry on a loopback
# port): what was pushed is read back by skopeo (same manifest, config and layer blobs) and by
# `fk template prepare' on a clean state dir (same rootfs as umoci's unpack); a second push
# sends nothing; a big blob goes up in chunks through a bearer-token front that checks the push
# scope; a snapshot pushed on top of a pushed base mounts or skips the base's blobs instead of
# sending them again; a wrong password, a registry answering nonsense (another host's upload
# Location, a wrong Range, a wrong digest, an oversized answer, a connection cut mid-upload) and
# a push killed midway each end with a clear error and no manifest, and a push after the kill
# succeeds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/imagelib.sh"

reason=$(image_skip_reason)
if [ -n "$reason" ]; then
  plan 1
  skip "image_push" "$reason"
  done_testing
fi
unset FIRKIN_INSECURE_REGISTRIES FIRKIN_DOCKER_HUB_MIRROR REGISTRY_AUTH_FILE DOCKER_CONFIG
export HOME=$(mktemp -d /tmp/firkin-home.XXXXXX)
on_exit "rm -rf '$HOME'"
export FIRKIN_REGISTRY_TIMEOUT=10

work=$(mktemp -d /tmp/firkin-push-it.XXXXXX)
on_exit "rm -rf '$work'"
oci=$work/oci
"$FIRKIN_SRC/scripts/images/fixtures.sh" "$oci" >/dev/null 2>"$work/fixtures.err" ||
  diag "fixtures: $(cat "$work/fixtures.err")"
start_registry "$work/registry" || exit 1
"$FK" template prepare -q --id bb "oci:$oci:busybox" >/dev/null
"$FK" template prepare -q --id lay "oci:$oci:layered" >/dev/null
umoci unpack --image "$oci:layered" "$work/umoci-layered" >/dev/null 2>&1

# rec ID FIELD: a field of a template record (layers: the blob digests, space-separated).
rec() {
  python3 - "$FIRKIN_STATE_DIR/templates/$1.json" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = sys.argv[2]
if f == "layers": print(" ".join(l["digest"] for l in r["layers"]))
elif f == "diffids": print(" ".join(l["diffID"] for l in r["layers"]))
else: print(r[f])
PY
}
# skopeo_layers REF: the layer digests skopeo reads from the registry, space-separated.
skopeo_layers() {
  skopeo inspect --tls-verify=false "docker://$1" |
    python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)["Layers"]))'
}
# no_manifest REF: the registry has no manifest under REF's tag.
no_manifest() { ! skopeo inspect --raw --tls-verify=false "docker://$1" >/dev/null 2>&1; }
store_blob() { echo "$FIRKIN_STATE_DIR/blobs/sha256/${1#sha256:}"; }

# 1. A template from a local layout, pushed, then read back by skopeo.
for id in bb lay; do
  dest=$REGISTRY/push/$id:v1
  if digest=$("$FK" template push $id "$dest" 2>"$work/err"); then
    ok "$id: pushed ($(cat "$work/err"))"
  else
    fail "$id: push failed"
    diag "$(cat "$work/err")"
    continue
  fi
  [ "$digest" = "$(rec $id manifestDigest)" ] && ok "$id: the push prints the template's manifest digest" ||
    fail "$id: printed digest $digest is not the template's"
  [ "$(skopeo_layers "$dest")" = "$(rec $id layers)" ] &&
    [ "$(skopeo inspect --tls-verify=false "docker://$dest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')" = "$digest" ] &&
    ok "$id: skopeo inspect reads the same manifest digest and layers" ||
    fail "$id: skopeo inspect differs"
  rm -rf "$work/copy"
  if skopeo copy -q --src-tls-verify=false "docker://$dest" "oci:$work/copy:x" >/dev/null 2>&1; then
    same=1
    for d in $(rec $id layers) $(rec $id configDigest) "$digest"; do
      cmp -s "$(store_blob "$d")" "$work/copy/blobs/sha256/${d#sha256:}" || { same=0; diag "blob $d differs"; }
    done
    [ $same = 1 ] && ok "$id: skopeo copy gives byte for byte the store's manifest, config and layers" ||
      fail "$id: skopeo copy differs from the store"
  else
    fail "$id: skopeo copy of the pushed image"
  fi
done
out=$("$FK" template push lay "$REGISTRY/push/lay:v1" 2>&1 >/dev/null)
[[ "$out" == *"0 blobs uploaded (0 bytes), 0 mounted, 4 already there"* ]] &&
  ok "a second push of the same image sends no blob" || { fail "second push"; diag "$out"; }

# 2. Prepared again from the registry on a clean state dir: the same image and rootfs.
clean=$work/clean-state
if id=$(FIRKIN_STATE_DIR=$clean "$FK" template prepare -q --id back "$REGISTRY/push/lay:v1" 2>"$work/err"); then
  ok "the pushed image prepares on a clean state dir"
  [ "$(FIRKIN_STATE_DIR=$clean rec back manifestDigest) $(FIRKIN_STATE_DIR=$clean rec back diffids)" = \
    "$(rec lay manifestDigest) $(rec lay diffids)" ] &&
    ok "prepared back: same manifest digest and diff-ids" || fail "prepared back: different image"
  out=$(FIRKIN_STATE_DIR=$clean template_cmp back "$work/umoci-layered/rootfs" 2>&1) &&
    ok "prepared back: the rootfs equals umoci's unpack of the original" ||
    { fail "prepared back: rootfs differs"; printf '%s\n' "$out" | head -20 | sed 's/^/# /'; }
else
  fail "the pushed image prepares on a clean state dir"
  diag "$(cat "$work/err")"
fi

# 3. A 24 MiB layer in chunks, through a front that issues tokens and checks the push scope.
mkdir -p "$work/big"
head -c $((24 << 20)) /dev/urandom >"$work/big/random.bin"
"$FIRKIN_SRC/scripts/images/mkimage" --tag big --compression none "$work/big-oci" "$work/big" >/dev/null
"$FK" template prepare -q --id big "oci:$work/big-oci:big" >/dev/null
start_proxy "$work/bearer.log" --auth bearer
check "big: pushed through the bearer front" "$FK" template push big "$PROXY/push/big:v1"
grep -q "token scope=repository:push/big:pull,push service=firkin-test" "$work/bearer.log" &&
  ok "bearer: the token asked for pull and push of the repository" || fail "bearer: no push-scope token"
n=$(grep -c '"PATCH /v2/push/big/blobs/uploads/' "$work/bearer.log")
[ "$n" -eq 2 ] && ok "big: the 24 MiB layer went up in 2 chunks of 16 MiB at most" ||
  fail "big: $n PATCH requests"
# (skopeo copy would compress the plain layer on its way to a layout: the blob is read as it is.)
bigl=$(rec big layers)
curl -sf "http://$REGISTRY/v2/push/big/blobs/$bigl" | cmp -s - "$(store_blob "$bigl")" &&
  [ "$(skopeo_layers "$REGISTRY/push/big:v1")" = "$bigl" ] &&
  ok "big: the chunked blob reads back byte for byte" || fail "big: chunked blob differs"

# 4. A snapshot of a sandbox made from a pushed image, pushed on top: the base is not sent again.
if [ -n "${FK_AGENT:-}" ] && [ -x "$FK_AGENT" ]; then
  export FIRKIN_AGENT=$FK_AGENT
  start_proxy "$work/plain.log" --auth none
  "$FK" template prepare -q --id pb "$PROXY/push/bb:v1" >/dev/null
  sb=$("$FK" create pb)
  on_exit "'$FK' rm -f $sb >/dev/null 2>&1"
  "$FK" exec "$sb" -- sh -c 'echo snapped > /root/new; rm /etc/group'
  "$FK" snapshot "$sb" --id snap >/dev/null
  "$FK" rm -f "$sb" >/dev/null
  base=$(rec pb layers)
  : >"$work/plain.log"
  if out=$("$FK" template push snap "$PROXY/push/snap:v1" 2>&1 >/dev/null); then
    ok "snapshot pushed to another repository ($out)"
  else
    fail "snapshot push"
    diag "$out"
  fi
  if grep -q "\"POST /v2/push/snap/blobs/uploads/?mount=sha256%3A${base#sha256:}&from=push/bb HTTP/1.1\" 201" "$work/plain.log" &&
    ! grep -q "PUT /v2/push/snap/blobs/uploads/.*digest=sha256%3A${base#sha256:}" "$work/plain.log"; then
    ok "snapshot: the base layer was mounted from push/bb, not uploaded"
  else
    fail "snapshot: the base layer was not mounted"
    diag "$(cat "$work/plain.log")"
  fi
  : >"$work/plain.log"
  out=$("$FK" template push snap "$PROXY/push/bb:snap" 2>&1 >/dev/null)
  if [[ "$out" == *"2 uploaded"* || "$out" == *"2 blobs uploaded"* ]] &&
    grep -q "\"HEAD /v2/push/bb/blobs/sha256:${base#sha256:} HTTP/1.1\" 200" "$work/plain.log" &&
    ! grep -q "PUT .*digest=sha256%3A${base#sha256:}" "$work/plain.log"; then
    ok "snapshot: into the base's repository, the base layer is found by HEAD and not sent"
  else
    fail "snapshot: pushed into the base's repository"
    diag "$out"
  fi
  if FIRKIN_STATE_DIR=$work/clean2 "$FK" template prepare -q --id s "$REGISTRY/push/snap:v1" >/dev/null 2>"$work/err" &&
    [ "$(FIRKIN_STATE_DIR=$work/clean2 rec s diffids)" = "$(rec snap diffids)" ] &&
    [ "$(cat "$(FIRKIN_STATE_DIR=$work/clean2 template_layers s | tail -1)/root/new")" = snapped ]; then
    ok "snapshot: prepared back on a clean state dir with its layer and content"
  else
    fail "snapshot: prepared back"
    diag "$(cat "$work/err")"
  fi
else
  for n in 1 2 3 4; do skip "snapshot push" "fk-agent is not built"; done
fi

# 5. Refusals and errors: each clear, none leaving a manifest behind.
expect_fail "push to a layout is refused" "not a registry reference" "$FK" template push bb "oci:$work/x"
expect_fail "push of an unknown template" "no template \`nope'" "$FK" template push nope "$REGISTRY/push/x:v1"
closed=$(free_port)
expect_fail "unreachable registry" "is unreachable" "$FK" template push bb "127.0.0.1:$closed/push/x:v1"

start_proxy "$work/basic.log" --auth basic --user "tester:s3cret"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$PROXY" "$(printf 'tester:wrong' | base64)" >"$work/bad-auth.json"
expect_fail "basic: wrong password" "unauthorised" \
  env REGISTRY_AUTH_FILE="$work/bad-auth.json" "$FK" template push bb "$PROXY/push/auth:v1"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$PROXY" "$(printf 'tester:s3cret' | base64)" >"$work/auth.json"
check "basic: the right password pushes" \
  env REGISTRY_AUTH_FILE="$work/auth.json" "$FK" template push bb "$PROXY/push/auth:v1"
start_proxy "$work/bearer-user.log" --auth bearer --user "tester:s3cret"
expect_fail "bearer: wrong password at the token service" "token service refused the credentials" \
  env REGISTRY_AUTH_FILE="$work/bad-auth.json" "$FK" template push bb "$PROXY/push/auth2:v1"
no_manifest "$REGISTRY/push/auth2:v1" && ok "bearer: a refused push left no manifest" || fail "refused push left a manifest"

# nonsense MODE NEEDLE IMAGE: a push through a front injecting MODE fails naming NEEDLE, no manifest.
nonsense() {
  local mode=$1 needle=$2 image=$3
  start_proxy "$work/$mode.log" --auth none --inject "$mode"
  expect_fail "nonsense ($mode): clear error" "$needle" "$FK" template push "$image" "$PROXY/bad/$mode:v1"
  no_manifest "$REGISTRY/bad/$mode:v1" && ok "nonsense ($mode): no manifest was put" ||
    fail "nonsense ($mode): a manifest was put"
}
nonsense location-elsewhere "upload Location on another host" bb
nonsense bad-range "the upload is not what was sent" big
nonsense bad-digest "digest mismatch" bb
nonsense huge-answer "larger than 65536 bytes" bb
nonsense cut-upload "upload of blob" bb

# 6. A push killed while a layer goes up: nothing tagged; the next push completes.
start_proxy "$work/slow.log" --auth none --throttle $((8 << 20))
"$FK" template push big "$PROXY/push/killed:v1" >/dev/null 2>&1 &
pusher=$!
wait_for grep -q '"PATCH /v2/push/killed/blobs/uploads/' "$work/slow.log"
kill -9 $pusher
wait $pusher 2>/dev/null
no_manifest "$REGISTRY/push/killed:v1" && ok "killed push: no manifest in the registry" ||
  fail "killed push: a manifest was put"
check "push again after the kill" "$FK" template push big "$REGISTRY/push/killed:v1"
[ "$(skopeo_layers "$REGISTRY/push/killed:v1")" = "$(rec big layers)" ] &&
  ok "push again: skopeo reads the full image" || fail "push again: image differs"

plan $_tap_n
done_testing
