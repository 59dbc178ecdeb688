#!/usr/bin/env bash
# Sandboxes from templates of the store: a layered image (whiteouts, an opaque directory,
# non-root owners, setuid bits) shows inside exactly as the image says, with image owners.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
if ! "$FK" template --help >/dev/null 2>&1 || [ ! -x "$FIRKIN_SRC/scripts/images/fixtures.sh" ]; then
  echo "1..0 # SKIP no template store in this build"
  exit 0
fi
plan 9
layout=$(mktemp -d /tmp/firkin-layout.XXXXXX)
on_exit "rm -rf '$layout'"
"$FIRKIN_SRC/scripts/images/fixtures.sh" "$layout/oci" >/dev/null
check "prepare the layered template" "$FK" template prepare -q --id layered "oci:$layout/oci:layered"
id=$("$FK" create layered)
check "create from a template" test -n "$id"
check "an opaque directory hides the lower layers' entries" \
  sh -c "[ \"\$('$FK' exec $id -- ls /opt/app | tr '\n' ' ')\" = 'new-hardlink new.txt ' ]"
check "whiteouts delete files, directories and symlinks" \
  sh -c "! '$FK' exec $id -- test -e /var/lib/data && ! '$FK' exec $id -- test -e /opt/current && ! '$FK' exec $id -- test -e /bin/vi"
check "a file deleted then re-created shows the new content" \
  sh -c "[ \"\$('$FK' exec $id -- cat /etc/motd)\" = 'welcome back in layer 3' ]"
check "image owners and modes show inside" \
  sh -c "[ \"\$('$FK' exec $id -- stat -c %u:%g:%a /home/user /srv/www/index.html /usr/bin/suid-tool | tr '\n' ' ')\" = '1234:2345:700 33:33:600 1000:1000:4755 ' ]"
check "writes go to the sandbox's upper layer only, owned by its root" \
  sh -c "'$FK' exec $id -- sh -c 'echo changed >> /etc/motd && touch /opt/app/mine && stat -c %u /opt/app/mine' | grep -qx 0 && x=\$('$FK' create layered) && [ \"\$('$FK' exec \$x -- cat /etc/motd)\" = 'welcome back in layer 3' ]"
# A template its sandboxes run on (their lower layers) is not removed, nor gc'd under them.
out=$("$FK" template rm layered 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "in use by sandbox" <<<"$out" && "$FK" exec "$id" -- test -e /etc/motd; then
  ok "a template in use by a sandbox is not removed"
else fail "a template in use by a sandbox is not removed (exit $rc: $out)"; fi
"$FK" ls -q | xargs -r "$FK" rm -f >/dev/null
check "once its sandboxes are gone it is removed" "$FK" template rm layered
done_testing
