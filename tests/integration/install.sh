#!/usr/bin/env bash
# meson install into a DESTDIR, then use what was installed the way a user does: the programs
# from there, and the example program of docs/api.md compiled with pkg-config against the
# installed headers and library (shared, then static) and run: it makes a sandbox, streams a
# command's output, writes and reads a file, runs commands through a shell pool, deletes the
# sandbox. libfirkin.so exports exactly the functions of the public headers.
. "$(dirname "$0")/lib.sh"
plan 10

skip_all() {
  for i in $(seq 1 10); do skip "install $i" "$1"; done
  done_testing
}
[ -n "${FIRKIN_BUILD:-}" ] && [ -f "$FIRKIN_BUILD/build.ninja" ] || skip_all "no build directory"
command -v pkg-config >/dev/null || skip_all "no pkg-config"
command -v cc >/dev/null || skip_all "no C compiler"

dir=$(mktemp -d /tmp/firkin-install.XXXXXX)
chmod 755 "$dir"
dest=$dir/dest
on_exit "[ -z \"\${FIRKIN_STATE_DIR:-}\" ] || \"\$FK\" ls -q 2>/dev/null | xargs -r \"\$FK\" rm -f >/dev/null 2>&1; rm -rf '$dir'"

check "meson install --destdir puts everything in place" bash -c "
  meson install -C '$FIRKIN_BUILD' --destdir '$dest' --no-rebuild --quiet >'$dir/install.log' 2>&1 || { cat '$dir/install.log'; exit 1; }"
prefix=$(meson introspect "$FIRKIN_BUILD" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
libdir=$(meson introspect "$FIRKIN_BUILD" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
# A sanitized build's library needs its program built the same way.
san=$(meson introspect "$FIRKIN_BUILD" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="b_sanitize"))')
sanflags=""
[ "$san" = none ] || sanflags="-fsanitize=$san"
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=1
root=$dest$prefix
lib=$dest$libdir

missing=""
for f in bin/fk bin/fk-image bin/fk-remote bin/fkd libexec/firkin/fk-agent libexec/firkin/fk-timeout libexec/firkin/fk-resolver \
  include/firkin/sandbox.h include/firkin/client.h include/firkin/shell.h; do
  [ -e "$root/$f" ] || missing="$missing $f"
done
for f in libfirkin.so.0 libfirkin.so libfirkin.a pkgconfig/firkin.pc; do
  [ -e "$lib/$f" ] || missing="$missing $f"
done
# The manual pages (when scdoc built them) and the shell completions.
if [ -f "$FIRKIN_BUILD/man/fk.1" ]; then
  for f in share/man/man1/fk.1 share/man/man1/fk-exec.1 share/man/man8/fkd.8; do
    [ -e "$root/$f" ] || missing="$missing $f"
  done
fi
for f in share/bash-completion/completions/fk share/zsh/vendor-completions/_fk; do
  [ -e "$root/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "the programs, the agent, the headers, the libraries, firkin.pc, the man pages and completions are installed"
else fail "installed files are missing:$missing"; fi

if file -L "$root/libexec/firkin/fk-agent" | grep -q "statically linked"; then ok "fk-agent is static (it runs inside any root)"
else fail "fk-agent is static"; file -L "$root/libexec/firkin/fk-agent" | sed 's/^/# /'; fi

# fk loads no shared library its everyday verbs do not use: no libcrypto, libcurl or
# libarchive (they go to fk-image and fk-remote; what fk needs is linked in).
loaded=$(ldd "$root/bin/fk" 2>&1 | awk '{print $1}' | tr '\n' ' ')
if [ "$san" != none ]; then
  skip "fk loads no libcrypto, libcurl or libarchive" "a sanitized build links them shared"
elif ! grep -qE 'libcrypto|libcurl|libarchive' <<<"$loaded"; then
  ok "fk loads no libcrypto, libcurl or libarchive ($loaded)"
else fail "fk loads no libcrypto, libcurl or libarchive: $loaded"; fi

v=$("$root/bin/fk" --version 2>&1)
if [ "$v" = "fk $(meson introspect "$FIRKIN_BUILD" --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" ]; then
  ok "the installed fk runs from there ($v)"
else fail "the installed fk runs from there"; echo "# $v"; fi

exports=$(nm -D --defined-only "$lib/libfirkin.so.0" | awk '{print $3}' | sed 's/@.*//' | grep -v '^FIRKIN_0$' | sort)
want=$("$FIRKIN_SRC/scripts/symbols.py")
if [ "$exports" = "$want" ] && "$FIRKIN_SRC/scripts/symbols.py" --check "$FIRKIN_SRC/src/lib/firkin.map"; then
  ok "libfirkin.so exports the public functions and nothing else ($(wc -l <<<"$want"))"
else
  fail "libfirkin.so exports the public functions and nothing else"
  diff <(echo "$want") <(echo "$exports") | head -20 | sed 's/^/# /'
fi

# The example of docs/api.md, as it is written there.
python3 - "$FIRKIN_SRC/docs/api.md" "$dir/sandbox_demo.c" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
open(sys.argv[2], 'w').write(re.search(r'```c\n(.*?)```', text, re.S).group(1))
EOF
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
check "the example compiles against the installed library (pkg-config --cflags --libs firkin)" bash -c "
  cc -Wall -Wextra -Werror $sanflags -o '$dir/demo' '$dir/sandbox_demo.c' \$(pkg-config --cflags --libs firkin)"
# libfirkin.a with its dependencies shared (Debian ships some of theirs without static archives).
check "and with libfirkin.a (its dependencies shared)" bash -c "
  cc -Wall -Wextra -Werror $sanflags -o '$dir/demo-static' '$dir/sandbox_demo.c' \$(pkg-config --cflags firkin) \
    '$lib/libfirkin.a' \$(pkg-config --libs \$(pkg-config --print-requires-private firkin)) -pthread"

if [ "$(id -u)" -ne 0 ]; then
  skip "the example runs against the installed library" "sandboxes need root here"
  skip "the static example runs" "sandboxes need root here"
  done_testing
fi
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$dir/rootfs" >/dev/null 2>&1 || { skip "the example runs" "no busybox root"; skip "static" "no busybox root"; done_testing; }
export FIRKIN_STATE_DIR=$dir/state FIRKIN_AGENT=$root/libexec/firkin/fk-agent FIRKIN_TIMEOUT=$root/libexec/firkin/fk-timeout
FK=$root/bin/fk
run_demo() {
  local out
  out=$(LD_LIBRARY_PATH=$lib "$1" "$dir/rootfs" 2>&1)
  local rc=$?
  local linked
  linked=$(LD_LIBRARY_PATH=$lib ldd "$1" | grep libfirkin || true)
  if [ $rc -eq 0 ] && grep -q 'hello 3$' <<<"$out" && grep -q '^exit 0$' <<<"$out" &&
     grep -q '^read back 22 bytes: written from the host$' <<<"$out" &&
     [ "$(grep -c '^shell run [0-3], cwd /$' <<<"$out")" -eq 4 ] && grep -q '^deleted$' <<<"$out" &&
     [ -z "$("$FK" ls -q)" ] && { [ "$2" = static ] || grep -q "$lib/libfirkin.so.0" <<<"$linked"; } &&
     { [ "$2" = shared ] || [ -z "$linked" ]; }; then
    ok "the $2 example runs: streamed output, files, a shell pool, nothing left"
  else
    fail "the $2 example runs (exit $rc)"
    printf '%s\n%s\n' "$out" "$linked" | sed 's/^/# /'
  fi
}
run_demo "$dir/demo" shared
run_demo "$dir/demo-static" static
done_testing
