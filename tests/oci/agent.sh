#!/usr/bin/env bash
# tests/oci/agent.sh: fk-agent as the init of a container fk-oci made (the shared crun/fk-oci
# cases of runtime.sh run with it too): fk exec and fk cp into the container by its OCI id (with
# the container's user, env, cwd, capabilities and seccomp filter), the workload's status and
# signals through the agent, the opt-out annotation, and what the workload can reach of the
# agent (its socket, its fds and memory, another user, another filter: nothing).
# Environment: FK_OCI, FK, FIRKIN_SRC, FIRKIN_BUILD.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$FIRKIN_SRC/tests/integration/lib.sh"
FK_OCI=${FK_OCI:-$FIRKIN_BUILD/src/oci/fk-oci}
FK=${FK:-$FIRKIN_BUILD/src/cli/fk}
export FIRKIN_AGENT=${FIRKIN_AGENT:-$FIRKIN_BUILD/src/agent/fk-agent}
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
work=$(mktemp -d /tmp/fk-oci-agent.XXXXXX)
chmod 755 "$work"
st="$work/state"
RT=("$FK_OCI" --root "$st" --log "$work/log.json" --log-format json)
FKX=("$FK" --state-dir "$work/fkstate" --oci-root "$st")
rmcg() { for h in /sys/fs/cgroup/*/fk-oci-agent-test /sys/fs/cgroup/unified/fk-oci-agent-test; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null; done; }
on_exit "rm -rf '$work'"
on_exit "rmcg"
on_exit "for id in \$(ls '$st' 2>/dev/null); do '$FK_OCI' --root '$st' delete --force \$id; done"
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$work/rootfs" >/dev/null
mkdir -p "$work/rootfs/home/w" && chown 1000:1000 "$work/rootfs/home/w"
chmod 1777 "$work/rootfs/tmp"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
c = {
  "ociVersion": "1.0.2",
  "process": {"terminal": False, "user": {"uid": 1000, "gid": 1000}, "args": ["sleep", "100"],
              "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FOO=from-config"], "cwd": "/home/w",
              "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
              "noNewPrivileges": True},
  "root": {"path": work + "/rootfs", "readonly": False},
  "hostname": "oci",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}],
  "linux": {
    "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
    "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}}}
json.dump(c, open(work + "/config.json", "w"), indent=1)
PY
# bundle NAME [PYTHON]
bundle() {
  local b="$work/b/$1"
  mkdir -p "$b"; cp "$work/config.json" "$b/"
  python3 "$here/helper.py" config "$b" "c['linux']['cgroupsPath'] = '/fk-oci-agent-test/$1'; ${2:-}"
  echo "$b"
}
up() { "${RT[@]}" create --bundle "$1" "$2" </dev/null >/dev/null 2>"$work/err" && "${RT[@]}" start "$2" 2>>"$work/err"; }
pid_of() { "${RT[@]}" state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
status_of() { "${RT[@]}" state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || echo none; }
plan 22

# The workload's own view, written where the test reads it.
b=$(bundle main "c['process']['args'] = ['sh', '-c', 'grep -E \"^(CapEff|Seccomp|NoNewPrivs):\" /proc/self/status > /tmp/wl; id -u >> /tmp/wl; echo \$FOO >> /tmp/wl; pwd >> /tmp/wl; readlink /proc/1/fd/3 >> /tmp/attack 2>&1; echo fd1=\$? >> /tmp/attack; (: < /proc/1/fd/0) 2>/dev/null; echo fd0=\$? >> /tmp/attack; cat /proc/1/environ > /dev/null 2>&1; echo environ1=\$? >> /tmp/attack; ls -d $st/main/agent.sock >> /tmp/attack 2>&1; echo sock=\$? >> /tmp/attack; cat /proc/1/comm > /tmp/comm1; exec sleep 100']")
up "$b" main || diag "$(cat "$work/err")"
for _ in $(seq 100); do [ -s "$work/rootfs/tmp/comm1" ] && break; sleep 0.05; done
grep -qx fk-agent "$work/rootfs/tmp/comm1" && [ "$(status_of main)" = running ] \
  && ok "fk-agent is the container's PID 1, state running" || { fail "agent as PID 1"; diag "$(cat "$work/rootfs/tmp/comm1" "$work/err" 2>&1)"; }

# fk exec by OCI id: the container's user, env, cwd, capabilities, no_new_privs, filter.
out=$("${FKX[@]}" exec main -- sh -c 'grep -E "^(CapEff|Seccomp|NoNewPrivs):" /proc/self/status; id -u; echo $FOO; pwd' 2>&1)
[ -n "$out" ] && [ "$out" = "$(cat "$work/rootfs/tmp/wl")" ] && ok "fk exec by OCI id: the workload's caps, seccomp, no_new_privs, user, env, cwd" \
  || { fail "fk exec by OCI id"; diag "exec: $out" "workload: $(cat "$work/rootfs/tmp/wl")"; }
"${FKX[@]}" exec main -- sh -c 'exit 7' >/dev/null 2>&1; rc=$?
[ $rc = 7 ] && ok "fk exec: the command's exit code" || fail "fk exec exit code: $rc"
out=$(FIRKIN_OCI_ROOT="$st" "$FK" --state-dir "$work/fkstate" exec main -- hostname 2>&1)
[ "$out" = oci ] && ok "fk exec: \$FIRKIN_OCI_ROOT, the container's uts namespace" || fail "FIRKIN_OCI_ROOT: $out"

# A paused container: fk exec says so at once instead of hanging.
"${RT[@]}" pause main
out=$(timeout 10 "${FKX[@]}" exec main -- true 2>&1); rc=$?
"${RT[@]}" resume main
[ $rc = 1 ] && grep -q 'paused' <<<"$out" && ok "fk exec into a paused container: refused, says why" || { fail "paused"; diag "rc=$rc $out"; }

# fk shell by OCI id: a shell of the agent's, in the container's cwd, keeping its state.
out=$("${FKX[@]}" shell -c 'cd /tmp' -c 'pwd; id -u' main 2>&1)
grep -qx /tmp <<<"$out" && grep -qx 1000 <<<"$out" && ok "fk shell by OCI id" || { fail "fk shell by OCI id"; diag "$out"; }

# fk cp both ways, as the container's user.
echo "cp-payload-$$" >"$work/in.txt"
"${FKX[@]}" cp "$work/in.txt" main:/home/w/in.txt 2>"$work/err" && "${FKX[@]}" cp main:/home/w/in.txt "$work/back.txt" 2>>"$work/err"
[ "$(cat "$work/back.txt" 2>/dev/null)" = "cp-payload-$$" ] && [ "$(stat -c %u "$work/rootfs/home/w/in.txt")" = 1000 ] \
  && ok "fk cp into and out of the container, files owned by its user" || { fail "fk cp"; diag "$(cat "$work/err")"; }

# fkd's envd by OCI id (--oci-root): the API key is the container's access token.
FKD=${FKD:-$FIRKIN_BUILD/src/daemon/fkd}
if [ -x "$FKD" ]; then
  "$FKD" --state-dir "$work/fkdstate" --listen "unix:$work/api.sock" --envd-listen "unix:$work/envd.sock" \
    --api-key e2b_ocitest --oci-root "$st" --log-level error >"$work/fkd.log" 2>&1 &
  fkd_pid=$!
  on_exit "kill $fkd_pid 2>/dev/null; wait $fkd_pid 2>/dev/null"
  for _ in $(seq 100); do [ -S "$work/envd.sock" ] && break; sleep 0.05; done
  get() { curl -s -w ' %{http_code}' --unix-socket "$work/envd.sock" -H 'E2b-Sandbox-Id: main' "$@" 'http://x/files?path=/home/w/in.txt'; }
  with=$(get -H 'X-Access-Token: e2b_ocitest'); without=$(get); wrong=$(get -H 'X-Access-Token: nope')
  [ "$with" = "cp-payload-$$
 200" ] && [ "${without##* }" = 401 ] && [ "${wrong##* }" = 401 ] \
    && ok "fkd envd reads a file of the container by OCI id, with the API key as token only" || { fail "fkd envd by OCI id"; diag "with: $with" "without: $without" "wrong: $wrong" "$(cat "$work/fkd.log")"; }
  kill $fkd_pid; wait $fkd_pid 2>/dev/null
else
  skip "fkd envd by OCI id" "no fkd"
fi

# Attacks: from the workload, and through the agent.
grep -q '^fd1=[1-9]' "$work/rootfs/tmp/attack" && grep -q '^fd0=[1-9]' "$work/rootfs/tmp/attack" && grep -q '^environ1=[1-9]' "$work/rootfs/tmp/attack" && grep -q '^sock=[1-9]' "$work/rootfs/tmp/attack" \
  && ok "attack: the workload cannot see the agent's socket, read or open its fds (/proc/1/fd), read /proc/1/environ" || { fail "attack from the workload"; diag "$(cat "$work/rootfs/tmp/attack")"; }
# As root in the container (its usual capabilities, no CAP_SYS_PTRACE): the agent's fds stay
# closed to it, and SIGKILL to PID 1 from inside does nothing.
b=$(bundle root "c['process']['user'] = {'uid': 0, 'gid': 0}; c['process']['capabilities'] = {k: ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_SYS_CHROOT'] for k in ('bounding', 'effective', 'permitted')}; c['process']['args'] = ['sh', '-c', 'readlink /proc/1/fd/3 > /tmp/root-attack 2>&1; echo fd=\$? >> /tmp/root-attack; kill -9 1; echo killed=\$? >> /tmp/root-attack; exec sleep 100']")
up "$b" root || diag "$(cat "$work/err")"
for _ in $(seq 100); do grep -q killed "$work/rootfs/tmp/root-attack" 2>/dev/null && break; sleep 0.05; done
out=$("${FKX[@]}" exec root -- id -u 2>&1; "${RT[@]}" exec root sh -c 'echo ppid=$PPID' 2>&1)
grep -q '^fd=[1-9]' "$work/rootfs/tmp/root-attack" && [ "$out" = "0
ppid=1" ] && [ "$(status_of root)" = running ] \
  && ok "attack: root in the container cannot take the agent's fds nor kill it (and exec as root without CAP_SETUID works)" || { fail "root attack"; diag "$out" "$(cat "$work/rootfs/tmp/root-attack")"; }
"${RT[@]}" delete --force root >/dev/null 2>&1

out=$("${FKX[@]}" exec --user 0 main -- id -u 2>&1); rc=$?
[ $rc != 0 ] && ! grep -qx 0 <<<"$out" && ok "attack: fk exec --user 0 into a uid-1000 container is refused" || { fail "user 0 through the agent"; diag "$out"; }
out=$("${FKX[@]}" exec main -- sh -c 'mkdir /tmp/sc-escape; echo rc=$?' 2>&1)
grep -q 'rc=1' <<<"$out" && [ ! -d "$work/rootfs/tmp/sc-escape" ] && ok "attack: an exec'd command keeps the container's seccomp filter (mkdir refused)" || { fail "seccomp through the agent"; diag "$out"; }

# fk-oci exec through the agent: the process is the agent's child (PPid 1 in the container),
# stdin, stdout and the exit code pass through the relay; the pid file names the relay, and a
# signal to it reaches the process.
out=$(echo piped-in | "${RT[@]}" exec main sh -c 'echo ppid=$PPID; cat; id -u; exit 9' 2>&1); rc=$?
[ $rc = 9 ] && grep -qx ppid=1 <<<"$out" && grep -qx piped-in <<<"$out" && grep -qx 1000 <<<"$out" \
  && ok "fk-oci exec through the agent: stdin, stdout, exit code, the container's user" || { fail "fk-oci exec via agent"; diag "rc=$rc" "$out"; }
"${RT[@]}" exec --detach --pid-file "$work/exec.pid" main sh -c 'trap "echo got-term > /tmp/exec-term; exit 0" TERM; while :; do sleep 0.05; done' >/dev/null 2>&1
rp=$(cat "$work/exec.pid" 2>/dev/null)
comm=$(cat /proc/$rp/comm 2>/dev/null); kill -TERM "$rp" 2>/dev/null
for _ in $(seq 100); do [ -s "$work/rootfs/tmp/exec-term" ] && break; sleep 0.05; done
for _ in $(seq 100); do kill -0 "$rp" 2>/dev/null || break; sleep 0.05; done
[ "$comm" = fk-oci-relay ] && grep -q got-term "$work/rootfs/tmp/exec-term" 2>/dev/null && ! kill -0 "$rp" 2>/dev/null \
  && ok "fk-oci exec --detach: the pid file's relay passes SIGTERM on and ends with the process" || { fail "exec --detach relay"; diag "relay $rp ($comm)"; }
out=$("${RT[@]}" exec main no-such-program 2>&1); rc=$?
[ $rc = 127 ] && ok "fk-oci exec of a missing program: 127" || { fail "exec missing: $rc"; diag "$out"; }

# Signals: kill TERM reaches the workload (no handler: 128+15 from the agent); ps sees the agent.
ps_out=$("${RT[@]}" ps --format json main)
pid=$(pid_of main)
grep -q "\b$pid\b" <<<"$ps_out" && [ "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$ps_out")" -ge 2 ] \
  && ok "ps: the agent (the engine's pid) and the workload" || { fail "ps"; diag "$ps_out pid $pid"; }
b=$(bundle sig "c['process']['args'] = ['sleep', '100']")
# TERM once it runs, not after a guess of how long the start takes (KILL after 20 s).
(for ((i = 0; i < 1000; i++)); do [ "$(status_of sig)" = running ] && break; sleep 0.02; done
 [ "$i" -lt 1000 ] && "${RT[@]}" kill sig TERM || "${RT[@]}" kill sig KILL) &
out=$(python3 "$here/helper.py" run "${RT[@]}" -- sig "$b" 2>&1); wait
grep -q '^exit 143$' <<<"$out" && ok "kill TERM: the workload dies of it, the container exits 128+15" || { fail "kill TERM through the agent"; diag "$out"; }
"${RT[@]}" delete --force sig >/dev/null 2>&1

# kill --all TERM: the workload gets it once (not also through the agent).
b=$(bundle all "c['process']['args'] = ['sh', '-c', 'trap \"echo term >> /tmp/all-terms\" TERM; while [ ! -e /tmp/all-stop ]; do sleep 0.05; done']")
up "$b" all || diag "$(cat "$work/err")"
sleep 0.3; "${RT[@]}" kill --all all TERM; sleep 0.5; touch "$work/rootfs/tmp/all-stop"
for _ in $(seq 100); do [ "$(status_of all)" = stopped ] && break; sleep 0.05; done
n=$(grep -c term "$work/rootfs/tmp/all-terms" 2>/dev/null)
[ "$n" = 1 ] && [ "$(status_of all)" = stopped ] && ok "kill --all TERM: the workload gets it once, the agent ends with it" || fail "kill --all: $n TERM, $(status_of all)"
"${RT[@]}" delete --force all >/dev/null 2>&1

# The opt-out annotation: the process is PID 1, and fk exec says why it cannot.
b=$(bundle optout "c['annotations'] = {'run.firkin.agent': 'false'}; c['process']['args'] = ['sh', '-c', 'cat /proc/1/comm > /tmp/comm-optout; exec sleep 100']")
up "$b" optout || diag "$(cat "$work/err")"
for _ in $(seq 100); do [ -s "$work/rootfs/tmp/comm-optout" ] && break; sleep 0.05; done
out=$("${FKX[@]}" exec optout -- true 2>&1); rc=$?
grep -qx sh "$work/rootfs/tmp/comm-optout" && [ $rc != 0 ] && grep -q 'without fk-agent' <<<"$out" && [ ! -e "$st/optout/agent.sock" ] \
  && ok "run.firkin.agent=false: the process is PID 1, fk exec refuses clearly" || { fail "opt-out"; diag "$out" "$(cat "$work/rootfs/tmp/comm-optout")"; }
b=$(bundle badann "c['annotations'] = {'run.firkin.agent': 'maybe'}")
"${RT[@]}" create --bundle "$b" badann </dev/null >/dev/null 2>"$work/err"; rc=$?
[ $rc != 0 ] && grep -q 'run.firkin.agent' "$work/err" && [ ! -e "$st/badann" ] && ok "run.firkin.agent=maybe is refused" || { fail "bad annotation"; diag "$(cat "$work/err")"; }

# A missing executable fails the create (as other runtimes do), with the agent and without.
bad=""
for ann in true false; do
  b=$(bundle "missing-$ann" "c['annotations'] = {'run.firkin.agent': '$ann'}; c['process']['args'] = ['no-such-program-$ann']")
  "${RT[@]}" create --bundle "$b" "missing-$ann" </dev/null >/dev/null 2>"$work/err" && bad="$bad created-$ann"
  grep -q "no-such-program-$ann" "$work/err" || bad="$bad msg-$ann:$(cat "$work/err")"
  [ -e "$st/missing-$ann" ] && bad="$bad left-$ann"
done
[ -z "$bad" ] && ok "a missing executable fails create, naming it, nothing left" || fail "missing executable:$bad"

# delete --force: the agent and the workload go, the socket with the state.
"${RT[@]}" delete --force main; "${RT[@]}" delete --force optout
[ ! -e "$st/main" ] && ! pgrep -f "sleep 100" -P "$pid" >/dev/null && ok "delete --force: the container and its state gone" || fail "delete"
done_testing
