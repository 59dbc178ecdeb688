#!/usr/bin/env bash
# fk port: host connections forwarded to TCP ports inside a sandbox with only a loopback (the
# `none' data plane): busybox httpd reached over TCP and over a unix socket, half-closes both
# ways (nc -e wc inside), a closed port's clear error, the host's own loopback out of reach,
# bad input.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 10

tmp=$(mktemp -d /tmp/fk-port-test.XXXXXX)
on_exit "rm -rf '$tmp'"
id=$(new_sandbox)
"$FK" exec "$id" -- sh -c 'mkdir -p /www && echo "hello from inside" > /www/index.html && httpd -p 127.0.0.1:8080 -h /www'
"$FK" exec "$id" -- sh -c 'setsid nc -l -p 7000 -e wc -c >/dev/null 2>&1 </dev/null &'

# fk_port NAME ARGS...: starts `fk port ARGS' in the background; its address is in $tmp/NAME.addr.
fk_port() {
  local name=$1; shift
  "$FK" port "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  echo $! >"$tmp/$name.pid"
  on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
  wait_for grep -q forwarding "$tmp/$name.out" || { cat "$tmp/$name.err"; return 1; }
  sed -n 's/^fk: forwarding \([^ ]*\) -> .*/\1/p' "$tmp/$name.out" >"$tmp/$name.addr"
}

fk_port web "$id" 8080
addr=$(cat "$tmp/web.addr")
check "an HTTP server inside, reached through fk port (TCP)" \
  sh -c "curl -sf --max-time 10 http://$addr/ | grep -qx 'hello from inside'"
check "several connections at once" \
  sh -c "for i in 1 2 3 4 5 6 7 8; do curl -sf --max-time 10 http://$addr/ >/dev/null & done; wait; for i in 1 2 3; do curl -sf --max-time 10 http://$addr/ | grep -q hello || exit 1; done"

fk_port unix "$id" 8080 --listen "unix:$tmp/web.sock"
check "over a unix socket, mode 0660" \
  sh -c "[ \$(stat -c %a '$tmp/web.sock') = 660 ] && curl -sf --max-time 10 --unix-socket '$tmp/web.sock' http://x/ | grep -qx 'hello from inside'"
kill "$(cat "$tmp/unix.pid")"; wait "$(cat "$tmp/unix.pid")" 2>/dev/null
check "the socket file is removed on exit" test ! -e "$tmp/web.sock"

# Half-close: the client ends its side, the server inside reads EOF, answers, closes.
fk_port nc "$id" 7000 --once
check "half-close passed both ways (100000 bytes, then EOF, then the count back)" \
  python3 -c "
import socket, sys
h, p = '$(cat "$tmp/nc.addr")'.rsplit(':', 1)
s = socket.create_connection((h, int(p)), timeout=10)
s.sendall(b'x' * 100000)
s.shutdown(socket.SHUT_WR)
got = b''
while True:
    b = s.recv(65536)
    if not b: break
    got += b
sys.exit(0 if got.strip() == b'100000' else print(got) or 1)"

fk_port closed "$id" 9 --once
curl -s --max-time 10 "http://$(cat "$tmp/closed.addr")/" >/dev/null
wait "$(cat "$tmp/closed.pid")"; rc=$?
check "a closed port: the connection is closed, a clear error, exit 1" \
  sh -c "[ $rc = 1 ] && grep -q 'port 9: connection to port 9 refused' '$tmp/closed.err'"

# The sandbox's loopback is not the host's: a server on the host's 127.0.0.1 is out of reach.
hp=$(free_port)
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $hp)); s.listen(4); time.sleep(60)" &
hostsrv=$!
on_exit "kill $hostsrv"
wait_for sh -c "ss -ltn | grep -q ':$hp '"
fk_port host "$id" "$hp" --once
curl -s --max-time 10 "http://$(cat "$tmp/host.addr")/" >/dev/null
wait "$(cat "$tmp/host.pid")"; rc=$?
check "a port open only on the host's loopback is refused (the agent connects inside)" \
  sh -c "[ $rc = 1 ] && grep -q refused '$tmp/host.err'"
kill $hostsrv 2>/dev/null

echo keep >"$tmp/file"
check "--listen unix: refuses to replace a file that is not a socket" \
  sh -c "'$FK' port $id 8080 --listen unix:$tmp/file 2>&1 | grep -q 'is not a socket' && [ \"\$(cat '$tmp/file')\" = keep ]"
check "bad input: port 0, 70000, a bad --listen, an unknown sandbox" \
  sh -c "'$FK' port $id 0 2>&1 | grep -q 'not a port' && '$FK' port $id 70000 2>&1 | grep -q 'not a port' && '$FK' port $id 80 --listen nonsense 2>&1 | grep -q 'not ADDR:PORT' && ! '$FK' port nosuchid 80 2>/dev/null"
check "fk --help lists port; fk port --help" \
  sh -c "'$FK' --help | grep -q '^  port ' && '$FK' port --help | grep -q 'usage: fk port'"
done_testing
