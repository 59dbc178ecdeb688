#!/usr/bin/env bash
# The egress data plane (docs/network.md), entirely inside network namespaces this test makes:
# firkin's host side runs in HOST (fk through nsenter), "the internet" in INET, joined to HOST by
# a veth, with an HTTP server, a UDP echo, a sink, a holder of connections and a ticker on
# addresses that exist only there (203.0.113.0/24, 2001:db8::/64, and a private and the metadata
# address to show they stay out of reach). Nothing is sent beyond this machine and nothing is
# added to the machine's own namespace.
. "$FIRKIN_SRC/tests/integration/lib.sh"
: "${FK:?FK is not set (run through meson)}"
if [ "$(id -u)" -ne 0 ]; then echo "1..0 # SKIP needs root (network namespaces)"; exit 0; fi
for t in nsenter ip nft python3 dnsmasq; do
  command -v $t >/dev/null || { echo "1..0 # SKIP $t is missing"; exit 0; }
done
tag=fkne$$
HOST=${tag}h INET=${tag}i
tmp=$(mktemp -d /tmp/fk-net-test.XXXXXX)
on_exit "rm -rf '$tmp'"
on_exit "ip netns del $HOST; ip netns del $INET"
on_exit "for p in \$(cat '$tmp'/pids 2>/dev/null); do kill \$p; done"
ip netns add $HOST && ip netns add $INET || { echo "1..0 # SKIP cannot make network namespaces"; exit 0; }
H="nsenter --net=/run/netns/$HOST"
I="nsenter --net=/run/netns/$INET"
ip link add ${tag}-h netns $HOST type veth peer name ${tag}-i netns $INET
ip -n $INET link set lo up
ip -n $INET link set ${tag}-i up
for a in 203.0.113.1/24 203.0.113.5/24 10.1.2.3/32 169.254.169.254/32; do
  ip -n $INET addr add $a dev ${tag}-i
done
ip -n $INET addr add 2001:db8::1/64 dev ${tag}-i nodad
ip -n $HOST link set lo up
ip -n $HOST link set ${tag}-h up
ip -n $HOST addr add 203.0.113.2/24 dev ${tag}-h
ip -n $HOST addr add 2001:db8::2/64 dev ${tag}-h nodad
ip -n $HOST route add default via 203.0.113.1
ip -n $HOST -6 route add default via 2001:db8::1
# The internet's servers.
mkdir -p "$tmp/www"
echo hello-inet >"$tmp/www/index.html"
cat >"$tmp/servers.py" <<'PY'
import socket, threading, time
def tcp(port, handler):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(64)
    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
def http(c):
    c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello-inet\n"); c.close()
def sink(c):
    while c.recv(65536): pass
    c.close()
def hold(c):
    c.sendall(b"held\n"); c.recv(1); c.close()
def ticker(c):
    try:
        while True:
            c.sendall(b"tick\n"); time.sleep(0.05)
    except OSError:
        pass
tcp(80, http); tcp(9000, sink); tcp(9001, hold); tcp(9002, ticker)
# UDP: a TFTP server's first answer (busybox's tftp is the sandbox's UDP client): any read
# request gets one short DATA block, the whole file.
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", 7000))
while True:
    d, a = u.recvfrom(2048)
    if d[:2] == b"\x00\x01":
        u.sendto(b"\x00\x03\x00\x01hello-udp\n", a)
PY
$I python3 "$tmp/servers.py" &
echo $! >>"$tmp/pids"
# The internet's DNS, which the sandboxes' resolvers ask (FIRKIN_NET_DNS).
$I dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
  --bind-interfaces --listen-address=203.0.113.1 --pid-file="$tmp/dnsmasq.pid" \
  --address=/allowed.test/203.0.113.1 --address=/denied.test/203.0.113.5 2>"$tmp/dnsmasq.err" &
echo $! >>"$tmp/pids"
export FIRKIN_NET_DNS=203.0.113.1
# The resolver hub leaves half a second after it last held a sandbox (checked at the end).
export FIRKIN_RESOLVER_HUB_LINGER_MS=500

# fk runs in HOST: a wrapper, so that sandbox_lib's helpers and cleanups go there too.
FK_REAL=$FK
FK=$tmp/fk
printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s "%s" "$@"\n' "$HOST" "$FK_REAL" >"$FK"
chmod +x "$FK"
. "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
wait_for $I sh -c "ss -ltn | grep -q ':9002 '" || { echo "1..0 # SKIP the fake internet did not start"; exit 0; }

plan 51

# http ID ADDR: the HTTP server at ADDR answers from inside ID; udp and icmp likewise.
http() { in_sb "$1" "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $2 80" 2>/dev/null | grep -q hello-inet; }
udp() { in_sb "$1" "rm -f /tmp/u; timeout 3 tftp -g -r f -l /tmp/u $2 7000; cat /tmp/u" 2>/dev/null | grep -q hello-udp; }
icmp() { in_sb "$1" "ping -c 1 -W 2 $2" >/dev/null 2>&1; }
none_of() { local id=$1 a; shift; for a in "$@"; do http "$id" "$a" && return 1; done; return 0; }
addr4() { "$FK" inspect "$1" | sed -n 's/.*"address4": "\([^"]*\)".*/\1/p'; }
counter() { "$FK" inspect "$1" | sed -n "s/.*\"$2\": \\([0-9]*\\).*/\\1/p"; }
positive() { [ "$(counter "$1" "$2")" -gt 0 ]; }
leftovers() {
  { $H ip -o link show | grep -o 'fkv[0-9]*'
    $H nft list table inet firkin 2>/dev/null | grep -o 'chain sb_[0-9]*_[a-z]*'
    ls "$FIRKIN_STATE_DIR/net/slots" 2>/dev/null
    pgrep -f "fk-resolver --rules $FIRKIN_STATE_DIR/"; } | head -5
}

a=$(new_sandbox --network egress)
check "egress: TCP over IPv4 reaches the fake internet" http "$a" 203.0.113.1
check "egress: TCP over IPv6" http "$a" 2001:db8::1
check "egress: UDP" udp "$a" 203.0.113.1
check "egress: ICMP" icmp "$a" 203.0.113.1
check "/etc/resolv.conf names the sandbox's resolver" \
  sh -c "'$FK' exec '$a' -- cat /etc/resolv.conf | grep -qx 'nameserver 127.0.0.53'"
check "a private address and the metadata address are unreachable by default" \
  none_of "$a" 10.1.2.3 169.254.169.254
host_reached() { in_sb "$a" "nc -w 2 10.88.0.1 22 </dev/null; nc -w 2 203.0.113.2 9 </dev/null; ping -c 1 -W 1 10.88.0.1 >/dev/null && echo ping" 2>/dev/null | grep -q .; }
check "the host's own addresses are unreachable (gateway and uplink)" eval '! host_reached'

b=$(new_sandbox --network egress --allow-out 10.1.2.3 --deny-out 203.0.113.5)
check "allow-out an address reaches a default-denied one" http "$b" 10.1.2.3
denied_b() { ! http "$b" 203.0.113.5 && ! udp "$b" 203.0.113.5 && ! icmp "$b" 203.0.113.5 && http "$b" 203.0.113.1; }
check "deny-out an address: TCP, UDP and ICMP to it are denied, others pass" denied_b
"$FK" rm -f "$b" >/dev/null
c=$(new_sandbox --network egress --deny-out 0.0.0.0/0 --allow-out 203.0.113.0/24)
check "deny 0.0.0.0/0 with allow a CIDR block: allow beats deny" http "$c" 203.0.113.1
check "deny 0.0.0.0/0 denies IPv6 and the rest of IPv4" none_of "$c" 2001:db8::1 10.1.2.3
check "the denied flows are counted" positive "$c" denied_packets

# Names: the sandbox's resolver answers names an allow rule names (and their addresses become
# reachable), and no other while everything else is denied.
f=$(new_sandbox --network egress --deny-out 0.0.0.0/0 --allow-out allowed.test)
# (pgrep from this shell: a child's command line would hold the pattern too.)
resolver_of() { pgrep -f "fk-resolver --rules $FIRKIN_STATE_DIR/sandboxes/$1/" >/dev/null; }
no_resolver_of() { ! resolver_of "$1"; }
check "no resolver runs before the sandbox asks a name (the hub holds its sockets)" no_resolver_of "$f"
check "an allowed name resolves and connects (the first question starts the resolver)" http "$f" allowed.test
check "a resolver runs for the sandbox once it asked" resolver_of "$f"
nx() { in_sb "$f" "nslookup denied.test" >"$tmp/nx.out" 2>&1; ! grep -q 203.0.113.5 "$tmp/nx.out" && grep -qi "NXDOMAIN\|can't find" "$tmp/nx.out"; }
check "a name no rule allows gets NXDOMAIN under deny-all" nx
# A live change of names: the resolver answers by the new rules as soon as they are in force
# (it reads their generation; an answer by the old ones could not enter the new sets).
"$FK" network "$f" --deny-out 0.0.0.0/0 --allow-out denied.test >/dev/null
check "after fk network, a name only the new rules allow resolves and connects" wait_for http "$f" denied.test
nx_old() { in_sb "$f" "nslookup allowed.test" >"$tmp/nx.out" 2>&1; ! grep -q 'Address.*203.0.113.1$' "$tmp/nx.out" && grep -qi "NXDOMAIN\|can't find" "$tmp/nx.out"; }
old_gone() { nx_old && none_of "$f" 203.0.113.1; }
check "and the name the old rules allowed does not resolve, its address unreachable" old_gone
"$FK" rm -f "$f" >/dev/null
check "the resolver stops with its sandbox" wait_for no_resolver_of "$f"
# Rules changed before the first question: the resolver the hub starts reads the new ones.
f=$(new_sandbox --network egress --deny-out 0.0.0.0/0 --allow-out allowed.test)
"$FK" network "$f" --deny-out 0.0.0.0/0 --allow-out denied.test >/dev/null
late_rules() { no_resolver_of "$f" && http "$f" denied.test && nx_old; }
check "fk network before the first question: the resolver starts with the new rules" late_rules
# A burst of questions from a sandbox whose resolver has not started starts one resolver.
g=$(new_sandbox --network egress --allow-out allowed.test)
in_sb "$g" "for i in \$(seq 40); do nslookup allowed.test >/dev/null 2>&1 & done; wait"
one_resolver() { [ "$(pgrep -c -f "fk-resolver --rules $FIRKIN_STATE_DIR/sandboxes/$g/")" = 1 ]; }
check "a burst of 40 first questions starts one resolver" one_resolver
# A hub killed: what it held loses its resolver; the next create starts another hub.
hub_pid() { cat "$FIRKIN_STATE_DIR/net/resolver-hub.pid" 2>/dev/null; }
hub1=$(hub_pid)
check "the resolver hub runs while it holds sandboxes (pid $hub1)" \
  test "$(cat /proc/$hub1/comm 2>/dev/null)" = fk-resolver-hub
[ -n "$hub1" ] && kill -9 "$hub1"
"$FK" rm -f "$f" "$g" >/dev/null
f=$(new_sandbox --network egress --allow-out allowed.test)
new_hub() { [ -n "$(hub_pid)" ] && [ "$(hub_pid)" != "$hub1" ] && http "$f" allowed.test; }
check "after the resolver hub was killed, a new sandbox's names resolve (a new hub)" new_hub
"$FK" rm -f "$f" >/dev/null

# A live change: a connection opened before a deny is cut, and the change goes back.
in_sb "$a" "nc 203.0.113.1 9002 >/tmp/ticks 2>/dev/null &"
wait_for in_sb "$a" "test -s /tmp/ticks"
"$FK" network "$a" --deny-out 203.0.113.0/24 >/dev/null 2>"$tmp/net.err"
sleep 0.2
n1=$(in_sb "$a" "wc -c </tmp/ticks")
sleep 0.5
n2=$(in_sb "$a" "wc -c </tmp/ticks")
check "fk network: a new flow the new rules deny is denied" none_of "$a" 203.0.113.1
check "fk network: an open connection the new rules deny gets nothing more ($n1 -> $n2 bytes)" \
  test "$n1" = "$n2"
"$FK" network "$a" >/dev/null
check "fk network with no rule: reachable again" http "$a" 203.0.113.1
bad_network() {
  ! "$FK" network "$a" --deny-out 10.0.0.0/33 2>"$tmp/bad.err" && grep -q '10.0.0.0/33' "$tmp/bad.err" \
    && "$FK" inspect "$a" | grep -q '"deny_out": \[\]'
}
check "fk network: a bad rule is refused, the rules stay" bad_network
check "without --max-connections the default limit holds, shown by fk inspect" \
  sh -c "'$FK' inspect '$a' | grep -q '\"max_connections\": 4096'"
bad_create() {
  local n; n=$("$FK" ls -q | wc -l)
  ! "$FK" create --rootfs "$rootfs" --network egress --allow-out 'a b.com' 2>"$tmp/bad2.err" \
    && grep -q 'a b.com' "$tmp/bad2.err" && [ "$("$FK" ls -q | wc -l)" = "$n" ]
}
check "fk create with a bad rule: a clear error, nothing made" bad_create

# Two sandboxes: not each other's unless allowed.
d=$(new_sandbox --network egress)
in_sb "$d" "echo hello-inet >/tmp/index.html; httpd -p 80 -h /tmp" >/dev/null
da=$(addr4 "$d")
check "one sandbox cannot reach another" none_of "$a" "$da"
"$FK" network "$a" --allow-out "$da" >/dev/null
check "... unless its rules allow the other's address" http "$a" "$da"
"$FK" network "$a" >/dev/null

# fk port reaches a port inside an egress sandbox from the host.
in_sb "$a" "echo hello-port >/tmp/p.html; httpd -p 8080 -h /tmp" >/dev/null
"$FK" port "$a" 8080 >"$tmp/port.out" 2>&1 &
echo $! >>"$tmp/pids"
wait_for grep -q forwarding "$tmp/port.out"
paddr=$(sed -n 's/^fk: forwarding \([^ ]*\) -> .*/\1/p' "$tmp/port.out")
port_get() {
  $H python3 -c "
import socket, sys
h, p = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((h, int(p)), 3)
s.sendall(b'GET /p.html HTTP/1.0\\r\\n\\r\\n')
print(s.makefile('rb').read().decode())" "$paddr" | grep -q hello-port
}
check "fk port forwards host connections into an egress sandbox ($paddr)" port_get

# Spoofing: an address the sandbox was not given (added from the host, as code with
# CAP_NET_ADMIN in its namespace could) gets nothing through.
apid=$(host_pid "$a")
nsenter --net=/proc/$apid/ns/net ip addr add 10.88.200.200/32 dev eth0
spoofed() {
  nsenter --net=/proc/$apid/ns/net python3 -c "import socket; s=socket.socket(); s.settimeout(2); s.bind(('10.88.200.200',0)); s.connect(('203.0.113.1',80))" 2>/dev/null
}
check "a spoofed source address is dropped" eval '! spoofed'

# Limits.
e=$(new_sandbox --network egress --egress-rate 512K --max-connections 2)
t0=$(date +%s%N)
in_sb "$e" "dd if=/dev/zero bs=64k count=24 2>/dev/null | nc -w 5 203.0.113.1 9000" >/dev/null 2>&1
ms=$((($(date +%s%N) - t0) / 1000000))
# 3 s at the rate, less what the socket buffers hold when nc is done (unlimited: ~10 ms).
check "--egress-rate 512K: 1.5 MiB take over 0.8 s ($ms ms)" test "$ms" -gt 800
in_sb "$e" "sleep 30 | nc 203.0.113.1 9001 >/dev/null 2>&1 & sleep 30 | nc 203.0.113.1 9001 >/dev/null 2>&1 &"
sleep 0.3
check "--max-connections 2: a third connection is refused" none_of "$e" 203.0.113.1
check "fk inspect counts the limited packets" positive "$e" limited_packets

# fkd --network egress: E2B's network on create, PUT /sandboxes/{id}/network, the rules in GET.
if [ -n "${FKD:-}" ] && [ -x "$FKD" ] && command -v curl >/dev/null \
  && "$FIRKIN_SRC/tests/e2b/template.sh" "$FK" >/dev/null 2>"$tmp/template.err"; then
  api=$(free_port)
  envd=$(free_port)
  # With a warm pool of egress sandboxes: creates lease them and set their rules; forks too.
  $H "$FKD" --listen "127.0.0.1:$api" --envd-listen "127.0.0.1:$envd" --network egress \
    --warm-pool 2 --warm-template base --log-level info >"$tmp/fkd.out" 2>"$tmp/fkd.err" &
  echo $! >>"$tmp/pids"
  wait_for grep -q listening "$tmp/fkd.out" || diag "$(cat "$tmp/fkd.err")"
  wait_for grep -q 'warm pool: 2 sandboxes' "$tmp/fkd.err" || diag "$(cat "$tmp/fkd.err")"
  api_call() { # METHOD PATH [BODY]: prints the status, then the body
    $H curl -s -o "$tmp/api.out" -w '%{http_code}\n' -X "$1" -H 'Content-Type: application/json' \
      ${3:+--data "$3"} "http://127.0.0.1:$api$2"
    cat "$tmp/api.out"
  }
  out=$(api_call POST /sandboxes '{"templateID": "base", "network": {"denyOut": ["203.0.113.5"]}}')
  g=$(printf '%s' "$out" | sed -n 's/.*"sandboxID": *"\([^"]*\)".*/\1/p')
  fkd_rules() { http "$g" 203.0.113.1 && ! http "$g" 203.0.113.5; }
  check "fkd: POST /sandboxes with network.denyOut: the rule holds ($g)" fkd_rules
  kid=$(api_call POST "/sandboxes/$g/fork" '{"count":1}' | tail -n +2 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["sandbox"]["sandboxID"])' 2>/dev/null)
  kid_rules() {
    [ -n "$kid" ] && http "$kid" 203.0.113.1 && ! http "$kid" 203.0.113.5 \
      && "$FK" inspect "$kid" | grep -q '203.0.113.5' \
      && grep -q "forked sandbox $g 1 times (1 from the warm pool)" "$tmp/fkd.err"
  }
  check "fkd: a fork from the warm pool holds its source's rules ($kid)" kid_rules
  check "fkd: GET /sandboxes/ID shows the rules" \
    sh -c "printf '%s' \"\$($(declare -f api_call); H='$H'; tmp='$tmp'; api=$api; api_call GET /sandboxes/$g)\" | grep -q '\"denyOut\": *\[\"203.0.113.5\"\]'"
  put=$(api_call PUT "/sandboxes/$g/network" '{"denyOut": ["0.0.0.0/0"]}' | head -1)
  check "fkd: PUT /sandboxes/ID/network replaces the rules live ($put)" \
    sh -c "[ '$put' = 204 ] && ! { $(declare -f http in_sb); FK='$FK'; http '$g' 203.0.113.1; }"
  api_call PUT "/sandboxes/$g/network" '{"denyOut": ["10.0.0.0/33"]}' >"$tmp/bad.out"
  bad_put() { [ "$(head -1 "$tmp/bad.out")" = 400 ] && grep -q 10.0.0.0/33 "$tmp/bad.out"; }
  check "fkd: a bad rule is a 400 naming it" bad_put
  out=$(api_call POST /sandboxes '{"templateID": "base", "allow_internet_access": false, "network": {"allowOut": ["203.0.113.1"]}}')
  h=$(printf '%s' "$out" | sed -n 's/.*"sandboxID": *"\([^"]*\)".*/\1/p')
  no_inet() { http "$h" 203.0.113.1 && ! http "$h" 203.0.113.5 && ! http "$h" 2001:db8::1; }
  check "fkd: allow_internet_access false denies all but allowOut ($h)" no_inet
  bad=$(api_call POST /sandboxes '{"templateID": "base", "network": {"allowOut": ["a b.com"]}}' | head -1)
  check "fkd: a create with a bad rule is a 400 ($bad)" test "$bad" = 400
  kill "$(tail -1 "$tmp/pids")" 2>/dev/null
  check "fkd's sandboxes are removable, their planes with them" sh -c "'$FK' rm -f $g $h $kid >/dev/null"
else
  for i in 1 2 3 4 5 6 7 8; do skip "fkd --network egress case $i" "no fkd, curl or template"; done
fi

# A sandbox killed mid-transfer leaves nothing.
"$FK" exec "$e" -- sh -c "dd if=/dev/zero bs=64k count=10000 2>/dev/null | nc 203.0.113.1 9000" >/dev/null 2>&1 &
sleep 0.3
eslot=$("$FK" inspect "$e" | sed -n 's/.*"interface": "\([^"]*\)".*/\1/p')
kill -9 "$(host_pid "$e")"
wait_for sh -c "! '$FK' ls -q | grep -q '$e'"
gone() {
  ! $H ip -o link show | grep -q "$eslot[@:]" \
    && ! $H nft list table inet firkin | grep -q "chain sb_${eslot#fkv}_" \
    && [ ! -e "$FIRKIN_STATE_DIR/net/slots/${eslot#fkv}" ]
}
check "a sandbox killed mid-transfer: its interface, chains and slot go with it ($eslot)" gone
for s in $("$FK" ls -q); do "$FK" rm -f "$s" >/dev/null; done
check "after the deletes: no interface, chain or slot left" test -z "$(leftovers)"

# 200 create/delete cycles.
for i in $(seq 200); do
  id=$("$FK" create --rootfs "$rootfs" --network egress) && "$FK" rm -f "$id" >/dev/null || break
done
left=$(leftovers)
check "200 create/delete cycles: $i done, nothing left ($left)" test "$i:$left" = "200:"
hub2=$(hub_pid)
hub_fds() { ls "/proc/$hub2/fd" 2>/dev/null | wc -l; }
# Its own: stdin, stdout, its log, its socket, its directory, the lock, a signalfd, an epoll.
check "after them the hub holds no descriptor of theirs ($(hub_fds) open)" test "$(hub_fds)" -le 8
hub_gone() { [ ! -e /proc/$hub2 ] && [ -z "$(hub_pid)" ] && [ ! -e "$FIRKIN_STATE_DIR/net/resolver-hub.sock" ]; }
hub_leaves() { [ -n "$hub2" ] && wait_for hub_gone; }
check "the resolver hub leaves once it holds nothing (pid $hub2)" hub_leaves
# A hub that leaves at once when it holds nothing: every create races one leaving or gone.
race() {
  local i id
  for i in $(seq 15); do
    id=$(FIRKIN_RESOLVER_HUB_LINGER_MS=0 "$FK" create --rootfs "$rootfs" --network egress --allow-out allowed.test) || return 1
    in_sb "$id" "nslookup allowed.test" 2>/dev/null | grep -q 203.0.113.1 || { echo "no answer in $id"; return 1; }
    "$FK" rm -f "$id" >/dev/null
  done
}
check "15 creates each racing a hub that leaves at once: every first question answered" race
hub_pid_gone() { [ -z "$(hub_pid)" ]; }
check "and the last of those hubs is gone too" wait_for hub_pid_gone
done_testing
