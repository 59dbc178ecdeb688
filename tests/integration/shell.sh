#!/usr/bin/env bash
# fk shell in a real sandbox whose only shell is busybox sh: state between lines, exact bytes,
# exit and timeout replace the shell, stdin per command, pools run in parallel.
. "$(dirname "$0")/lib.sh"
plan 8

skip_all() { for i in 1 2 3 4 5 6 7 8; do skip "fk shell $i" "$1"; done; done_testing; }
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
done_testing
