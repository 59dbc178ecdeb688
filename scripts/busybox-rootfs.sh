#!/usr/bin/env bash
# Builds a minimal root filesystem in DIR from Debian's busybox-static: /bin/busybox, a symlink
# per applet, /etc/passwd and /etc/group, and a home owned by uid 1000 (so tests can see image
# owners inside a sandbox). Used until the template store provides images.
# usage: scripts/busybox-rootfs.sh DIR
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,home/user,var/tmp}
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list-full); do
  [ -e "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet"
done
cat >"$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$dir/etc/group" <<'G'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
G
chown 1000:1000 "$dir/home/user"
chmod 1777 "$dir/tmp" "$dir/var/tmp"
