#!/usr/bin/env bash
# The shell's busybox root builder, for the integration tests and scripts/images/busybox.sh (the
# `busybox' image). It builds the tree bench/rootfs.c builds for fk bench and the unit tests
# (fk_bench_busybox_rootfs); a change to one is a change to both: /bin/busybox from Debian's
# busybox-static and a symlink to it per applet, /etc/passwd and /etc/group (root, user 1000,
# nobody), /home/user owned by 1000:1000 (so tests can see image owners inside a sandbox), /root
# 0700, /tmp and /var/tmp 1777, every other directory 0755.
# usage: scripts/busybox-rootfs.sh DIR     (DIR new or empty)
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
# A dynamic busybox would not start inside the root, which has no loader.
if command -v file >/dev/null && file -b "$bb" | grep -q 'dynamically linked'; then
  echo "busybox-rootfs: $bb is not static (apt-get install busybox-static)" >&2
  exit 1
fi
mkdir -p "$dir"
chmod 0755 "$dir"
install -d -m 0755 "$dir"/{bin,sbin,usr,usr/bin,usr/sbin,etc,run,var,proc,sys,dev,home,home/user}
install -d -m 0700 "$dir/root"
install -d -m 1777 "$dir/tmp" "$dir/var/tmp"
install -m 0755 "$bb" "$dir/bin/busybox"
"$bb" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] || [ -L "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'user:x:1000:1000:user:/home/user:/bin/sh' \
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$dir/etc/passwd"
printf '%s\n' 'root:x:0:' 'tty:x:5:' 'user:x:1000:' 'nogroup:x:65534:' >"$dir/etc/group"
chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
chown 1000:1000 "$dir/home/user"
