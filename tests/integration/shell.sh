#!/usr/bin/env bash
# fk shell in a real sandbox whose only shell is busybox sh: state between lines, exact bytes,
# exit and timeout replace the shell, stdin per command, pools run in parallel. Then the same
# root with the host's bash (and its libraries) added: the agent's bash driver in a sandbox.
. "$(dirname "$0")/lib.sh"
plan 14

skip_all() { for i in $(seq 1 14); do skip "fk shell $i" "$1"; done; done_testing; }
[ -n "${FK:-}" ] && [ -x "$FK" ] || skip_all "fk binary not built"
[ "$(id -u)" = 0 ] || skip_all "needs root (sandboxes)"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

root=$(mktemp -d /tmp/firkin-shell-root.XXXXXX)
on_exit "rm -rf '$root'"
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$root" >/dev/null
id=$("$FK" create --rootfs "$root") || skip_all "cannot create a sandbox here"
on_exit "'$FK' rm -f '$id'"

out=$(printf 'cd /tmp; X=1; f() { echo "f:$1"; }\npwd; echo $X; f a\n' | "$FK" shell "$id")
[ "$out" = "$(printf '/tmp\n1\nf:a')" ] && ok "state carries from line to line" || { fail "state carries from line to line"; echo "# $out"; }

"$FK" shell "$id" -c 'printf "a\000b\377"' | od -An -c | tr -s ' ' >"$root.od" 2>&1
[ "$(cat "$root.od")" = " a \0 b 377" ] && ok "binary bytes come back exactly" || { fail "binary bytes come back exactly"; cat "$root.od" | sed 's/^/# /'; }
rm -f "$root.od"

out=$("$FK" shell "$id" -c 'Y=2; exit 3' -c 'echo ${Y:-fresh}' 2>&1); rc=$?
case "$out" in *"exited (code 3) and was replaced"*fresh) [ $rc = 3 ] && ok "exit 3 is reported and the shell replaced" || fail "exit code $rc";; *) fail "exit 3 is reported and the shell replaced"; echo "# $out";; esac

start=$(date +%s%N)
out=$("$FK" shell "$id" --timeout 0.3 -c 'sleep 30' -c 'echo alive' 2>&1)
took=$(( ($(date +%s%N) - start) / 1000000 ))
case "$out" in *"timed out"*alive) [ $took -lt 10000 ] && ok "a timeout kills the command, the next one runs" || fail "took $took ms";; *) fail "a timeout kills the command"; echo "# $out";; esac

start=$(date +%s%N)
out=$("$FK" shell "$id" -c 'sleep 30 & echo bg')
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$out" = bg ] && [ $took -lt 10000 ] && ok "a background job holding stdout does not hold completion" || fail "background job: '$out' in $took ms"

printf 'line1\nline2\n' >"$root.in"
out=$("$FK" shell "$id" --stdin "$root.in" -c 'read a; echo "$a"; cat')
rm -f "$root.in"
[ "$out" = "$(printf 'line1\nline2')" ] && ok "stdin for a command" || { fail "stdin for a command"; echo "# $out"; }

start=$(date +%s%N)
out=$("$FK" shell "$id" --pool 4 -c 'sleep 1; echo 1' -c 'sleep 1; echo 2' -c 'sleep 1; echo 3' -c 'sleep 1; echo 4')
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$out" = "$(printf '1\n2\n3\n4')" ] && [ $took -lt 3000 ] && ok "a pool of 4 runs 4 commands at once ($took ms), output in order" || { fail "pool: $took ms"; echo "# $out"; }

marker='0
}'
out=$("$FK" shell "$id" -c "printf '%s' '$marker'; printf \"it's\"")
[ "$out" = "$(printf "0\n}it's")" ] && ok "quotes, braces and status-like output round-trip" || { fail "quoting"; echo "# $out"; }

# bash: the binary and the libraries it loads, copied into a second busybox root.
broot=$(mktemp -d /tmp/firkin-shell-broot.XXXXXX)
on_exit "rm -rf '$broot'"
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$broot" >/dev/null
for f in /bin/bash $(ldd /bin/bash | grep -o '/[^ ]*'); do
  mkdir -p "$broot$(dirname "$f")" && cp -L "$f" "$broot$f"
done
# The UTF-8 locale, for a run to switch to.
[ -d /usr/lib/locale/C.utf8 ] && mkdir -p "$broot/usr/lib/locale" && cp -r /usr/lib/locale/C.utf8 "$broot/usr/lib/locale/"
bid=$("$FK" create --rootfs "$broot") || { for i in 1 2 3 4 5 6; do skip "bash $i" "cannot create"; done; done_testing; exit 0; }
on_exit "'$FK' rm -f '$bid'"

# --timeout: a driver that lost its framing fails the check instead of hanging it.
out=$("$FK" shell "$bid" --timeout 10 -c 'printf %s "$BASH_VERSION" | cut -c1' -c 'cd /tmp; X=1; f() { echo "f:$1:$X"; }' -c 'pwd; f a')
[ "$out" = "$(printf '%s\n/tmp\nf:a:1' "${BASH_VERSION:0:1}")" ] && ok "bash runs the commands and keeps state" || { fail "bash state"; echo "# $out"; }

out=$("$FK" shell "$bid" --timeout 10 -c 'export LC_ALL=C.UTF-8' -c $'printf \'%s\' \'h\xc3\xa9 \xe2\x9c\x93\'' -c $'v=\'caf\xc3\xa9\'; printf %s "${#v}"' 2>&1)
[ "$out" = "$(printf 'h\xc3\xa9 \xe2\x9c\x934')" ] && ok "bash: UTF-8 text round-trips after a run exports a UTF-8 locale (4 characters in café)" || { fail "bash utf-8"; echo "# $out" | od -c | head; }

out=$("$FK" shell "$bid" --timeout 10 -c 'K=kept' -c 'break' -c 'continue' -c 'for i in 1 2; do break; done' -c 'echo "$K"' 2>&1)
[ "$out" = kept ] && ok "bash: break and continue in a run leave the shell as it was" || { fail "bash break"; echo "# $out"; }

out=$("$FK" shell "$bid" --timeout 0.3 -c 'Y=2; sleep 30' -c 'echo ${Y:-fresh}' -c 'exit 4' -c 'echo alive' 2>&1)
case "$out" in *"timed out"*fresh*"exited (code 4) and was replaced"*alive) ok "bash: a timeout and exit replace the shell";; *) fail "bash timeout/exit"; echo "# $out";; esac
out=$("$FK" shell "$bid" --program /bin/sh -c 'echo "${BASH_VERSION:-no bash}"' 2>&1)
[ "$out" = "no bash" ] && ok "--program picks the shell (sh where bash is the default)" || { fail "--program"; echo "# $out"; }

out=$("$FK" shell "$bid" --program sh -c true 2>&1); rc=$?
case "$out" in *"not an absolute path"*) [ $rc -ne 0 ] && ok "--program with a relative path is a clear error" || fail "rc $rc";; *) fail "--program relative"; echo "# $out";; esac
done_testing
