#!/usr/bin/env bash
# fk-resolver, the egress sandbox's DNS resolver, started through the library
# (fk_resolver_spawn) entirely inside namespaces this test makes: "up" plays the internet's DNS
# (dnsmasq on addresses that exist only there), "host" stands for the host side (the resolver's
# upstream socket and the nftables sets live there), "sb" for the sandbox (only lo; the resolver
# listens on 127.0.0.53 there). Never a packet beyond them; nothing left behind.
source "$FIRKIN_SRC/tests/integration/lib.sh"
plan 40

if [ "$(id -u)" != 0 ] || ! command -v dnsmasq >/dev/null || ! command -v nft >/dev/null; then
  for i in $(seq 40); do skip "resolver case $i" "needs root, dnsmasq and nft"; done
  done_testing
fi
SPAWN=${FK_RESOLVER_SPAWN:-$FIRKIN_BUILD/tests/integration/resolver_spawn}
export FIRKIN_RESOLVER=${FIRKIN_RESOLVER:-$FIRKIN_BUILD/src/lib/net/fk-resolver}
DNSQ="/usr/bin/python3 $FIRKIN_SRC/tests/integration/dnsq.py"
tmp=$(mktemp -d /tmp/fk-resolver-test.XXXXXX)
on_exit "rm -rf '$tmp'"
UP=fkr-up-$$ HOST=fkr-host-$$ SB=fkr-sb-$$ SB2=fkr-sb2-$$
inn() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }
for ns in $UP $HOST $SB $SB2; do
  ip netns add "$ns"
  on_exit "ip netns del $ns"
  # SB2's lo stays down: the resolver sets it up to bind 127.0.0.53.
  [ $ns = $SB2 ] || inn "$ns" ip link set lo up
done
# The link host <-> up is made inside the host namespace, never in the machine's own.
inn $HOST ip link add h0 type veth peer name u0 netns $UP
inn $HOST ip addr add 198.51.100.2/24 dev h0
inn $HOST ip -6 addr add 2001:db8:53::2/64 dev h0 nodad
inn $HOST ip link set h0 up
inn $UP ip addr add 198.51.100.1/24 dev u0
inn $UP ip -6 addr add 2001:db8:53::1/64 dev u0 nodad
inn $UP ip link set u0 up
inn $HOST nft -f - <<'NFT'
table inet firkin {
  set sb_1_dns4 { type ipv4_addr; flags timeout; }
  set sb_1_dns6 { type ipv6_addr; flags timeout; }
}
NFT
# Not through inn (a function would run in a subshell): $! must be dnsmasq itself, which
# nsenter becomes.
nsenter --net=/run/netns/$UP dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
  --bind-interfaces --listen-address=198.51.100.1 --listen-address=2001:db8:53::1 \
  --pid-file="$tmp/dnsmasq.pid" --local-ttl=300 \
  --address=/allowed.test/203.0.113.7 --address=/allowed.test/2001:db8::7 \
  --address=/wild.test/203.0.113.8 --address=/denied.test/203.0.113.66 \
  --host-record=target.other.test,203.0.113.9,1 --cname=cname.ok.test,target.other.test \
  --host-record=long.test,203.0.113.10,7200 --address=/rebind.test/169.254.169.254 \
  --address=/rebind.test/10.1.2.3 --address=/rebind.test/203.0.113.11 2>"$tmp/dnsmasq.err" &
dnsmasq_pid=$!
on_exit "kill $dnsmasq_pid; wait $dnsmasq_pid"
# The sandbox's PID 1.
setsid sleep 1000 </dev/null >/dev/null 2>&1 &
pid1=$!
on_exit "kill $pid1"

q() { inn $SB $DNSQ 127.0.0.53 "$@"; }
set4() { inn $HOST nft list set inet firkin sb_1_dns4; }
set6() { inn $HOST nft list set inet firkin sb_1_dns6; }
rules() { "$SPAWN" --rules "$tmp/rules" "$@"; }
log="$tmp/resolver.log"
[ -n "${FKR_KEEP_LOG:-}" ] && on_exit "cp $tmp/resolver.log $FKR_KEEP_LOG"
# A dead first upstream (no route to it in "host": it fails at once) before the real ones.
ups="192.0.2.99 198.51.100.1 2001:db8:53::1"
dnsmasq_up() { inn $UP ss -Hlnu | grep -q '198.51.100.1:53' && inn $UP ss -Hlnu | grep -q '2001:db8:53::1\]:53'; }
wait_for dnsmasq_up || diag "dnsmasq: $(cat "$tmp/dnsmasq.err")"

rules allow allowed.test allow '*.wild.test' allow cname.ok.test allow long.test allow rebind.test \
  allow 10.1.0.0/16 deny 0.0.0.0/0
if pid=$(FIRKIN_LOG=info inn $HOST "$SPAWN" /run/netns/$SB $pid1 "$tmp/rules" "inet firkin" sb_1_dns4 sb_1_dns6 \
  "$ups" "$log" 2>"$tmp/spawn.err") && kill -0 "$pid"; then
  ok "fk_resolver_spawn starts fk-resolver with its sockets bound and returns without waiting for it (pid $pid)"
else
  fail "fk_resolver_spawn starts fk-resolver"; diag "$(cat "$tmp/spawn.err" "$log" 2>/dev/null)"
  pid=
fi
on_exit "[ -n '$pid' ] && kill $pid"

st=/proc/$pid/status
# Its first question waits in its socket until it reads it (the spawn did not wait for it).
out=$(q allowed.test A 2>&1)
check "the first question, sent at once, is answered: $out" test "$out" = "0 203.0.113.7/300"
check "it keeps only CAP_NET_ADMIN, under no_new_privs and seccomp" \
  sh -c "grep -q '^CapEff:.*0000000000001000$' $st && grep -q '^CapPrm:.*0000000000001000$' $st \
    && grep -q '^CapBnd:.*0000000000001000$' $st && grep -q '^NoNewPrivs:.*1' $st \
    && grep -q '^Seccomp:.*2' $st"
check "its listening sockets are in the sandbox's namespace, not the host's" \
  sh -c "inn() { nsenter --net=/run/netns/\$1 ss -Hlnu; }; inn $SB | grep -q 127.0.0.53:53 && ! inn $HOST | grep -q 127.0.0.53:53"

out=$(q allowed.test A 2>&1)
check "an allowed name resolves (A, UDP): $out" test "$out" = "0 203.0.113.7/300"
check "its address is in the IPv4 set with the record's TTL as timeout" \
  sh -c "$(declare -f inn set4); HOST=$HOST; set4 | grep -Eq '203\.0\.113\.7 timeout 5m expires'"
out=$(q allowed.test AAAA tcp 2>&1)
check "an allowed name resolves (AAAA, TCP): $out" test "$out" = "0 2001:db8::7/300"
check "its address is in the IPv6 set" sh -c "$(declare -f inn set6); HOST=$HOST; set6 | grep -q '2001:db8::7 timeout 5m'"
out="$(q allowed.test A tcp 2>&1) | $(q allowed.test AAAA 2>&1)"
check "A over TCP and AAAA over UDP too: $out" test "$out" = "0 203.0.113.7/300 | 0 2001:db8::7/300"

out="$(q a.wild.test A) | $(q b.c.wild.test A tcp) | $(q wild.test A)"
check "*.wild.test: names below resolve, wild.test itself does not: $out" \
  test "$out" = "0 203.0.113.8/300 | 0 203.0.113.8/300 | 3"
out=$(q cname.ok.test A 2>&1)
check "through a CNAME the rules do not name: $out; the target's address is in the set, for 5 s at least" \
  sh -c "[ '$out' = '0 203.0.113.9/1' ] && $(declare -f inn set4); HOST=$HOST; set4 | grep -q '203.0.113.9 timeout 5s'"
out=$(q long.test A 2>&1)
check "a TTL of 2 h is cut to 1 h, in the answer and the set: $out" \
  sh -c "[ '$out' = '0 203.0.113.10/3600' ] && $(declare -f inn set4); HOST=$HOST; set4 | grep -q '203.0.113.10 timeout 1h'"

out=$(q rebind.test A)
check "an allowed name pointing into default-denied ranges (rebinding): the metadata address stays out of the set, an address rule's range gets in: $out" \
  sh -c "echo '$out' | grep -q 169.254.169.254 && $(declare -f inn set4); HOST=$HOST; s=\$(set4); ! echo \"\$s\" | grep -q 169.254.169.254 && echo \"\$s\" | grep -q 10.1.2.3 && echo \"\$s\" | grep -q 203.0.113.11"
out=$(inn $SB $DNSQ 127.0.0.53 pipeline allowed.test denied.test a.wild.test 2>&1)
check "pipelined questions on one TCP connection are all answered, in order: $out" \
  test "$out" = "0 203.0.113.7/300 | 3 | 0 203.0.113.8/300"

out="$(q denied.test A) | $(q denied.test AAAA tcp) | $(q example.com A)"
check "names no rule allows get NXDOMAIN (UDP and TCP): $out" test "$out" = "3 | 3 | 3"
check "and nothing of theirs lands in the sets" sh -c "! { $(declare -f inn set4 set6); HOST=$HOST; set4; set6; } | grep -q 203.0.113.66"

inn $SB $DNSQ 127.0.0.53 hostile 2>"$tmp/hostile.err"
out=$(q allowed.test A 2>&1)
check "malformed and hostile packets (loops, forward pointers, long names, lying counts, TCP garbage) do not kill it: $out" \
  sh -c "kill -0 $pid && [ '$out' = '0 203.0.113.7/300' ]"
out="$(q 'x.wild/test' A) | $(q 'x/wild.test' A tcp)"
check "a label holding a dot is not taken for two: x.wild|test and x|wild.test are not below wild.test: $out" \
  sh -c "[ '$out' = '3 | 3' ] && grep -q 'denied .x.046wild.test' '$log'"
inn $SB $DNSQ 127.0.0.53 flood 20000
sleep 2.2
out=$(q allowed.test A 2>&1)
check "a flood of 20000 questions is absorbed (rate limit, bounded tables): $out; rss $(awk '/VmRSS/ {print $2, $3}' $st)" \
  sh -c "kill -0 $pid && [ '$out' = '0 203.0.113.7/300' ] && [ \$(awk '/VmRSS/ {print \$2}' $st) -lt 65536 ]"

# Live rule change: allowed.test leaves, denied.test comes in.
rules allow denied.test allow '*.wild.test' deny 0.0.0.0/0
"$SPAWN" --reload "$pid"   # fk_resolver_reload
wait_for sh -c "grep -c 'fk-resolver: info: rules:' '$log' | grep -qx 2"
out="$(q denied.test A) | $(q allowed.test A)"
check "SIGHUP re-reads the rules: denied.test now resolves, allowed.test no more: $out" \
  test "$out" = "0 203.0.113.66/300 | 3"
check "the new name's address is in the set, the old name's is gone" \
  sh -c "$(declare -f inn set4); HOST=$HOST; s=\$(set4); echo \"\$s\" | grep -q 203.0.113.66 && ! echo \"\$s\" | grep -q '203.0.113.7 '"
# The egress plane may rebuild the sets with the rules; a reload puts back what still holds.
inn $HOST nft flush set inet firkin sb_1_dns4
"$SPAWN" --reload "$pid"
wait_for sh -c "grep -c 'fk-resolver: info: rules:' '$log' | grep -qx 3"
check "after the sets were flushed, a reload puts back the addresses still allowed, with what time they had left" \
  sh -c "$(declare -f inn set4); HOST=$HOST; s=\$(set4); echo \"\$s\" | grep -Eq '203\.0\.113\.66 timeout (5m|4m[0-9]+s) ' && echo \"\$s\" | grep -q '203.0.113.8 timeout' && ! echo \"\$s\" | grep -q '203.0.113.7 '"
echo "allow bad name" >"$tmp/rules"
kill -HUP "$pid"
wait_for grep -q "rules not changed" "$log"
out=$(q denied.test A)
check "a broken rules file changes nothing: $out" test "$out" = "0 203.0.113.66/300"
# No domain rule and not everything denied: every name is forwarded, none goes to the sets.
rules allow 198.51.100.0/24
"$SPAWN" --reload "$pid"
wait_for sh -c "grep -c 'fk-resolver: info: rules:' '$log' | grep -qx 4"
inn $HOST nft flush set inet firkin sb_1_dns4
out=$(q allowed.test A)
check "rules without a name and without deny-all: names are forwarded ($out), not added to the sets" \
  sh -c "[ '$out' = '0 203.0.113.7/300' ] && ! { $(declare -f inn set4); HOST=$HOST; set4 | grep -q 203.0.113.7; }"

# A second sandbox whose sets nftables does not have: allowed names fail (SERVFAIL), never an
# answer whose addresses the firewall does not know; fk_resolver_stop ends it.
rules2="$tmp/rules2"
# Its one upstream is IPv6; its rules do not deny everything, so other names are forwarded.
"$SPAWN" --rules "$rules2" allow allowed.test allow 192.0.2.0/24
pid2=$(inn $HOST "$SPAWN" /run/netns/$SB2 $pid1 "$rules2" "inet firkin" sb_9_dns4 sb_9_dns6 2001:db8:53::1 "$tmp/r2.log")
on_exit "[ -n '$pid2' ] && kill $pid2"
out="$(inn $SB2 $DNSQ 127.0.0.53 allowed.test A) | $(inn $SB2 $DNSQ 127.0.0.53 denied.test A tcp)"
check "a sandbox whose lo is down gets it up; sets nftables refuses: an allowed name gets SERVFAIL; a forwarded one (IPv6 upstream, TCP) resolves: $out" \
  test "$out" = "2 | 0 203.0.113.66/300"
"$SPAWN" --stop "$pid2"
check "fk_resolver_stop ends it" wait_for sh -c "! kill -0 $pid2 2>/dev/null"

# Sandboxes on subnets outside the private ranges: a name leading into them does not open them.
inn $HOST nft add set inet firkin sb_8_dns4 '{ type ipv4_addr; flags timeout; }'
inn $HOST nft add set inet firkin sb_8_dns6 '{ type ipv6_addr; flags timeout; }'
"$SPAWN" --rules "$tmp/rules3" allow allowed.test allow wild.test allow a.wild.test allow 203.0.113.8 deny 0.0.0.0/0
pid3=$(FIRKIN_NET_SUBNET4=203.0.113.0/28 FIRKIN_NET_SUBNET6=2001:db8::/120 inn $HOST "$SPAWN" /run/netns/$SB2 $pid1 "$tmp/rules3" "inet firkin" sb_8_dns4 sb_8_dns6 198.51.100.1 "$tmp/r3.log")
on_exit "[ -n '$pid3' ] && kill $pid3"
out="$(inn $SB2 $DNSQ 127.0.0.53 allowed.test A) | $(inn $SB2 $DNSQ 127.0.0.53 allowed.test AAAA) | $(inn $SB2 $DNSQ 127.0.0.53 a.wild.test A)"
s8=$(inn $HOST nft list set inet firkin sb_8_dns4; inn $HOST nft list set inet firkin sb_8_dns6)
check "sandboxes on 203.0.113.0/28 and 2001:db8::/120: allowed names answered ($out) but their addresses there stay out of the sets; one an address rule allows gets in" \
  sh -c "[ '$out' = '0 203.0.113.7/300 | 0 2001:db8::7/300 | 0 203.0.113.8/300' ] && ! echo '$s8' | grep -q '203.0.113.7 ' && ! echo '$s8' | grep -q '2001:db8::7 ' && echo '$s8' | grep -q '203.0.113.8 '"
"$SPAWN" --stop "$pid3"
wait_for sh -c "! kill -0 $pid3 2>/dev/null"

# The generation guard. The egress plane replaces a sandbox's rules (its sets flushed, a new
# generation in sb_N_gen) before the resolver reads the new rules file; until it does, an answer
# judged by the old rules must not enter the new rules' sets.
inn $HOST nft -f - <<'NFT'
add set inet firkin sb_7_dns4 { type ipv4_addr; flags timeout; }
add set inet firkin sb_7_dns6 { type ipv6_addr; flags timeout; }
add set inet firkin sb_7_gen { type mark; }
add element inet firkin sb_7_gen { 41 }
NFT
set7() { inn $HOST nft list set inet firkin sb_7_dns4; }
"$SPAWN" --rules "$tmp/rules4" generation 41 allow allowed.test allow '*.wild.test' deny 0.0.0.0/0
pid4=$(inn $HOST "$SPAWN" /run/netns/$SB2 $pid1 "$tmp/rules4" "inet firkin" sb_7_dns4 sb_7_dns6 198.51.100.1 "$tmp/r4.log" sb_7_gen)
on_exit "[ -n '$pid4' ] && kill $pid4"
out=$(inn $SB2 $DNSQ 127.0.0.53 allowed.test A)
check "with its rules' generation (41) in force, an allowed name resolves ($out) and enters the set" \
  sh -c "[ '$out' = '0 203.0.113.7/300' ] && $(declare -f inn set7); HOST=$HOST; set7 | grep -q '203.0.113.7 '"
# What fk_egress_replace does to the sets (no name allowed any more but allowed.test).
inn $HOST nft -f - <<'NFT'
flush set inet firkin sb_7_dns4
flush set inet firkin sb_7_gen
add element inet firkin sb_7_gen { 42 }
NFT
out=$(inn $SB2 $DNSQ 127.0.0.53 a.wild.test A)
check "after a replace the resolver has not read yet, an answer by the old rules fails ($out: SERVFAIL) and its address stays out of the new sets" \
  sh -c "[ '$out' = '2' ] && $(declare -f inn set7); HOST=$HOST; ! set7 | grep -q 203.0.113.8 && grep -q 'generation 41 may be no longer in force' '$tmp/r4.log'"
"$SPAWN" --rules "$tmp/rules4" generation 42 allow allowed.test deny 0.0.0.0/0
"$SPAWN" --reload "$pid4"
wait_for grep -q "generation 42" "$tmp/r4.log"
check "once it reads the new file (generation 42) it puts back what the new rules allow" \
  wait_for sh -c "$(declare -f inn set7); HOST=$HOST; set7 | grep -q '203.0.113.7 '"
out="$(inn $SB2 $DNSQ 127.0.0.53 a.wild.test A) | $(inn $SB2 $DNSQ 127.0.0.53 allowed.test A)"
check "and answers by them: $out" test "$out" = "3 | 0 203.0.113.7/300"
"$SPAWN" --stop "$pid4"
wait_for sh -c "! kill -0 $pid4 2>/dev/null"
"$SPAWN" --rules "$tmp/rules5" allow allowed.test
check "spawn refuses a rules file that names no generation when a generation set is given" \
  sh -c "nsenter --net=/run/netns/$HOST $SPAWN /run/netns/$SB2 $pid1 $tmp/rules5 'inet firkin' sb_7_dns4 sb_7_dns6 198.51.100.1 '' sb_7_gen 2>&1 | grep -q 'names no generation'"

# Spawn errors.
dead=$(sh -c 'echo $$')
check "spawn refuses a dead pid 1" \
  sh -c "! nsenter --net=/run/netns/$HOST $SPAWN /run/netns/$SB $dead $tmp/rules 'inet firkin' s4 s6 198.51.100.1 '' 2>&1 | grep -q '^[0-9]'"
check "spawn refuses a set name nftables would not take" \
  sh -c "nsenter --net=/run/netns/$HOST $SPAWN /run/netns/$SB $pid1 $tmp/rules 'inet firkin' 'a;b' s6 198.51.100.1 '' 2>&1 | grep -q 'not ones nftables takes'"
check "fk_resolver_reload refuses a pid that is not a resolver" \
  sh -c "! $SPAWN --reload $pid1 2>&1 && $SPAWN --reload $pid1 2>&1 | grep -q 'not running'"
check "a second resolver for the same sandbox fails with the resolver's own reason" \
  sh -c "nsenter --net=/run/netns/$HOST $SPAWN /run/netns/$SB $pid1 $tmp/rules 'inet firkin' s4 s6 198.51.100.1 '' 2>&1 | grep -q 'bind 127.0.0.53:53 in the sandbox: Address already in use'"
check "spawn reports a missing rules file" \
  sh -c "nsenter --net=/run/netns/$HOST $SPAWN /run/netns/$SB $pid1 $tmp/nonexistent 'inet firkin' s4 s6 198.51.100.1 '' 2>&1 | grep -q nonexistent"

kill "$pid1"
wait "$pid1" 2>/dev/null
if wait_for sh -c "! kill -0 $pid 2>/dev/null"; then
  ok "it exits when the sandbox's pid 1 does"
else
  fail "it exits when the sandbox's pid 1 does"; kill "$pid"
fi
check "its log says why, with its counters, and holds no sanitizer report" \
  sh -c "grep -q 'pid 1 exited;.*questions' '$log' && ! grep -qE 'Sanitizer|runtime error' '$log'"
_run_cleanups
_cleanups=()
# (pgrep here, not inside the check: a shell whose command line holds the pattern would match)
left=$(pgrep -f -- "--pid-file=$tmp/|--rules $tmp/" | tr '\n' ' ')
check "nothing left: no namespace, no resolver, no dnsmasq, no process naming this test's files: '$left'" \
  sh -c "! ip netns list | grep -q 'fkr-.*-$$' && ! kill -0 $pid 2>/dev/null && ! kill -0 $pid2 2>/dev/null && ! kill -0 $pid4 2>/dev/null && ! kill -0 $dnsmasq_pid 2>/dev/null && [ -z '$left' ]"
done_testing
