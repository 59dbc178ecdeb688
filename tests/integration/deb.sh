#!/usr/bin/env bash
# The Debian packages, built from a copy of the tree with dpkg-buildpackage, checked by lintian,
# and installed with apt-get into a clean Debian 12 (debootstrap --variant=minbase bookworm) that
# pulls their runtime dependencies from the mirror; then used there: fk --version, fk template
# prepare of a local busybox image, fk run, fkd --help and its config, the unit verified,
# pkg-config --libs firkin. Everything mounted is unmounted and the chroot removed on any exit.
# The debootstrap tarball is cached in ${FIRKIN_CACHE_DIR:-/var/cache/firkin}/deb, so later runs
# download only the packages' dependencies.
# env: FIRKIN_CACHE_DIR, FIRKIN_DEBIAN_MIRROR (default http://deb.debian.org/debian)
. "$(dirname "$0")/lib.sh"
n=14
plan $n

skip_all() {
  for i in $(seq 1 $n); do skip "deb $i" "$1"; done
  done_testing
}
[ "$(id -u)" -eq 0 ] || skip_all "debootstrap, chroot and mounts need root"
for t in dpkg-buildpackage dh lintian debootstrap apt-get chroot; do
  command -v $t >/dev/null 2>&1 || skip_all "$t is not installed (scripts/deps.sh installs it)"
done
[ -x /bin/busybox ] || skip_all "no busybox-static for the test image"
mirror=${FIRKIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${FIRKIN_CACHE_DIR:-/var/cache/firkin}/deb
tarball=$cache/bookworm-minbase.tgz
if [ ! -f "$tarball" ] && ! curl -fsS -m 20 -o /dev/null "$mirror/dists/bookworm/Release" 2>/dev/null; then
  skip_all "the Debian mirror $mirror is unreachable and no debootstrap tarball is cached"
fi

dir=$(mktemp -d /tmp/firkin-deb.XXXXXX)
chmod 755 "$dir"
root=$dir/chroot

# Cleanup, also on failure: end what still runs in the chroot (by pid), remove its sandboxes,
# unmount everything under $dir (deepest first, lazily), then remove it.
cleanup() {
  if [ -x "$root/usr/bin/fk" ] && [ -d "$root/proc/self" ]; then
    in_root sh -c 'fk ls -q 2>/dev/null | xargs -r fk rm -f' >/dev/null 2>&1 || true
  fi
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  local m
  for m in $(awk -v d="$dir" '{ if (index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$dir"
}
on_exit cleanup

# 1. The packages, from a copy of the tree as it is (tracked and new files, not build dirs).
mkdir -p "$dir/src"
if git -C "$FIRKIN_SRC" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$FIRKIN_SRC" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$dir/src"
else
  tar -C "$FIRKIN_SRC" --exclude='./build*' --exclude=node_modules --exclude=.git -cf - . |
    tar -xf - -C "$dir/src"
fi
check "dpkg-buildpackage -us -uc -b builds firkin, libfirkin0 and libfirkin-dev" bash -c "
  cd '$dir/src' && DEB_BUILD_OPTIONS=parallel=\$(nproc) dpkg-buildpackage -us -uc -b >'$dir/build.log' 2>&1 ||
    { tail -40 '$dir/build.log'; exit 1; }
  ls '$dir'/firkin_*.deb '$dir'/libfirkin0_*.deb '$dir'/libfirkin-dev_*.deb"

if ls "$dir"/firkin_*.deb >/dev/null 2>&1; then
  contents=$(dpkg-deb -c "$dir"/firkin_*.deb | awk '{print $6}')
  missing=""
  for f in ./usr/bin/fk ./usr/bin/fkd ./usr/bin/fk-image ./usr/bin/fk-remote \
    ./usr/libexec/firkin/fk-agent ./usr/libexec/firkin/fk-timeout ./usr/libexec/firkin/fk-resolver \
    ./etc/firkin/firkin.conf \
    ./lib/systemd/system/fkd.service ./usr/lib/tmpfiles.d/firkin.conf \
    ./usr/share/man/man1/fk.1.gz ./usr/share/man/man8/fkd.8.gz \
    ./usr/share/bash-completion/completions/fk ./usr/share/zsh/vendor-completions/_fk; do
    grep -qxF "$f" <<<"$contents" || missing="$missing $f"
  done
  conffiles=$(dpkg-deb -I "$dir"/firkin_*.deb conffiles 2>/dev/null)
  postinst=$(dpkg-deb -I "$dir"/firkin_*.deb postinst 2>/dev/null)
  if [ -z "$missing" ] && grep -qx /etc/firkin/firkin.conf <<<"$conffiles" &&
     grep -q "deb-systemd-helper debian-installed 'fkd.service'" <<<"$postinst" &&
     grep -q 'ExecStart=/usr/bin/fkd --config /etc/firkin/firkin.conf' \
       <(dpkg-deb --fsys-tarfile "$dir"/firkin_*.deb | tar -xOf - ./lib/systemd/system/fkd.service); then
    ok "firkin has the programs, the agent, the unit (known, not enabled), firkin.conf as a conffile, tmpfiles, man pages, completions"
  else
    fail "firkin's contents"
    diag "missing:$missing" "conffiles: $conffiles" "$postinst"
  fi
else
  for i in $(seq $((_tap_n + 1)) $n); do skip "deb $i" "the packages were not built"; done
  done_testing
fi

# 2. lintian: no error (warnings are fixed or overridden with a reason in debian/).
check "lintian finds no error" bash -c "
  cd '$dir' && lintian --fail-on error --tag-display-limit 0 firkin_*.changes >'$dir/lintian.log' 2>&1 ||
    { cat '$dir/lintian.log'; exit 1; }
  sed 's/^/# lintian: /' '$dir/lintian.log' >&2"

# 3. A clean bookworm, from the cached tarball (made on the first run).
mkdir -p "$cache"
if [ ! -f "$tarball" ]; then
  debootstrap --variant=minbase --make-tarball="$tarball.tmp" bookworm "$dir/mktar" "$mirror" \
    >"$dir/debootstrap.log" 2>&1 && mv "$tarball.tmp" "$tarball"
  rm -rf "$tarball.tmp" "$dir/mktar"
fi
if ! [ -f "$tarball" ] ||
   ! debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" \
     >>"$dir/debootstrap.log" 2>&1; then
  fail "debootstrap --variant=minbase bookworm"
  tail -20 "$dir/debootstrap.log" | sed 's/^/# /'
  for i in $(seq $((_tap_n + 1)) $n); do skip "deb $i" "no chroot"; done
  done_testing
fi
ok "debootstrap --variant=minbase bookworm (a clean Debian 12)"

# The host's /proc, /sys (with its cgroup mounts) and /dev, as slaves: an unmount under the
# chroot never reaches the host's own mounts.
for m in proc sys dev; do
  mount --rbind "/$m" "$root/$m" && mount --make-rslave "$root/$m"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
# in_root CMD...: CMD with the chroot as the root of a mount namespace of its own (pivot_root,
# not chroot: the kernel refuses a chrooted process new user namespaces, which sandboxes are).
# The namespace is private: what the sandboxes mount there never reaches the host's.
in_root() {
  unshare --mount --propagation private --fork sh -c '
    mount --rbind "$0" "$0" && cd "$0" && mkdir -p .oldroot && pivot_root . .oldroot &&
      cd / && umount -l /.oldroot && rmdir /.oldroot &&
      exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"' "$root" "$@"
}

# 4. apt installs the packages and pulls what they depend on from the mirror.
cp "$dir"/*.deb "$root/tmp/"
check "apt-get install ./firkin_*.deb ./libfirkin0_*.deb ./libfirkin-dev_*.deb pulls the dependencies" bash -c "
  chroot '$root' /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive \
    sh -c 'cd /tmp && apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      ./firkin_*.deb ./libfirkin0_*.deb ./libfirkin-dev_*.deb pkg-config' >'$dir/apt.log' 2>&1 ||
    { tail -30 '$dir/apt.log'; exit 1; }"

# Installed disabled: nothing enables fkd before the admin does (docs/install.md). (The chroot
# has no systemd-tmpfiles: /var/lib/firkin is made by fk itself here.)
if [ ! -e "$root/etc/systemd/system/multi-user.target.wants/fkd.service" ] &&
   [ -f "$root/lib/systemd/system/fkd.service" ]; then
  ok "fkd.service is installed and not enabled"
else fail "fkd.service is installed and not enabled"; ls -la "$root/etc/systemd/system/multi-user.target.wants" 2>&1 | sed 's/^/# /'; fi

v=$(in_root fk --version 2>&1)
want=$(sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$FIRKIN_SRC/meson.build" | head -1)
if [ "$v" = "fk $want" ]; then ok "fk --version in the chroot ($v)"; else fail "fk --version in the chroot"; diag "$v"; fi

# 5. A busybox image, prepared as a template and run in the chroot.
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$dir/rootfs" >/dev/null 2>&1 &&
  "$FIRKIN_SRC/scripts/images/mkimage" --tag busybox --compression gzip --cmd /bin/sh \
    "$root/tmp/oci" "$dir/rootfs" >/dev/null 2>"$dir/mkimage.log"
check "fk template prepare of a local OCI image" in_root fk template prepare -q --id busybox oci:/tmp/oci:busybox
out=$(in_root fk run busybox -- sh -c 'echo from-the-sandbox; readlink /bin/sh' 2>&1)
if [ "$(printf 'from-the-sandbox\n/bin/busybox')" = "$out" ] && in_root fk run busybox -- true &&
   [ -z "$(in_root fk ls -q)" ]; then
  ok "fk run busybox -- true, in the image's root, nothing left"
else
  fail "fk run busybox"
  diag "$out"
fi

# 6. fkd: its help, and its packaged config (every key commented out) accepted as it is.
check "fkd --help" bash -c "chroot '$root' fkd --help | grep -q -- '--config'"
keys=$(sed -n 's/^#\([a-z-]*\) = .*/\1/p' "$root/etc/firkin/firkin.conf" | sort | tr '\n' ' ')
if [ "$keys" = "agent api-key domain envd-listen listen log-level state-dir warm-pool warm-template " ]; then
  ok "firkin.conf documents every key ($keys)"
else fail "firkin.conf documents every key"; diag "$keys"; fi
if command -v systemd-analyze >/dev/null 2>&1; then
  # The host's systemd checks the unit (the chroot has none), with its fkd at the chroot's path.
  mkdir -p "$dir/unit"
  sed "s|^ExecStart=/usr/bin/fkd|ExecStart=$root/usr/bin/fkd|" "$root/lib/systemd/system/fkd.service" \
    >"$dir/unit/fkd.service"
  check "systemd-analyze verify of the installed fkd.service" \
    systemd-analyze verify --man=no "$dir/unit/fkd.service"
else
  skip "systemd-analyze verify of the installed fkd.service" "systemd-analyze is not installed"
fi
check "pkg-config --libs firkin with libfirkin-dev" bash -c "
  chroot '$root' pkg-config --cflags --libs firkin | grep -q -- '-lfirkin'"

cleanup
left=$(awk -v d="$dir" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo)
if [ -z "$left" ] && [ ! -e "$dir" ]; then ok "every mount under the chroot is gone, and the chroot too"
else fail "mounts left under $dir"; diag "$left"; fi
done_testing
