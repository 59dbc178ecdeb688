#!/usr/bin/env bash
# fk against a running fkd (--remote) gives the same results as fk on the state dir: the same
# sequence of commands runs once each way and their stdout, stderr and exit codes are compared
# (the sandbox id, which differs, replaced by ID; what fkd's API does not carry left out). Then
# what only the remote way has: a wrong API key, fkd not running, a verb fkd cannot serve, and
# output that streams. fkd, its sandboxes and its state dir go when the test ends.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
if [ -z "${FKD:-}" ] || [ ! -x "$FKD" ]; then
  echo "1..0 # SKIP fkd is not built"
  exit 0
fi
if [ ! -x "$(dirname "$FK")/fk-remote" ]; then
  echo "1..0 # SKIP fk-remote is not built"
  exit 0
fi
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }
"$FIRKIN_SRC/tests/e2b/template.sh" "$FK" >/dev/null
api=$(free_port)
envd=$(free_port)
key=e2b_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
work=$(mktemp -d /tmp/fk-remote.XXXXXX)
on_exit "rm -rf '$work'"
"$FKD" --listen "127.0.0.1:$api" --envd-listen "127.0.0.1:$envd" --api-key "$key" \
  >"$work/fkd.out" 2>"$work/fkd.err" &
fkd_pid=$!
on_exit "kill -9 $fkd_pid"
wait_for grep -q listening "$work/fkd.out" || diag "$(cat "$work/fkd.err")"
export FIRKIN_API_KEY=$key
remote=(--remote "http://127.0.0.1:$api" --remote-envd "http://127.0.0.1:$envd")
# pause and connect are fkd routes of their own: probe them (an fkd without them answers
# "not served")
routes_pause=1
if curl -s -X POST -H "X-API-Key: $key" "http://127.0.0.1:$api/sandboxes/000000000000/pause" \
  | grep -q 'not served'; then
  routes_pause=0
fi

printf 'line one\nline two\n' >"$work/in.txt"
chmod 0644 "$work/in.txt"
# steps: one fk command a line (ID stands for the sandbox); stdin from the file named after <.
steps=(
  "exec ID -- true"
  "exec ID -- false"
  "exec ID -- sh -c 'echo to-out; echo to-err >&2; exit 3'"
  "exec ID -- sh -c 'echo \$GREETING; kill -TERM \$\$'"
  "exec --env X=1 --cwd /tmp ID -- sh -c 'echo \$X; pwd'"
  "exec ID -- sh -c 'i=0; while [ \$i -lt 20000 ]; do echo line \$i; i=\$((i+1)); done'"
  "exec ID -- nosuchcmd"
  "exec --cwd /nope ID -- true"
  "exec --timeout 1 ID -- sleep 30"
  "exec -i ID -- cat <$work/in.txt"
  "cp $work/in.txt ID:/tmp/"
  "cp ID:/tmp/in.txt -"
  "cp ID:/tmp/in.txt OUT/copied.txt"
  "cp ID:/nope -"
  "cp ID:/etc OUT/"
  "ls -q"
  "extend ID 0"
  "extend ID 900"
  "inspect nope"
  "inspect NOPE"
  "exec nope -- true"
  "rm ID"
  "rm -f nope"
)
[ "$routes_pause" = 1 ] && steps+=("pause ID" "pause ID" "exec ID -- true" "resume ID" "resume ID"
  "exec ID -- echo resumed")
steps+=("rm -f ID" "rm -f ID" "inspect ID")
plan $((${#steps[@]} + 13 + (routes_pause ? 0 : 1)))

# run_all MODE FK-ARGS...: the sequence, each step's out, err and rc in $work/MODE/N.*; the
# ls and inspect of the sandbox after create kept apart.
run_all() {
  local mode=$1; shift
  local d=$work/$mode
  mkdir -p "$d/out"
  "$FK" "$@" create --metadata team=a --metadata lang=c --env GREETING=hi --timeout 600 \
    >"$d/create.out" 2>"$d/create.err"
  echo $? >"$d/create.rc"
  local id
  id=$(cat "$d/create.out")
  echo "$id" >"$d/id"
  "$FK" "$@" ls >"$d/ls.txt" 2>&1
  "$FK" "$@" inspect "$id" >"$d/inspect.json" 2>&1
  local i=0 s cmd pre=""
  [ $# -gt 0 ] && pre=$(printf '%q ' "$@")
  for s in "${steps[@]}"; do
    cmd=${s//ID/$id}
    cmd=${cmd//OUT/$d\/out}
    eval "\"\$FK\" $pre $cmd" >"$d/$i.out" 2>"$d/$i.err"
    echo $? >"$d/$i.rc"
    sed -i "s/$id/ID/g; s|$d/out|OUT|g" "$d/$i.out" "$d/$i.err"
    i=$((i + 1))
  done
}
run_all direct
run_all remote "${remote[@]}"
diag "direct: $(cat "$work/direct/id"), remote: $(cat "$work/remote/id")"

check "create prints an id both ways, exit 0" sh -c "[ \$(cat '$work/direct/create.rc') = 0 ] && \
  [ \$(cat '$work/remote/create.rc') = 0 ] && [ -n \"\$(cat '$work/remote/id')\" ] && \
  [ ! -s '$work/remote/create.err' ]"
i=0
for s in "${steps[@]}"; do
  check "same stdout, stderr and exit code: fk $s" sh -c "cmp '$work/direct/$i.out' '$work/remote/$i.out' \
    && cmp '$work/direct/$i.err' '$work/remote/$i.err' && cmp '$work/direct/$i.rc' '$work/remote/$i.rc' \
    || { echo direct: rc \$(cat '$work/direct/$i.rc'); head -c 400 '$work/direct/$i.err'; \
         echo remote: rc \$(cat '$work/remote/$i.rc'); head -c 400 '$work/remote/$i.err'; \
         diff '$work/direct/$i.out' '$work/remote/$i.out' | head -5; exit 1; }"
  i=$((i + 1))
done
[ "$routes_pause" = 1 ] || skip "pause and resume" "this fkd serves no /pause and /connect yet"
check "the file copied out is the file copied in" cmp "$work/in.txt" "$work/remote/out/copied.txt"
# ls: the same columns but PID (fkd's API has no pid: -), CREATED and EXPIRES (times)
ls_cols() { sed "s/$(cat "$1/id")/ID/" "$1/ls.txt" | awk '{ print $1, $2, $NF }'; }
check "ls: the same ID, STATUS and TEMPLATE" sh -c "[ \"\$1\" = \"\$2\" ] || { echo \"\$1\"; echo \"\$2\"; exit 1; }" \
  _ "$(ls_cols "$work/direct")" "$(ls_cols "$work/remote")"
inspect_fields() {
  python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
j = json.load(open(d + "/inspect.json"))
sid = open(d + "/id").read().strip()
meta = {k: v for k, v in j["metadata"].items()}
print(json.dumps({"id": j["id"] == sid, "status": j["status"], "template": j["template"],
                  "vcpus": j["limits"]["vcpus"], "memory": j["limits"]["memory"],
                  "disk": j["limits"]["disk"], "timeout": abs(j["expires"] - j["created"] - 600) <= 2,
                  "metadata": meta}, sort_keys=True))
PY
}
check "inspect: the same id, status, template, limits, timeout and metadata" sh -c \
  "[ \"\$1\" = \"\$2\" ] || { echo \"\$1\"; echo \"\$2\"; exit 1; }" _ \
  "$(inspect_fields "$work/direct")" "$(inspect_fields "$work/remote")"

# What only the remote way has.
id=$("$FK" "${remote[@]}" create --timeout 600)
on_exit "\"$FK\" rm -f '$id'"
out=$(FIRKIN_API_KEY=e2b_00 "$FK" "${remote[@]}" ls 2>&1); rc=$?
check "a wrong API key: exit 1, said so" sh -c "[ $rc = 1 ] && printf '%s' \"\$1\" | grep -q 'refused the API key'" _ "$out"
out=$(FIRKIN_API_KEY=e2b_00 "$FK" "${remote[@]}" create 2>&1); rc=$?
check "a wrong API key creates nothing" sh -c "[ $rc = 1 ] && [ \$('$FK' ls -q | wc -l) = 1 ]"
dead=$(free_port)
out=$("$FK" --remote "http://127.0.0.1:$dead" exec "$id" -- true 2>&1); rc=$?
check "fkd not running: exit 1, a clear error" sh -c "[ $rc = 1 ] && printf '%s' \"\$1\" | grep -q 'cannot reach fkd at http://127.0.0.1:$dead.*is fkd running'" _ "$out"
out=$(FIRKIN_REMOTE="http://127.0.0.1:$api" FIRKIN_REMOTE_ENVD="http://127.0.0.1:$envd" "$FK" inspect "$id" 2>&1); rc=$?
check "\$FIRKIN_REMOTE does what --remote does" sh -c "[ $rc = 0 ] && printf '%s' \"\$1\" | grep -q '\"pid\": null'" _ "$out"
out=$("$FK" "${remote[@]}" stop "$id" 2>&1); rc=$?
check "a verb fkd cannot serve: exit 2, said so" sh -c "[ $rc = 2 ] && printf '%s' \"\$1\" | grep -q 'stop: not available with --remote'" _ "$out"
out=$("$FK" "${remote[@]}" create --memory 1G 2>&1); rc=$?
check "an option fkd's API cannot carry: refused, said so" sh -c "[ $rc = 1 ] && printf '%s' \"\$1\" | grep -q \"cannot set the sandbox's .resources.memory_bytes'\"" _ "$out"
# Streaming: the first line arrives while the command still runs.
t0=$(date +%s%N)
"$FK" "${remote[@]}" exec "$id" -- sh -c 'echo first; sleep 3; echo second' |
  { read -r l; date +%s%N >"$work/t1"; cat >/dev/null; }
check "exec streams: the first line comes before the command ends" sh -c \
  "[ \$(( (\$(cat '$work/t1') - $t0) / 1000000 )) -lt 2500 ] || { echo \$(( (\$(cat '$work/t1') - $t0) / 1000000 )) ms; exit 1; }"
check "fkd is still up" kill -0 "$fkd_pid"
"$FK" "${remote[@]}" rm -f "$id"
check "fk rm -f through fkd leaves no sandbox" sh -c "[ -z \"\$('$FK' ls -q)\" ]"
done_testing
