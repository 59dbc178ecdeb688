#!/usr/bin/env bash
# Snapshots, fork, pause to disk (docs/snapshots.md) with real sandboxes from the fixtures'
# templates: every kind of change comes back, an unchanged sandbox adds no blob, the hostile
# cases (symlinks out, a huge sparse file, a fifo, odd names, a writer during the capture) are
# captured as data or refused, and nothing is left frozen, mounted or in a cgroup.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
source "$FIRKIN_SRC/tests/integration/imagelib.sh"
if ! "$FK" template --help >/dev/null 2>&1 || [ ! -x "$FIRKIN_SRC/scripts/images/fixtures.sh" ]; then
  echo "1..0 # SKIP no template store in this build"
  exit 0
fi
plan 40
S=$FIRKIN_STATE_DIR
cg_before=$(cgroup_dirs)
layout=$(mktemp -d /tmp/firkin-layout.XXXXXX)
on_exit "rm -rf '$layout'"
"$FIRKIN_SRC/scripts/images/fixtures.sh" "$layout/oci" >/dev/null
"$FK" template prepare -q --id layered "oci:$layout/oci:layered" >/dev/null
"$FK" template prepare -q --id busybox "oci:$layout/oci:busybox" >/dev/null

# tree ID: what a sandbox's root holds (names, types, owners, modes, sizes, link targets,
# content digests, hard-link counts), but what the runtime writes at each create.
tree() {
  "$FK" exec "$1" -- sh -c 'find / -xdev \( -path /proc -o -path /sys -o -path /dev \
      -o -path /etc/hosts -o -path /etc/resolv.conf \) -prune -o -print | grep -v "^/root/nl" | sort |
    while read -r p; do
      if [ -d "$p" ] && [ ! -L "$p" ]; then stat -c "%n %F %u %g %a" "$p"
      else stat -c "%n %F %u %g %a %s %h %N" "$p"; fi
      if [ -f "$p" ] && [ ! -L "$p" ]; then md5sum "$p"; fi
    done'
}
blobs() { ls "$S/blobs/sha256" | wc -l; }
layers_of() { python3 -c "import json,sys; print(len(json.load(open('$S/templates/$1.json'))['layers']))"; }
last_blob() { python3 -c "import json; print(json.load(open('$S/templates/$1.json'))['layers'][-1]['digest'][7:])"; }
status_of() { "$FK" inspect "$1" | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p'; }

# --- snapshot of an unchanged sandbox ---
a=$("$FK" create layered)
s0=$("$FK" snapshot "$a")
n0=$(blobs)
s0b=$("$FK" snapshot "$a")
check "a snapshot of an unchanged sandbox has no layer of its own and adds no blob" \
  sh -c "[ $(layers_of layered) = \$(python3 -c \"import json; print(len(json.load(open('$S/templates/$s0b.json'))['layers']))\") ] && [ $n0 = \$(ls '$S/blobs/sha256' | wc -l) ]"
check "the sandbox goes on running after a snapshot (not frozen)" sh -c "[ \"\$('$FK' inspect $a | sed -n 's/.*\"status\": \"\([a-z-]*\)\".*/\1/p')\" = running ] && '$FK' exec $a -- true"
check "a snapshot of an id that is a snapshot replaces it" \
  sh -c "[ \"\$('$FK' snapshot $a --id $s0)\" = $s0 ]"
check "an id of a template that is not a snapshot is refused" \
  sh -c "out=\$('$FK' snapshot $a --id busybox 2>&1); [ \$? -ne 0 ] && echo \"\$out\" | grep -q 'exists and is not a snapshot'"

# --- every kind of change ---
in_sb "$a" 'set -e
  echo hi > /root/new; chown 1234:33 /root/new; chmod 4711 /root/new; ln /root/new /root/new-link
  mkdir -p /home/user/d && echo x > /home/user/d/f && chown -R 1000:1000 /home/user/d
  chmod 0640 /etc/passwd
  rm /etc/motd; rm -rf /opt/app; mkdir /opt/app; echo o > /opt/app/only
  rm -rf /usr/bin; rm /bin/rev
  ln -s /etc/passwd /root/abs-link; ln -s ../../../../.. /root/up-link
  mkfifo /root/fifo; echo changed >> /etc/passwd
  touch "/root/nl
name"; truncate -s 10485760 /root/sparse; printf "\\000\\001binary" > /root/bin
  mkdir -p /srv/deep/a/b/c/d/e && echo deep > /srv/deep/a/b/c/d/e/f
  echo in-tmp > /tmp/not-captured'
# An agent's work often lands in /tmp: it is the root's own directory, so it is captured.
in_sb "$a" 'mkdir -p /tmp/work/sub && echo in-tmp > /tmp/work/sub/f && chmod 1777 /tmp/work'
s1=$("$FK" snapshot "$a" --id s1)
check "snapshot --id names the template" test "$s1" = s1
b=$("$FK" create s1)
check "a snapshot that a sandbox runs on is not replaced" \
  sh -c "out=\$('$FK' snapshot $a --id s1 2>&1); [ \$? -ne 0 ] && echo \"\$out\" | grep -q 'sandbox $b runs on it'"
ta=$(tree "$a"); tb=$(tree "$b")
if [ -n "$ta" ] && [ "$ta" = "$tb" ]; then ok "a sandbox from the snapshot has the same tree (files, owners, modes, links, content)"
else fail "a sandbox from the snapshot has the same tree"; diff <(echo "$ta") <(echo "$tb") | head -20 | sed 's/^/# /'; fi
check "deleted image files and whole directories stay deleted" \
  sh -c "! '$FK' exec $b -- test -e /etc/motd && ! '$FK' exec $b -- test -e /usr/bin && ! '$FK' exec $b -- test -e /bin/rev"
check "a directory replaced as a whole shows only its new content (opaque)" \
  sh -c "[ \"\$('$FK' exec $b -- ls /opt/app)\" = only ]"
check "owners come back as the sandbox saw them, setuid kept" \
  sh -c "[ \"\$('$FK' exec $b -- stat -c '%u:%g:%a' /home/user/d/f /root/new /etc/passwd | tr '\n' ' ')\" = '1000:1000:644 1234:33:4711 0:0:640 ' ]"
check "hard links stay one inode" \
  sh -c "[ \"\$('$FK' exec $b -- stat -c %i /root/new)\" = \"\$('$FK' exec $b -- stat -c %i /root/new-link)\" ]"
check "a name with a newline comes back" "$FK" exec "$b" -- sh -c 'test -f "/root/nl
name"'
check "/tmp is part of the snapshot" \
  sh -c "[ \"\$('$FK' exec $b -- cat /tmp/work/sub/f)\" = in-tmp ] && [ \"\$('$FK' exec $b -- stat -c %a /tmp/work /tmp)\" = '1777
1777' ]"
# The snapshot's unpacked layer is a copy: the source rewriting its files in place (the same
# inodes of its upper dir, a hard link's too) changes nothing in the template.
in_sb "$a" 'echo later > /root/new; printf zz | dd of=/root/bin bs=1 seek=0 conv=notrunc 2>/dev/null; echo later >> /tmp/work/sub/f'
c=$("$FK" create s1)
check "the source's later writes do not reach the snapshot" \
  sh -c "[ \"\$('$FK' exec $a -- cat /root/new-link)\" = later ] && [ \"\$('$FK' exec $a -- cat /root/bin | head -c 2)\" = zz ] && [ \"\$('$FK' exec $c -- cat /root/new /root/new-link /tmp/work/sub/f)\" = 'hi
hi
in-tmp' ] && [ \"\$('$FK' exec $c -- cat /root/bin | md5sum | cut -d' ' -f1)\" = \"\$(printf '\\000\\001binary' | md5sum | cut -d' ' -f1)\" ]"
"$FK" rm -f "$c" >/dev/null
blob=$(last_blob s1)
check "the layer is an uncompressed tar in the store, whiteouts and the opaque marker in it" \
  sh -c "tar -tf '$S/blobs/sha256/$blob' 2>/dev/null | grep -qx 'etc/.wh.motd' && tar -tf '$S/blobs/sha256/$blob' 2>/dev/null | grep -qx 'opt/app/.wh..wh..opq' && tar -tf '$S/blobs/sha256/$blob' 2>/dev/null | grep -qx 'usr/.wh.bin'"
check "a sparse file comes back at its full length" \
  sh -c "[ \"\$('$FK' exec $b -- stat -c %s /root/sparse)\" = 10485760 ]"

# --- export, read by skopeo and umoci ---
if command -v skopeo >/dev/null && command -v umoci >/dev/null; then
  x=$(mktemp -d /tmp/firkin-export.XXXXXX)
  on_exit "rm -rf '$x'"
  "$FK" template export s1 "oci:$x/lay:mine" && "$FK" template export s1 "oci-archive:$x/oci.tar" &&
    "$FK" template export s1 "docker-archive:$x/docker.tar"
  want=$("$FK" template inspect s1 | python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')
  check "skopeo inspect of oci:, oci-archive: and docker-archive: exports names the template's layers" \
    sh -c "for r in 'oci:$x/lay:mine' 'oci-archive:$x/oci.tar:s1'; do [ \"\$(skopeo inspect \$r | python3 -c 'import json,sys; print(\" \".join(json.load(sys.stdin)[\"Layers\"]))')\" = '$want' ] || exit 1; done; skopeo inspect docker-archive:$x/docker.tar >/dev/null"
  check "umoci unpack of the oci: export matches the snapshot's tree" \
    bash -c "umoci unpack --image '$x/lay:mine' '$x/b1' >/dev/null 2>&1 && $(declare -f template_layers template_cmp); FK='$FK' FIRKIN_SRC='$FIRKIN_SRC' template_cmp s1 '$x/b1/rootfs'"
  check "the oci-archive: and docker-archive: exports, copied by skopeo, unpack to the same tree" \
    bash -c "$(declare -f template_layers template_cmp); for r in 'oci-archive:$x/oci.tar:s1' 'docker-archive:$x/docker.tar'; do rm -rf '$x/c' '$x/b2'; skopeo copy -q \$r 'oci:$x/c:x' && umoci unpack --image '$x/c:x' '$x/b2' >/dev/null 2>&1 && FK='$FK' FIRKIN_SRC='$FIRKIN_SRC' template_cmp s1 '$x/b2/rootfs' >/dev/null || exit 1; done"
  check "an export prepared again is the same image (same manifest digest)" \
    sh -c "'$FK' template prepare -q --id again 'oci-archive:$x/oci.tar:s1' >/dev/null && [ \"\$('$FK' template inspect again | grep manifestDigest)\" = \"\$('$FK' template inspect s1 | grep manifestDigest)\" ]"
else
  for n in 1 2 3 4; do skip "export read by skopeo and umoci" "skopeo or umoci missing (scripts/deps.sh installs them)"; done
fi
check "export to an unknown form is refused, naming the forms" \
  sh -c "'$FK' template export s1 dir:/tmp/x 2>&1 | grep -q 'oci:DIR'"

# --- attacks ---
canary=$(mktemp /tmp/firkin-canary.XXXXXX); echo host-secret > "$canary"; on_exit "rm -f '$canary'"
in_sb "$a" "rm -rf /srv/deep; ln -s / /srv/deep; ln -s $canary /root/canary; ln -s /proc/1/root /root/p1"
s2=$("$FK" snapshot "$a")
blob=$(last_blob "$s2")
check "symlinks pointing out are stored as links, never followed" \
  sh -c "tar -tvf '$S/blobs/sha256/$blob' 2>/dev/null | grep -q 'srv/deep -> /\$' && ! grep -q host-secret '$S/blobs/sha256/$blob' && tar -tvf '$S/blobs/sha256/$blob' 2>/dev/null | grep -q 'root/p1 -> /proc/1/root'"
# The agent holds the upper dir for the host: the sandbox's code neither inherits it nor reaches
# PID 1's fds (the agent is not dumpable).
check "the sandbox's code cannot reach the upper dir PID 1 holds" \
  sh -c "! '$FK' exec $a -- sh -c 'ls -l /proc/self/fd/ | grep -q \" 4 -> \"' && ! '$FK' exec $a -- ls /proc/1/fd/4/ 2>/dev/null && ! '$FK' exec $a -- cat /proc/1/fd/4/root/new 2>/dev/null"
c=$("$FK" create --disk 64M busybox)
in_sb "$c" 'truncate -s 1099511627776 /root/huge'
check "a sparse file claiming more than the disk limit is refused (EFBIG), nothing kept" \
  sh -c "! '$FK' snapshot $c --id huge 2>/tmp/firkin-snap-err.\$\$ && grep -q 'over the limit' /tmp/firkin-snap-err.\$\$; r=\$?; rm -f /tmp/firkin-snap-err.\$\$; [ \$r = 0 ] && [ ! -e '$S/templates/huge.json' ] && [ -z \"\$(ls '$S/tmp')\" ]"
check "after a refused snapshot the sandbox runs on (thawed)" \
  sh -c "[ \"\$('$FK' inspect $c | sed -n 's/.*\"status\": \"\([a-z-]*\)\".*/\1/p')\" = running ] && '$FK' exec $c -- true"
# A writer that never stops: the snapshot is of one frozen instant, each file whole.
"$FK" exec "$c" -- sh -c 'rm /root/huge; i=0; while :; do i=$((i+1)); echo "$i $i $i" > /root/w.tmp; mv /root/w.tmp /root/w; echo $i >> /root/log; done' >/dev/null 2>&1 &
writer=$!
on_exit "kill $writer"
sleep 0.5
s3=$("$FK" snapshot "$c")
d=$("$FK" create "$s3")
whole() {
  "$FK" exec "$d" -- sh -c 'read x y z < /root/w && [ "$x" = "$y" ] && [ "$y" = "$z" ] &&
    [ "$(tail -c 1 /root/log | od -An -tx1 | tr -d " ")" = 0a ]'
}
check "a snapshot taken while a process writes is consistent" whole
check "the writer goes on after the snapshot" \
  sh -c "n1=\$('$FK' exec $c -- wc -l /root/log | cut -d' ' -f1); sleep 0.3; n2=\$('$FK' exec $c -- wc -l /root/log | cut -d' ' -f1); [ \$n2 -gt \$n1 ]"
kill $writer 2>/dev/null
check "a sandbox made from explicit layers cannot be snapshot (no image under it)" \
  sh -c "x=\$('$FK' create --rootfs '$rootfs') && '$FK' snapshot \$x 2>&1 | grep -q 'not a template'"

# --- fork ---
before_layers=$(ls "$S/layers/sha256" | wc -l)
mapfile -t kids < <("$FK" fork "$b" --count 20)
check "fork --count 20 prints 20 new sandboxes" test "${#kids[@]}" = 20
check "fork adds one layer for all of them" test "$(ls "$S/layers/sha256" | wc -l)" -le $((before_layers + 1))
okf=1
for i in 0 7 19; do
  k=${kids[$i]}
  [ "$("$FK" exec "$k" -- cat /opt/app/only)" = o ] || okf=0
  "$FK" exec "$k" -- sh -c "echo kid$i > /root/mine" || okf=0
done
[ "$("$FK" exec "${kids[7]}" -- cat /root/mine)" = kid7 ] || okf=0
"$FK" exec "$b" -- test -e /root/mine && okf=0
[ $okf = 1 ] && ok "each fork sees the state and diverges on its own" || fail "each fork sees the state and diverges on its own"
check "fork --count 0 and 101 are refused" sh -c "! '$FK' fork $b --count 0 2>/dev/null && ! '$FK' fork $b --count 101 2>/dev/null"

# --- pause to disk ---
p=$("$FK" create --timeout 3600 --metadata owner=test busybox)
in_sb "$p" 'echo base > /root/keep; echo v0 > /root/changing'
pid=$(host_pid "$p")
okp=1
for cycle in $(seq 1 50); do
  gone=""
  [ $cycle -le 3 ] && gone="rm /bin/$(echo vi ed rev | cut -d' ' -f$cycle)"
  in_sb "$p" "echo c$cycle > /root/c$cycle; echo v$cycle > /root/changing; rm -f /root/c$((cycle - 1)); $gone" || okp=0
  "$FK" pause --to-disk "$p" || okp=0
  [ "$(status_of "$p")" = paused-to-disk ] || okp=0
  dead "$pid" || okp=0
  # What a host reboot leaves: the state file alone, from another boot.
  [ $cycle = 2 ] && sed -i 's/"boot_id": "[^"]*"/"boot_id": "00000000-0000-0000-0000-000000000000"/' "$S/sandboxes/$p/state.json"
  "$FK" ls >/dev/null
  "$FK" resume "$p" || okp=0
  pid=$(host_pid "$p")
done
[ $okp = 1 ] && ok "50 pause-to-disk / resume cycles (one across a faked reboot)" || fail "50 pause-to-disk / resume cycles (one across a faked reboot)"
check "no change is lost across the cycles (files, a changed file, deletions)" \
  sh -c "[ \"\$('$FK' exec $p -- sh -c 'cat /root/keep /root/changing /root/c50; ls /root/c1 /root/c49 /bin/vi /bin/ed /bin/rev 2>&1 | grep -c \"No such\"')\" = 'base
v50
c50
5' ]"
check "same id, metadata and about the same timeout after resume" \
  sh -c "'$FK' inspect $p | grep -q '\"owner\": \"test\"' && e=\$('$FK' inspect $p | sed -n 's/.*\"expires\": \([0-9]*\).*/\1/p') && [ \$((e - \$(date +%s))) -gt 3500 ]"

q=$("$FK" create busybox)
"$FK" pause --to-disk "$q"
check "a sandbox paused to disk: exec says so, stop is refused, extend sets the timeout it resumes with" \
  sh -c "'$FK' exec $q -- true 2>&1 | grep -q 'paused-to-disk: resume it first' && ! '$FK' stop $q 2>/dev/null && '$FK' extend $q 500 && '$FK' resume $q && e=\$('$FK' inspect $q | sed -n 's/.*\"expires\": \([0-9]*\).*/\1/p') && [ \$((e - \$(date +%s))) -gt 400 ] && [ \$((e - \$(date +%s))) -le 500 ]"
"$FK" pause --to-disk "$q"
check "rm of a sandbox paused to disk leaves no directory" \
  sh -c "'$FK' rm $q && [ ! -e '$S/sandboxes/$q' ]"
# What a capture killed while the sandbox was frozen leaves: the freeze and the mark.
k=$("$FK" create busybox)
"$FK" pause "$k"
touch "$S/sandboxes/$k/capturing"
check "a snapshot after a killed one thaws the sandbox the killed one froze" \
  sh -c "'$FK' snapshot $k >/dev/null && [ \"\$('$FK' inspect $k | sed -n 's/.*\"status\": \"\([a-z-]*\)\".*/\1/p')\" = running ] && [ ! -e '$S/sandboxes/$k/capturing' ]"
"$FK" pause "$k"
check "a sandbox the user paused stays paused after a snapshot" \
  sh -c "'$FK' snapshot $k >/dev/null && [ \"\$('$FK' inspect $k | sed -n 's/.*\"status\": \"\([a-z-]*\)\".*/\1/p')\" = paused ]"

# --- nothing left ---
"$FK" ls -q | xargs -r "$FK" rm -f
left=$("$FK" ls -q; grep "$S" /proc/self/mountinfo; [ "$(cgroup_dirs)" -le "$cg_before" ] || echo "cgroups: $(cgroup_dirs) > $cg_before")
check "nothing left running, mounted or in a cgroup" test -z "$left"
done_testing
