#!/usr/bin/env bash
# fk template build: a Dockerfile with every supported instruction on a busybox base (a local
# layout, no registry), checked inside `fk run'; a rebuild from the step cache (no sandbox); a
# changed COPY source rerunning from that step; hostile and failing builds registering nothing.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
if ! "$FK" template --help 2>/dev/null | grep -q 'template build'; then
  echo "1..0 # SKIP no template build in this build"
  exit 0
fi
plan 23
work=$(mktemp -d /tmp/firkin-build.XXXXXX)
on_exit "rm -rf '$work'"
"$FIRKIN_SRC/scripts/images/busybox.sh" "$work/oci" >/dev/null
ctx=$work/ctx
mkdir -p "$ctx/app/sub" "$ctx/ignored"
echo hello > "$ctx/app/hello.txt"
echo deep > "$ctx/app/sub/deep.txt"
ln -s hello.txt "$ctx/app/link"
echo one > "$ctx/data.txt"
echo secret > "$ctx/ignored/secret"
echo "x" > "$ctx/notes.tmp"
printf 'ignored\n*.tmp\n' > "$ctx/.dockerignore"
cat > "$ctx/Dockerfile" <<'DF'
# escape=\
ARG BASE=oci:LAYOUT:busybox
FROM $BASE
ARG GREETING=hi
ARG WHO
ENV APP_HOME=/srv/app \
    MODE="two words"
LABEL org.example.name="demo app" version=1
WORKDIR $APP_HOME
COPY --chown=1000:1000 app/ ./
COPY data.txt /opt/data.txt
COPY . /ctx/
ADD --chown=user data.txt /opt/added.txt
RUN echo "$GREETING $WHO" > /greeting && \
    mkdir -p /var/made && echo made > /var/made/file
RUN ["/bin/sh", "-c", "echo exec-form > /exec.txt"]
USER 1000
RUN id -u > /tmp/uid-at-build; cp /tmp/uid-at-build /home/user/uid
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo default"]
DF
sed -i "s|LAYOUT|$work/oci|" "$ctx/Dockerfile"

out=$("$FK" template build -t demo --build-arg WHO=world "$ctx" 2>"$work/err")
check "a Dockerfile with every supported instruction builds" test "$out" = demo
grep -o '[0-9]* sandboxes' "$work/err" > "$work/first"
check "each RUN made one sandbox" grep -qx '3 sandboxes' "$work/first"
check "no sandbox is left behind" test -z "$("$FK" ls -q)"
run_in() { "$FK" run demo -- "$@"; }
check "RUN with ARG values (a build arg and a default)" test "$(run_in cat /greeting)" = "hi world"
check "RUN in exec form" test "$(run_in cat /exec.txt)" = exec-form
check "ENV, with a continuation and quotes" \
  test "$(run_in sh -c 'echo "$APP_HOME|$MODE"')" = "/srv/app|two words"
check "ARG values are not in the image's environment" \
  sh -c "! '$FK' run demo -- sh -c 'env' | grep -q GREETING"
check "WORKDIR is the cwd, COPY of a directory's content relative to it" \
  test "$(run_in sh -c 'pwd; cat hello.txt sub/deep.txt; readlink link')" = "$(printf '/srv/app\nhello\ndeep\nhello.txt')"
check "COPY --chown with numbers, ADD --chown with a name" \
  test "$(run_in stat -c %u:%g /srv/app/hello.txt /srv/app/sub /opt/added.txt | tr '\n' ' ')" = "1000:1000 1000:1000 1000:1000 "
check "COPY without --chown is root's" test "$(run_in stat -c %u:%g /opt/data.txt)" = 0:0
check ".dockerignore keeps files out" \
  test "$(run_in ls /ctx | tr '\n' ' ')" = "Dockerfile app data.txt "
sb=$("$FK" create demo)
check "USER applies to the next RUN and to the template's commands" \
  test "$(run_in cat /home/user/uid) $("$FK" exec "$sb" -- id -u)" = "1000 1000"
"$FK" rm -f "$sb" >/dev/null
inspect=$("$FK" template inspect demo)
cfg=$(python3 - "$FIRKIN_STATE_DIR" <<'PY'
import json, sys
state = sys.argv[1]
rec = json.load(open(f"{state}/templates/demo.json"))
cfg = json.load(open(f"{state}/blobs/sha256/" + rec["configDigest"].split(":")[1]))["config"]
print(json.dumps([cfg.get("Labels"), sorted(cfg.get("ExposedPorts", {})), cfg.get("Entrypoint"), cfg.get("Cmd"), cfg.get("User"), cfg.get("WorkingDir")]))
PY
)
check "LABEL, EXPOSE, ENTRYPOINT, CMD, USER, WORKDIR in the image config" \
  test "$cfg" = '[{"org.example.name": "demo app", "version": "1"}, ["53/udp", "8080/tcp"], ["/bin/sh", "-c"], ["echo default"], "1000", "/srv/app"]'

# The cache: nothing changed, no sandbox, milliseconds.
manifest=$(python3 -c "import json,sys; print(json.load(open('$FIRKIN_STATE_DIR/templates/demo.json'))['manifestDigest'])")
start=$(date +%s%N)
"$FK" template build -q -t demo --build-arg WHO=world "$ctx" >/dev/null 2>"$work/err2"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "# cached rebuild: ${ms} ms ($(cat "$work/err2"))"
check "a rebuild with nothing changed makes no sandbox" grep -q '3 RUN steps cached, 0 sandboxes' "$work/err2"
check "and gives the same image" test "$(python3 -c "import json; print(json.load(open('$FIRKIN_STATE_DIR/templates/demo.json'))['manifestDigest'])")" = "$manifest"
check "a cached rebuild takes under a second (${ms} ms)" test "$ms" -lt 1000

# A changed COPY source: the RUN steps after it run again.
echo two > "$ctx/data.txt"
"$FK" template build -q -t demo --build-arg WHO=world "$ctx" >/dev/null 2>"$work/err3"
check "a changed COPY source reruns the steps after it" grep -q '0 RUN steps cached, 3 sandboxes' "$work/err3"
check "and the new file is in the template" test "$(run_in cat /opt/data.txt)" = two
# A changed build arg: only the RUN that sees it and those after.
"$FK" template build -q -t demo --build-arg WHO=moon "$ctx" >/dev/null 2>"$work/err4"
check "a changed build arg reruns from the first RUN" grep -q '0 RUN steps cached, 3 sandboxes' "$work/err4"

# Bad Dockerfiles: clear errors naming the line, nothing registered.
bad() { # bad NAME DOCKERFILE-TEXT EXPECTED-MESSAGE
  mkdir -p "$work/bad-$1"; printf '%s\n' "$2" > "$work/bad-$1/Dockerfile"
  if [ -n "${4:-}" ]; then eval "$4"; fi
  ! "$FK" template build -t "bad-$1" "$work/bad-$1" >"$work/bad-$1.out" 2>&1 \
    && grep -q -- "$3" "$work/bad-$1.out" \
    && ! "$FK" template inspect "bad-$1" >/dev/null 2>&1 && test -z "$("$FK" ls -q)"
}
check "an unknown instruction names its line" \
  bad unknown "$(printf 'FROM demo\nRUN true\nFROBNICATE x')" "line 3: unknown instruction .FROBNICATE."
check "HEALTHCHECK and multi-stage are refused by line" \
  sh -c "$(declare -f bad); work='$work' FK='$FK'; bad hc 'FROM demo
HEALTHCHECK CMD true' 'line 2: HEALTHCHECK' && bad ms 'FROM demo AS a' 'line 1: FROM ... AS'"
check "COPY of ../ and of a symlink out of the context are refused" \
  sh -c "$(declare -f bad); work='$work' FK='$FK'; bad dots 'FROM demo
COPY ../secret /x' 'outside the build context' && bad link 'FROM demo
COPY leak /x' 'outside the build context' 'ln -s /etc/passwd \$work/bad-link/leak'"
check "a RUN that fails: its exit code and output, nothing registered" \
  sh -c "$(declare -f bad); work='$work' FK='$FK'; bad fail 'FROM demo
RUN echo to-stderr >&2; exit 7' 'line 2: RUN .* exited with code 7' && grep -q to-stderr '$work/bad-fail.out'; '$FK' template build -t bad-fail2 '$work/bad-fail' >/dev/null 2>&1; test \$? = 7"
done_testing
