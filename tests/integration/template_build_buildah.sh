#!/usr/bin/env bash
# fk template build against buildah: one Dockerfile with every instruction firkin supports
# (FROM a busybox image served by a local registry on loopback, RUN in both forms, COPY and ADD
# of local files with --chown, ENV, ARG, WORKDIR, USER, LABEL, ENTRYPOINT, CMD, EXPOSE,
# .dockerignore) built by `fk template build' and by Debian's `buildah bud' (chroot isolation,
# its own storage in a temp dir, no network but loopback); the two rootfs trees compared with
# treecmp.py and the image configs field by field.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/imagelib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"

reason=$(image_skip_reason)
[ -z "$reason" ] && ! command -v buildah >/dev/null && reason="buildah not installed"
if [ -n "$reason" ]; then
  plan 1
  skip "template_build_buildah" "$reason"
  done_testing
fi
unset FIRKIN_INSECURE_REGISTRIES FIRKIN_DOCKER_HUB_MIRROR REGISTRY_AUTH_FILE DOCKER_CONFIG
export HOME=$(mktemp -d /tmp/firkin-home.XXXXXX)
on_exit "rm -rf '$HOME'"
export FIRKIN_REGISTRY_TIMEOUT=10
plan 11

work=$(mktemp -d /tmp/firkin-bah.XXXXXX)
on_exit "rm -rf '$work'"
"$FIRKIN_SRC/scripts/images/busybox.sh" "$work/oci" >/dev/null
start_registry "$work/registry" || exit 1
push "$work/oci" busybox base/busybox:1 || { diag "push failed"; exit 1; }

ctx=$work/ctx
mkdir -p "$ctx/app/sub" "$ctx/ignored" "$ctx/empty"
echo hello > "$ctx/app/hello.txt"
echo deep > "$ctx/app/sub/deep.txt"
printf '#!/bin/sh\necho run\n' > "$ctx/app/run.sh"
chmod 755 "$ctx/app/run.sh"
chmod 700 "$ctx/app/sub"
ln -s hello.txt "$ctx/app/link"
echo one > "$ctx/data.txt"
echo secret > "$ctx/ignored/secret"
echo x > "$ctx/notes.tmp"
echo y > "$ctx/app/also.tmp"
printf 'ignored\n*.tmp\n**/*.tmp\n' > "$ctx/.dockerignore"
cat > "$ctx/Dockerfile" <<DF
ARG BASE=$REGISTRY/base/busybox:1
FROM \$BASE
ARG GREETING=hi
ARG WHO
ENV APP_HOME=/srv/app \\
    MODE="two words"
ENV PATH=/srv/app:\$PATH
LABEL org.example.name="demo app" version=1
WORKDIR \$APP_HOME
COPY --chown=1000:1000 app/ ./
COPY data.txt /opt/data.txt
COPY . /ctx/
ADD --chown=user data.txt /opt/added.txt
ADD app/hello.txt app/run.sh /opt/many/
COPY --chown=user:user app /opt/app-dir
RUN echo "\$GREETING \$WHO" > /greeting && \\
    mkdir -p /var/made && echo made > /var/made/file && rm -rf /sbin && \\
    ln /var/made/file /var/made/hardlink && chmod 4755 /var/made/file
RUN ["/bin/sh", "-c", "echo exec-form > /exec.txt; rm -rf /home/user; mkdir -p /home/user"]
USER 1000
RUN id -u > /tmp/uid-at-build; touch /srv/app/sub/by-user
WORKDIR sub/deeper
USER user:user
WORKDIR /opt/w1/w2
RUN touch /opt/w1/w2/mine
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo default"]
DF

# firkin
if out=$("$FK" template build -q -t bah --build-arg WHO=world "$ctx" 2>"$work/fk.err"); then
  ok "fk template build"
else
  fail "fk template build"; diag "$(cat "$work/fk.err")"
fi

# buildah: its own storage, chroot isolation, in a mount namespace without the cgroup2
# mount of the hybrid layout (which it refuses); the base comes from the loopback registry.
bah() { # bah [-n] ARGS...: -n: in a network namespace of its own (nothing but a down loopback)
  local net=
  [ "$1" = -n ] && { net=-n; shift; }
  unshare -m $net bash -c '
    mount --make-rprivate /
    if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
    exec "$@"' bah buildah --root "$work/bs/root" --runroot "$work/bs/run" --storage-driver vfs "$@"
}
cat > "$work/registries.conf" <<CONF
unqualified-search-registries = []
[[registry]]
location = "$REGISTRY"
insecure = true
CONF
export CONTAINERS_REGISTRIES_CONF=$work/registries.conf
export BUILDAH_ISOLATION=chroot
# The base is pulled from the loopback registry; the build then runs with no network at all
# (chroot isolation can only share the caller's), as firkin's RUN steps do.
if bah pull -q --tls-verify=false "$REGISTRY/base/busybox:1" >"$work/bah.out" 2>&1 &&
   bah -n bud -q --isolation chroot --pull-never --identity-label=false \
    --build-arg WHO=world -t localhost/bah "$ctx" >>"$work/bah.out" 2>&1 &&
   bah push -q localhost/bah "oci:$work/bah-oci:bah" >>"$work/bah.out" 2>&1; then
  ok "buildah bud of the same Dockerfile"
else
  fail "buildah bud of the same Dockerfile"; diag "$(tail -20 "$work/bah.out")"
  done_testing
fi
on_exit "rm -rf '$work/bs' 2>/dev/null || true"
umoci raw unpack --image "$work/oci:busybox" "$work/oci-rootfs" >/dev/null 2>&1
# raw: the image's user names a group the RUN steps removed, which a runtime config needs.
umoci raw unpack --image "$work/bah-oci:bah" "$work/bah-rootfs" >"$work/umoci.out" 2>&1 ||
  diag "umoci raw unpack: $(tail -5 "$work/umoci.out")"

# The trees. buildah leaves the files it bind-mounts for RUN in the image (/etc/hostname,
# /etc/hosts, /etc/resolv.conf: runtime files that firkin writes at every create and leaves
# out of layers); they are removed from its side when the base has none of them.
cmpdir=$work/bah-rootfs
for f in etc/hostname etc/hosts etc/resolv.conf; do
  [ -e "$work/oci-rootfs/$f" ] || rm -f "$cmpdir/$f"
done
if out=$(template_cmp bah "$cmpdir" 2>&1); then
  ok "the rootfs trees are the same (${out##*$'\n'})"
else
  fail "the rootfs trees are the same"; diag "$out"
fi

# The configs, field by field.
fkcfg() { python3 - "$FIRKIN_STATE_DIR" <<'PY'
import json, sys
state = sys.argv[1]
rec = json.load(open(f"{state}/templates/bah.json"))
print(json.dumps(json.load(open(f"{state}/blobs/sha256/" + rec["configDigest"].split(":")[1])).get("config", {}), sort_keys=True))
PY
}
bahcfg() { python3 - "$work/bah-oci" <<'PY'
import json, sys
d = sys.argv[1]
idx = json.load(open(f"{d}/index.json"))
m = json.load(open(f"{d}/blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
print(json.dumps(json.load(open(f"{d}/blobs/sha256/" + m["config"]["digest"].split(":")[1])).get("config", {}), sort_keys=True))
PY
}
fk_c=$(fkcfg); bah_c=$(bahcfg)
# Env is compared as names to values: an ENV of a name the base has (PATH) replaces it in place
# in firkin, as docker build does, where buildah moves it to the end.
field() { python3 -c "
import json, sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
if sys.argv[2] == 'Env' and v is not None:
    v = dict(e.split('=', 1) for e in v)
print(json.dumps(v, sort_keys=True))" "$1" "$2"; }
for f in Env WorkingDir User Entrypoint Cmd Labels ExposedPorts; do
  a=$(field "$fk_c" $f); b=$(field "$bah_c" $f)
  check "config $f is the same ($a)" sh -c "test '$a' = '$b' || { echo 'fk:      $a'; echo 'buildah: $b'; false; }"
done
check "no sandbox is left behind" test -z "$("$FK" ls -q)"
done_testing
