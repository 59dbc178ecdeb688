# tests/integration/imagelib.sh: helpers for the image tests (sourced after lib.sh): a real
# registry (Debian's docker-registry) on a free loopback port with its own config and storage,
# the authenticating front (registry_proxy.py), and a template's rootfs stacked for comparison.

# start_registry DIR: starts docker-registry with storage under DIR; sets REGISTRY (host:port)
# and REGISTRY_DATA; stopped when the test exits.
start_registry() {
  local dir=$1 port
  mkdir -p "$dir/data"
  port=$(free_port)
  cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  local pid=$!
  on_exit "kill $pid; wait $pid"
  REGISTRY=127.0.0.1:$port
  REGISTRY_DATA=$dir/data
  wait_for curl -sf "http://$REGISTRY/v2/" || { diag "registry did not start: $(cat "$dir/log")"; return 1; }
}

# start_proxy LOG ARGS...: starts registry_proxy.py in front of $REGISTRY; sets PROXY.
start_proxy() {
  local log=$1 fifo port
  shift
  fifo=$(mktemp -u /tmp/firkin-proxy.XXXXXX)
  mkfifo "$fifo"
  python3 "$FIRKIN_SRC/tests/integration/registry_proxy.py" --upstream "http://$REGISTRY" \
    --log "$log" "$@" >"$fifo" 2>>"$log" &
  local pid=$!
  on_exit "kill $pid; wait $pid"
  read -r _ port <"$fifo"
  rm -f "$fifo"
  PROXY=127.0.0.1:$port
}

# push LAYOUT TAG REPO: copies an image (or an index, with every platform) into the registry.
push() {
  skopeo copy -q --all --dest-tls-verify=false "oci:$1:$2" "docker://$REGISTRY/$3" >/dev/null
}

# template_layers ID: the template's layer dirs, bottom first, one a line.
template_layers() {
  "$FK" template inspect "$1" | python3 -c '
import json, os, sys
r = json.load(sys.stdin)
for l in r["layers"]:
    print(os.path.join(os.environ["FIRKIN_STATE_DIR"], "layers/sha256", l["diffID"].split(":")[1], "fs"))'
}

# template_cmp ID ROOTFS: stacks the template's layers as one read-only overlay (top first) in a
# private mount namespace, as a sandbox does, and compares the result with ROOTFS.
template_cmp() {
  local id=$1 ref=$2 lower="" l merged
  mapfile -t layers < <(template_layers "$id")
  if [ ${#layers[@]} -eq 1 ]; then
    python3 "$FIRKIN_SRC/tests/integration/treecmp.py" "${layers[0]}" "$ref"
    return
  fi
  for l in "${layers[@]}"; do lower="$l${lower:+:}$lower"; done
  merged=$(mktemp -d /tmp/firkin-merged.XXXXXX)
  unshare -m bash -c "mount --make-rprivate / && mount -t overlay overlay -o ro,lowerdir=$lower '$merged' && \
    python3 '$FIRKIN_SRC/tests/integration/treecmp.py' '$merged' '$ref'"
  local rc=$?
  rmdir "$merged"
  return $rc
}

# expect_fail NAME NEEDLE CMD...: ok when CMD fails and its stderr mentions NEEDLE.
expect_fail() {
  local name=$1 needle=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    fail "$name (it succeeded)"
  elif [[ "$out" == *"$needle"* ]]; then
    ok "$name"
    diag "$out"
  else
    fail "$name"
    diag "expected \`$needle' in: $out"
  fi
}

# image_skip_reason: why the image tests cannot run here, or nothing.
image_skip_reason() {
  [ -n "${FK:-}" ] && [ -x "${FK:-}" ] || { echo "fk not built"; return; }
  local t
  for t in docker-registry skopeo umoci curl python3; do
    command -v $t >/dev/null || { echo "$t not installed"; return; }
  done
  [ "$(id -u)" -eq 0 ] || { echo "needs root (image owners, overlay mounts)"; return; }
  unshare -m true 2>/dev/null || echo "no mount namespaces"
}
