#!/usr/bin/env bash
# fkd against bad input over HTTP: each answer has the status and the JSON error body the SDK
# expects, and fkd is still up at the end. fkd, its sandbox and state dir go when the test ends.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
if [ -z "${FKD:-}" ] || [ ! -x "$FKD" ]; then
  echo "1..0 # SKIP fkd is not built"
  exit 0
fi
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }
plan 54
"$FIRKIN_SRC/tests/e2b/template.sh" "$FK" >/dev/null
api=$(free_port)
envd=$(free_port)
key=e2b_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
work=$(mktemp -d /tmp/fkd-bad.XXXXXX)
on_exit "rm -rf '$work'"
"$FKD" --listen "127.0.0.1:$api" --envd-listen "127.0.0.1:$envd" --api-key "$key" \
  >"$work/fkd.out" 2>"$work/fkd.err" &
fkd_pid=$!
on_exit "kill -9 $fkd_pid"
wait_for grep -q listening "$work/fkd.out" || { diag "$(cat "$work/fkd.err")"; }

A=http://127.0.0.1:$api
E=http://127.0.0.1:$envd
# req ARGS...: curl printing the body then the status on its own line.
req() { curl -s -o "$work/body" -w '%{http_code}' "$@"; echo; cat "$work/body" >"$work/last"; }
# expect STATUS JSONKEY ARGS...: the status, and a JSON body whose `code' is there.
expect() {
  local want=$1; shift
  local got
  got=$(curl -s -o "$work/body" -w '%{http_code}' "$@")
  [ "$got" = "$want" ] || { echo "status $got, want $want: $(head -c 300 "$work/body")"; return 1; }
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert "code" in j and isinstance(j.get("message"),str), j' "$work/body"
}
json=(-H 'Content-Type: application/json' -H "X-API-Key: $key")

out=$(curl -s "${json[@]}" -d '{"templateID":"base","timeout":60}' "$A/sandboxes")
id=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxID"])')
tok=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["envdAccessToken"])')
check "a sandbox to aim at" test -n "$id"
sb=(-H "E2b-Sandbox-Id: $id" -H "X-Access-Token: $tok")

check "malformed JSON: 400" expect 400 "${json[@]}" -d '{"templateID":' "$A/sandboxes"
check "a field of the wrong type: 400" expect 400 "${json[@]}" -d '{"timeout":"soon"}' "$A/sandboxes"
check "a wrong content type: 415" expect 415 -H "X-API-Key: $key" -H 'Content-Type: text/plain' \
  -d '{}' "$A/sandboxes"
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' >"$work/big"
check "a body over the limit: 413" expect 413 "${json[@]}" --data-binary "@$work/big" "$A/sandboxes"
check "a header over the limit: 4xx, fkd up" sh -c "code=\$(curl -s -o /dev/null -w '%{http_code}' \
  -H \"X-Big: \$(head -c 100000 /dev/zero | tr '\\\\0' a)\" '$A/sandboxes'); echo \$code; \
  [ \"\$code\" -ge 400 ] && [ \"\$code\" -lt 500 ]"
check "a wrong API key: 401" expect 401 -H 'X-API-Key: e2b_00' "$A/sandboxes"
check "no API key: 401" expect 401 "$A/v2/sandboxes"
check "an unknown sandbox on the control plane: 404" expect 404 -H "X-API-Key: $key" \
  "$A/sandboxes/000000000000"
check "an unknown sandbox on envd: 502" expect 502 -H 'E2b-Sandbox-Id: 000000000000' \
  "$E/files?path=/etc/passwd"
check "a wrong access token: 401" expect 401 -H "E2b-Sandbox-Id: $id" -H 'X-Access-Token: nope' \
  "$E/files?path=/etc/passwd"
printf '\000\000\000\020\000{}' >"$work/liar"
check "an envelope whose length lies: 400" expect 400 "${sb[@]}" \
  -H 'Content-Type: application/connect+json' --data-binary "@$work/liar" \
  "$E/process.Process/Start"
check "Start with a wrong content type: 415" expect 415 "${sb[@]}" \
  -H 'Content-Type: application/json' -d '{}' "$E/process.Process/Start"
marker=$(mktemp /tmp/fkd-host-marker.XXXXXX)
on_exit "rm -f '$marker'"
check "a path outside the sandbox stays inside it: 404" expect 404 "${sb[@]}" \
  "$E/files?path=/../../../..$marker"
fs=(-H 'Content-Type: application/json')
check "an unknown Filesystem method: 404 unimplemented" sh -c "$(declare -f expect); work='$work'; \
  expect 404 $(printf "'%s' " "${sb[@]}" "${fs[@]}") -d '{}' '$E/filesystem.Filesystem/WatchDirX' \
  && grep -q unimplemented '$work/body'"
check "an unknown Process method: 404" expect 404 "${sb[@]}" "${fs[@]}" -d '{}' \
  "$E/process.Process/Nope"
check "Stat with malformed JSON: 400" expect 400 "${sb[@]}" "${fs[@]}" -d '{"path":' \
  "$E/filesystem.Filesystem/Stat"
check "Stat with a wrong content type: 415" expect 415 "${sb[@]}" -H 'Content-Type: text/plain' \
  -d '{"path":"/"}' "$E/filesystem.Filesystem/Stat"
check "ListDir with a depth that is not a number: 400" expect 400 "${sb[@]}" "${fs[@]}" \
  -d '{"path":"/","depth":"deep"}' "$E/filesystem.Filesystem/ListDir"
check "SendSignal with an unknown signal: 400" expect 400 "${sb[@]}" "${fs[@]}" \
  -d '{"process":{"pid":1},"signal":"SIGNAL_SIGHUP"}' "$E/process.Process/SendSignal"
check "SendSignal to a pid that is not there: 404" expect 404 "${sb[@]}" "${fs[@]}" \
  -d '{"process":{"pid":99999},"signal":"SIGNAL_SIGKILL"}' "$E/process.Process/SendSignal"
check "Stat of a host path outside the sandbox: 404" expect 404 "${sb[@]}" "${fs[@]}" \
  -d "{\"path\":\"/../../../..$marker\"}" "$E/filesystem.Filesystem/Stat"
check "Remove of a host path outside the sandbox: 404, the host file stays" sh -c "\
  [ \"\$(curl -s -o /dev/null -w '%{http_code}' $(printf "'%s' " "${sb[@]}" "${fs[@]}") \
  -d '{\"path\":\"/../../../..$marker\"}' '$E/filesystem.Filesystem/Remove')\" = 404 ] && test -e '$marker'"
escape=$(mktemp -u /tmp/fkd-escape.XXXXXX)
check "MakeDir of ../..: made inside the sandbox, not on the host" sh -c "\
  [ \"\$(curl -s -o /dev/null -w '%{http_code}' $(printf "'%s' " "${sb[@]}" "${fs[@]}") \
  -d '{\"path\":\"/../../../..$escape\"}' '$E/filesystem.Filesystem/MakeDir')\" = 200 ] && ! test -e '$escape'"
check "SendInput that is not base64: 400" expect 400 "${sb[@]}" "${fs[@]}" \
  -d '{"process":{"pid":1},"input":{"stdin":"not base64!"}}' "$E/process.Process/SendInput"
check "SendInput to a pid that is not there: 404" expect 404 "${sb[@]}" "${fs[@]}" \
  -d '{"process":{"pid":99999},"input":{"stdin":"aGkK"}}' "$E/process.Process/SendInput"
check "CloseStdin without a selector: 400" expect 400 "${sb[@]}" "${fs[@]}" \
  -d '{"process":{}}' "$E/process.Process/CloseStdin"
python3 -c 'import sys,struct; m=b"{\"process\":{\"pid\":99999}}"; sys.stdout.buffer.write(b"\0"+struct.pack(">I",len(m))+m)' >"$work/connect"
check "Connect to a pid that is not there: the stream ends with not_found" sh -c "\
  curl -s $(printf "'%s' " "${sb[@]}") -H 'Content-Type: application/connect+json' \
  --data-binary '@$work/connect' '$E/process.Process/Connect' | grep -a -q '\"code\":\"not_found\"'"
# --- Attacks from inside: the sandbox's code plants symlinks aimed at host paths; fkd's file
# calls go through the agent, inside the sandbox's root, so they reach nothing of the host.
echo "HOSTSECRET-$$" >"$work/secret"
mkdir -p "$work/hostdir" "$work/hostlist" && touch "$work/hostlist/hostonly-$$"
"$FK" exec "$id" -- sh -c "ln -s '$work/secret' /tmp/abs; ln -s '../../../../../../../..$work/secret' /tmp/rel; \
  ln -s '$work/planted' /tmp/wlink; ln -s '$work/hostdir' /tmp/dlink; ln -s '$work/hostlist' /tmp/llink"
check "GET /files through a planted absolute or relative link: no host bytes" sh -c "\
  for l in abs rel; do curl -s $(printf "'%s' " "${sb[@]}") \"$E/files?path=/tmp/\$l\" | grep -q HOSTSECRET && exit 1; done; exit 0"
printf 'from-fkd' >"$work/payload"
curl -s -o /dev/null "${sb[@]}" -H 'Content-Type: application/octet-stream' \
  --data-binary "@$work/payload" "$E/files?path=/tmp/wlink"
curl -s -o /dev/null "${sb[@]}" -H 'Content-Type: application/octet-stream' \
  --data-binary "@$work/payload" "$E/files?path=/tmp/dlink/x"
check "POST /files through a planted link: the host path is not written" \
  sh -c "[ ! -e '$work/planted' ] && [ -z \"\$(ls -A '$work/hostdir')\" ] && [ \"\$(cat '$work/secret')\" = 'HOSTSECRET-$$' ]"
check "ListDir of a planted link to a host dir lists nothing of the host" sh -c "\
  curl -s $(printf "'%s' " "${sb[@]}") -H 'Content-Type: application/json' -d '{\"path\":\"/tmp/llink\",\"depth\":1}' \
  '$E/filesystem.Filesystem/ListDir' | grep -q hostonly && exit 1; exit 0"
# --- The lifecycle, metrics and logs routes.
k=(-H "X-API-Key: $key")
check "pause of an unknown sandbox: 404" expect 404 "${json[@]}" -d '{}' "$A/sandboxes/000000000000/pause"
check "pause: 204" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-API-Key: $key' '$A/sandboxes/$id/pause')\" = 204 ]"
check "pause twice: 409" expect 409 "${k[@]}" -X POST "$A/sandboxes/$id/pause"
check "envd of a paused sandbox: 502" expect 502 "${sb[@]}" "$E/metrics"
check "pause with memory not a boolean: 400" expect 400 "${json[@]}" -d '{"memory":"no"}' "$A/sandboxes/$id/pause"
check "connect with malformed JSON: 400" expect 400 "${json[@]}" -d '{"timeout":' "$A/v2/sandboxes/$id/connect"
check "connect with a wrong content type: 415" expect 415 "${k[@]}" -H 'Content-Type: text/plain' \
  -d '{"timeout":5}' "$A/sandboxes/$id/connect"
check "connect with a timeout of 0: 400" expect 400 "${json[@]}" -d '{"timeout":0}' "$A/sandboxes/$id/connect"
check "connect with a wrong API key: 401" expect 401 -H 'X-API-Key: e2b_00' -X POST "$A/sandboxes/$id/connect"
check "connect of an unknown sandbox: 404" expect 404 "${json[@]}" -d '{}' "$A/v2/sandboxes/000000000000/connect"
check "connect resumes it: 201" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $(printf "'%s' " "${json[@]}") -d '{\"timeout\":60}' '$A/v2/sandboxes/$id/connect')\" = 201 ]"
check "refresh with a duration of the wrong type: 400" expect 400 "${json[@]}" -d '{"duration":"long"}' \
  "$A/sandboxes/$id/refreshes"
check "refresh of an unknown sandbox: 404" expect 404 "${json[@]}" -d '{}' "$A/sandboxes/000000000000/refreshes"
check "metrics of an unknown sandbox: 404" expect 404 "${k[@]}" "$A/sandboxes/000000000000/metrics"
check "metrics with a start that is not a number: 400" expect 400 "${k[@]}" "$A/sandboxes/$id/metrics?start=soon"
check "the metrics map without ids: 400" expect 400 "${k[@]}" "$A/sandboxes/metrics"
check "the metrics map with a bad id: 400" expect 400 "${k[@]}" "$A/sandboxes/metrics?sandbox_ids=a,../b"
check "logs of an unknown sandbox: 404" expect 404 "${k[@]}" "$A/sandboxes/000000000000/logs"
check "logs with a limit over 1000: 400" expect 400 "${k[@]}" "$A/v2/sandboxes/$id/logs?limit=5000"
check "logs with a bad direction: 400" expect 400 "${k[@]}" "$A/v2/sandboxes/$id/logs?direction=sideways"
check "envd /metrics with a wrong token: 401" expect 401 -H "E2b-Sandbox-Id: $id" -H 'X-Access-Token: nope' "$E/metrics"
# The events fkd serves as logs are the library's, in the host's state dir: nothing the
# sandbox writes reaches them.
"$FK" exec "$id" -- sh -c 'printf "1 created forged\n" > /events; mkdir -p /tmp/events' 2>/dev/null
check "a sandbox cannot forge its logs" sh -c "curl -s -H 'X-API-Key: $key' '$A/sandboxes/$id/logs' | grep -q forged && exit 1; exit 0"
check "fkd is still up and answers" sh -c "kill -0 $fkd_pid && [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$E/health')\" = 204 ]"
kill -TERM "$fkd_pid"
wait "$fkd_pid" 2>/dev/null
done_testing
