#!/usr/bin/env bash
# fkd's listeners and settings: several --listen (TCP and unix:PATH) for each plane, the unix
# socket's mode and its removal on exit, a non-socket file never replaced, --config (key =
# value, flags win, strict errors naming the line), readiness on $NOTIFY_SOCKET, and
# dist/fkd.service checked by systemd-analyze verify.
source "$FIRKIN_SRC/tests/integration/lib.sh"
: "${FKD:?FKD is not set (run through meson)}"
if [ -z "${FK_AGENT:-}" ] || [ ! -x "$FK_AGENT" ]; then
  echo "1..0 # SKIP fk-agent is not built"
  exit 0
fi
export FIRKIN_AGENT=$FK_AGENT
plan 11

tmp=$(mktemp -d /tmp/fkd-listen.XXXXXX)
on_exit "rm -rf '$tmp'"
export FIRKIN_STATE_DIR=$tmp/state
mkdir -p "$FIRKIN_STATE_DIR"
key=e2b_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

# start_fkd NAME ARGS...: fkd in the background until it says it listens; pid in $tmp/NAME.pid.
start_fkd() {
  local name=$1; shift
  "$FKD" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  echo $! >"$tmp/$name.pid"
  on_exit "kill -9 $! 2>/dev/null"
  wait_for grep -q listening "$tmp/$name.out" || { cat "$tmp/$name.err"; return 1; }
}
stop_fkd() { kill -TERM "$(cat "$tmp/$1.pid")"; wait "$(cat "$tmp/$1.pid")" 2>/dev/null; }
api() { curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $key" "$@"; }

p1=$(free_port); p2=$(free_port); pe=$(free_port)
start_fkd multi --api-key "$key" --listen "127.0.0.1:$p1" --listen "127.0.0.1:$p2" \
  --listen "unix:$tmp/api.sock" --envd-listen "127.0.0.1:$pe" --envd-listen "unix:$tmp/envd.sock"
check "the control plane answers on two TCP listeners and a unix socket" \
  sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: $key' http://127.0.0.1:$p1/v2/sandboxes) = 200 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: $key' http://127.0.0.1:$p2/v2/sandboxes) = 200 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: $key' --unix-socket '$tmp/api.sock' http://x/v2/sandboxes) = 200 ]"
check "envd answers on TCP and on a unix socket" \
  sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$pe/health) = 204 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$tmp/envd.sock' http://x/health) = 204 ]"
check "the unix sockets are made with mode 0660 and the readiness line names them all" \
  sh -c "[ \$(stat -c %a '$tmp/api.sock') = 660 ] && [ \$(stat -c %a '$tmp/envd.sock') = 660 ] && grep -q 'listening on 127.0.0.1:$p1, 127.0.0.1:$p2, unix:$tmp/api.sock and 127.0.0.1:$pe, unix:$tmp/envd.sock' '$tmp/multi.out'"
stop_fkd multi
check "SIGTERM: fkd exits and removes its socket files" \
  sh -c "[ ! -e '$tmp/api.sock' ] && [ ! -e '$tmp/envd.sock' ]"

echo precious >"$tmp/file"
"$FKD" --listen "unix:$tmp/file" --envd-listen "127.0.0.1:$(free_port)" >/dev/null 2>"$tmp/file.err"; rc=$?
check "a file that is not a socket is refused, not replaced" \
  sh -c "[ $rc = 1 ] && grep -q 'is not a socket' '$tmp/file.err' && [ \"\$(cat '$tmp/file')\" = precious ]"

pc=$(free_port); pe2=$(free_port)
cat >"$tmp/firkin.conf" <<EOF
# fkd's settings
listen = 127.0.0.1:$pc
envd-listen = 127.0.0.1:$pe2

api-key = e2b_fromconfig
domain = conf.test
log-level = warning
EOF
start_fkd conf --config "$tmp/firkin.conf" --api-key "$key"
check "--config: listeners from the file, the --api-key flag wins over the file's" \
  sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: $key' http://127.0.0.1:$pc/v2/sandboxes) = 200 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: e2b_fromconfig' http://127.0.0.1:$pc/v2/sandboxes) = 401 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: 8080-0123456789ab.conf.test' http://127.0.0.1:$pe2/) = 502 ]"
stop_fkd conf

# bad_conf NAME TEXT PATTERN: fkd refuses the file with exit 2 and a message matching PATTERN.
bad_conf() {
  printf '%b' "$2" >"$tmp/$1.conf"
  local out rc
  # A file fkd would take starts it: `timeout' ends that (rc 124, a failure here).
  out=$(timeout 10 "$FKD" --config "$tmp/$1.conf" --envd-listen 127.0.0.1:0 2>&1); rc=$?
  [ $rc = 2 ] && printf '%s\n' "$out" | grep -q -- "$3" || { echo "rc=$rc: $out"; return 1; }
}
check "--config: an unknown key names the file and the line" \
  bad_conf unknown 'listen = 127.0.0.1:0\n\n# c\nbogus = 1\n' "unknown.conf:4: unknown key \`bogus'"
check "--config: a line without =, an empty value, a key twice, a control character" \
  bash -c "$(declare -f bad_conf); tmp='$tmp' FKD='$FKD'; bad_conf noeq 'listen 127.0.0.1:0\n' 'noeq.conf:1: not' && bad_conf empty 'domain =\n' \"empty.conf:1: \\\`domain' has no value\" && bad_conf twice 'domain = a\ndomain = b\n' \"twice.conf:2: \\\`domain' given twice\" && bad_conf ctl 'domain = a\001b\n' 'ctl.conf:1: a control character'"
check "--config: a bad listen address, a missing file" \
  bash -c "$(declare -f bad_conf); tmp='$tmp' FKD='$FKD'; bad_conf addr 'listen = nowhere\n' 'not ADDR:PORT' && timeout 10 '$FKD' --config '$tmp/none.conf' 2>&1 | grep -q 'none.conf'"

# Readiness on NOTIFY_SOCKET, as systemd's Type=notify reads it.
python3 - "$tmp/notify.sock" >"$tmp/notify.got" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(20)
for _ in range(2):
    print(s.recv(256).decode(), flush=True)
EOF
pypid=$!
on_exit "kill $pypid 2>/dev/null"
wait_for test -S "$tmp/notify.sock"
NOTIFY_SOCKET=$tmp/notify.sock start_fkd notify --listen "127.0.0.1:0" --envd-listen "127.0.0.1:0"
stop_fkd notify
wait $pypid
check "READY=1 once listening and STOPPING=1 on SIGTERM, on \$NOTIFY_SOCKET" \
  sh -c "[ \"\$(cat '$tmp/notify.got')\" = \"\$(printf 'READY=1\nSTOPPING=1')\" ]"

if command -v systemd-analyze >/dev/null 2>&1; then
  sed -e "s|@bindir@/fkd|$FKD|" -e "s|@sysconfdir@|/etc|" "$FIRKIN_SRC/dist/fkd.service.in" >"$tmp/fkd.service"
  check "dist/fkd.service passes systemd-analyze verify" systemd-analyze verify "$tmp/fkd.service"
else
  skip "dist/fkd.service passes systemd-analyze verify" "systemd-analyze is not installed"
fi
done_testing
