#!/usr/bin/env bash
# Sandbox isolation, each property checked from inside a sandbox: namespaces, uid mapping with
# image owners, masked and read-only /proc and /sys, /dev, capabilities, no_new_privs, seccomp,
# loopback-only network, and escape attempts.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 22

id=$(new_sandbox --memory 256M --pids 128 --cpus 1 --hostname iso-test)
check "create prints an id" test -n "$id"
pid=$(host_pid "$id")

check "root inside, mapped to the unprivileged host range" \
  sh -c "[ \"\$('$FK' exec $id -- id -u)\" = 0 ] && base=\$('$FK' exec $id -- cat /proc/self/uid_map | awk '\$1 == 0 && \$3 == 65536 {print \$2}') && [ \"\$base\" -gt 1000000000 ] && [ \$(( (base - 1000000000) % 65536 )) = 0 ] && [ \"\$(stat -c %u /proc/$pid)\" = \"\$base\" ]"
check "image owners show inside (idmapped layers)" \
  sh -c "[ \"\$('$FK' exec $id -- stat -c %u:%g /home/user)\" = 1000:1000 ] && [ \"\$('$FK' exec $id -- stat -c %u /bin/busybox)\" = 0 ]"
ns_ok=1
for ns in mnt pid net ipc uts user cgroup; do
  inside=$("$FK" exec "$id" -- readlink /proc/self/ns/$ns)
  [ -n "$inside" ] && [ "$inside" != "$(readlink /proc/self/ns/$ns)" ] || { ns_ok=0; diag "namespace $ns shared: $inside"; }
done
[ $ns_ok = 1 ] && ok "new mount, pid, net, ipc, uts, user and cgroup namespaces" || fail "new namespaces"
check "PID 1 is the agent and no host process is visible" \
  sh -c "'$FK' exec $id -- cat /proc/1/comm | grep -qx fk-agent && [ \"\$('$FK' exec $id -- sh -c 'ls -d /proc/[0-9]* | wc -l')\" -lt 10 ]"
check "hostname set" sh -c "[ \"\$('$FK' exec $id -- hostname)\" = iso-test ]"
check "/etc/hosts and /etc/resolv.conf provided" \
  sh -c "'$FK' exec $id -- grep -q iso-test /etc/hosts && '$FK' exec $id -- grep -q 'data plane' /etc/resolv.conf"
check "network: only loopback, and it is up" \
  sh -c "[ \"\$('$FK' exec $id -- ls /sys/class/net)\" = lo ] && '$FK' exec $id -- ip link show lo | grep -q UP"
check "masked /proc paths read empty" \
  sh -c "[ -z \"\$('$FK' exec $id -- cat /proc/keys /proc/timer_list)\" ] && [ -z \"\$('$FK' exec $id -- ls /proc/acpi)\" ]"
check "/proc/sys is read-only" \
  sh -c "! '$FK' exec $id -- sh -c 'echo 1 > /proc/sys/kernel/ns_last_pid' 2>/dev/null && '$FK' exec $id -- grep -E ' /proc/sys proc ro' /proc/mounts"
check "/sys is read-only" \
  sh -c "! '$FK' exec $id -- touch /sys/kernel/x 2>/dev/null && '$FK' exec $id -- grep -E ' /sys sysfs ro' /proc/mounts"
check "minimal /dev with a private devpts" \
  sh -c "[ \"\$('$FK' exec $id -- ls /dev | tr '\n' ' ')\" = 'fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ' ] && '$FK' exec $id -- sh -c 'echo x > /dev/null && head -c 4 /dev/urandom | wc -c' | grep -qx 4"
check "/tmp is writable, the root's own directory (no mount of its own: snapshots keep it)" \
  sh -c "'$FK' exec $id -- sh -c 'echo ok > /tmp/f && cat /tmp/f' | grep -qx ok && ! '$FK' exec $id -- grep -q ' /tmp ' /proc/mounts && test \"\$('$FK' exec $id -- stat -c %a /tmp)\" = 1777"
check "capabilities reduced to the container default set" \
  sh -c "'$FK' exec $id -- grep -E '^(CapEff|CapBnd):' /proc/self/status | grep -c 00000000a80425fb | grep -qx 2"
check "no_new_privs and a seccomp filter" \
  sh -c "'$FK' exec $id -- grep -q 'NoNewPrivs:.1' /proc/self/status && '$FK' exec $id -- grep -q 'Seccomp:.2' /proc/self/status"
check "seccomp blocks new namespaces (unshare)" \
  sh -c "out=\$('$FK' exec $id -- unshare -U true 2>&1); [ \$? -ne 0 ] && echo \"\$out\" | grep -qi 'not permitted'"
check "escape: mount denied" \
  sh -c "out=\$('$FK' exec $id -- mount -t tmpfs none /mnt 2>&1); [ \$? -ne 0 ] && echo \"\$out\" | grep -qi 'denied\|not permitted'"
check "escape: module load denied" \
  sh -c "'$FK' exec $id -- sh -c 'head -c 64 /dev/zero > /tmp/m.ko'; out=\$('$FK' exec $id -- insmod /tmp/m.ko 2>&1); [ \$? -ne 0 ] && echo \"\$out\" | grep -qi 'not permitted'"
check "escape: writing /proc/sysrq-trigger fails" \
  sh -c "! '$FK' exec $id -- sh -c 'echo h > /proc/sysrq-trigger' 2>/dev/null"
marker=/tmp/firkin-host-marker.$$
echo host > "$marker"
on_exit "rm -f '$marker'"
check "escape: host paths are not reachable, a write lands inside only" \
  sh -c "! '$FK' exec $id -- cat $marker 2>/dev/null && '$FK' exec $id -- sh -c 'mkdir -p /tmp && echo sandbox > $marker' && [ \"\$(cat $marker)\" = host ]"
check "escape: a host pid cannot be seen or signalled" \
  sh -c "! '$FK' exec $id -- kill -0 $$ 2>/dev/null && ! '$FK' exec $id -- test -e /proc/$$/status"
check "cgroup limits written (memory, pids, cpu)" \
  sh -c "v=\$(cat /sys/fs/cgroup/memory/firkin/$id/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/firkin/$id/memory.max); [ \"\$v\" = 268435456 ] && p=\$(cat /sys/fs/cgroup/pids/firkin/$id/pids.max 2>/dev/null || cat /sys/fs/cgroup/firkin/$id/pids.max); [ \"\$p\" = 128 ]"
"$FK" rm -f "$id"
done_testing
