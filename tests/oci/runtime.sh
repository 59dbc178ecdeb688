#!/usr/bin/env bash
# tests/oci/runtime.sh: one set of OCI runtime cases run first against crun (Debian's, in a
# mount namespace without the cgroup2 mount of this hybrid host, which crun refuses) and then
# against fk-oci, on the same busybox bundles: lifecycle, state transitions, exit codes,
# signals, the console socket, hooks, namespace joins by path, memory and pids limits, seccomp
# profiles, an overlay rootfs (an engine's, never idmapped), exec, pause. Both must pass the same
# cases. Then fk-oci's bad input: each a clear error on stderr and in log.json, nothing left.
# Environment: FK_OCI (the binary), FIRKIN_SRC.
set -u
here=$(cd "$(dirname "$0")" && pwd)
helper="$here/helper.py"

# --- the shared cases, for one runtime: prints PASS/FAIL NAME lines and `# ' diagnostics ---
if [ "${1:-}" = --suite ]; then
  rt_bin=$2 work=$3 name=$4
  if [ "$name" = crun ] && mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
  state="$work/state-$name"
  RT=("$rt_bin" --root "$state" --log "$work/log-$name.json" --log-format json)
  pass() { echo "PASS $*"; }
  failc() { echo "FAIL $1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | head -30 | sed 's/^/# /'; }
  # bundle CASE [PYTHON]: a bundle on the shared rootfs, config edited by PYTHON.
  bundle() {
    local b="$work/$name/$1"
    mkdir -p "$b"
    cp "$work/config.json" "$b/config.json"
    python3 "$helper" config "$b" "c['linux']['cgroupsPath'] = '/fk-oci-test/$name-$1'; ${2:-}"
    echo "$b"
  }
  run_case() { python3 "$helper" run "${RT[@]}" -- "$@" 2>&1; }
  status_of() { "${RT[@]}" state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || echo none; }
  waitstop() { local i; for ((i = 0; i < 200; i++)); do [ "$(status_of "$1")" = stopped ] && return 0; sleep 0.02; done; return 1; }
  # kill_when_ready ID SIGNAL [FILE]: the signal once ID runs (and FILE exists: the process's
  # handler is set), not after a guess of how long the start takes; SIGKILL after 20 s, so a
  # slow start never leaves a process that waits for a signal forever.
  kill_when_ready() {
    local i
    for ((i = 0; i < 1000; i++)); do
      [ "$(status_of "$1")" = running ] && { [ -z "${3:-}" ] || [ -e "$3" ]; } && break
      sleep 0.02
    done
    [ "$i" -lt 1000 ] && "${RT[@]}" kill "$1" "$2" || "${RT[@]}" kill "$1" KILL
  }

  # lifecycle and state transitions
  b=$(bundle life "c['process']['args'] = ['sleep', '100']")
  s0=$(status_of life)
  "${RT[@]}" create --bundle "$b" life </dev/null >/dev/null 2>&1
  s1=$(status_of life)
  serr=$("${RT[@]}" start life 2>&1); s2=$(status_of life)
  "${RT[@]}" pause life; s3=$(status_of life)
  "${RT[@]}" resume life; s4=$(status_of life)
  "${RT[@]}" kill life KILL; waitstop life; s5=$(status_of life)
  "${RT[@]}" delete life; s6=$(status_of life)
  got="$s0 $s1 $s2 $s3 $s4 $s5 $s6"
  [ "$got" = "none created running paused running stopped none" ] && pass "lifecycle: created, running, paused, running, stopped, deleted" || failc "lifecycle" "$got" "$serr"

  # exit codes and output
  b=$(bundle exit "c['process']['args'] = ['sh', '-c', 'echo out-ok; exit 42']")
  out=$(run_case exit "$b")
  grep -q '^out-ok' <<<"$out" && grep -q '^exit 42$' <<<"$out" && pass "exit code 42 and stdout passed through" || failc "exit code" "$out"
  "${RT[@]}" delete exit >/dev/null 2>&1

  # capabilities of a user other than root: what it keeps across exec is its ambient set alone
  # (the config's), not the effective and permitted sets a root process would keep
  c5="['CAP_CHOWN', 'CAP_SETUID', 'CAP_SETGID', 'CAP_DAC_OVERRIDE', 'CAP_KILL']"
  b=$(bundle capsuser "c['process']['user'] = {'uid': 1000, 'gid': 1000}; c['process']['capabilities'] = {k: $c5 for k in ('bounding', 'effective', 'permitted', 'inheritable')}; c['process']['args'] = ['grep', '-E', '^Cap(Eff|Amb):', '/proc/self/status']")
  out=$(run_case capsuser "$b")
  grep -Eq '^CapEff:\s+0+$' <<<"$out" && grep -Eq '^CapAmb:\s+0+$' <<<"$out" \
    && pass "a non-root process keeps no capability but its ambient ones across exec (none)" || failc "non-root caps" "$out"
  "${RT[@]}" delete capsuser >/dev/null 2>&1
  b=$(bundle capsamb "c['process']['user'] = {'uid': 1000, 'gid': 1000}; c['process']['capabilities'] = {k: $c5 for k in ('bounding', 'effective', 'permitted', 'inheritable')}; c['process']['capabilities']['ambient'] = ['CAP_KILL']; c['process']['args'] = ['grep', '-E', '^Cap(Eff|Amb):', '/proc/self/status']")
  out=$(run_case capsamb "$b")
  grep -Eq '^CapEff:\s+0+20$' <<<"$out" && grep -Eq '^CapAmb:\s+0+20$' <<<"$out" \
    && pass "a non-root process keeps its ambient capabilities across exec (CAP_KILL)" || failc "non-root ambient caps" "$out"
  "${RT[@]}" delete capsamb >/dev/null 2>&1

  # signals: the process's own handler, then a kill
  b=$(bundle sig "c['process']['args'] = ['sh', '-c', 'trap \"exit 5\" TERM; echo ready >/tmp/ready-$name; while :; do sleep 0.05; done']")
  rm -f "$work/rootfs/tmp/ready-$name"
  kill_when_ready sig TERM "$work/rootfs/tmp/ready-$name" &
  out=$(run_case sig "$b"); wait
  grep -q '^exit 5$' <<<"$out" && pass "SIGTERM reaches the process's handler" || failc "signal TERM" "$out"
  "${RT[@]}" delete sig >/dev/null 2>&1
  b=$(bundle sigkill "c['process']['args'] = ['sleep', '100']")
  kill_when_ready sigkill 9 &
  out=$(run_case sigkill "$b"); wait
  grep -q '^exit 137$' <<<"$out" && pass "kill 9: status 128+9" || failc "signal KILL" "$out"
  "${RT[@]}" delete sigkill >/dev/null 2>&1

  # console socket: one fd, the pty's name as payload
  b=$(bundle tty "c['process']['terminal'] = True; c['process']['args'] = ['sh', '-c', 'tty; [ -t 0 ] && echo tty-ok']")
  out=$(run_case tty "$b" console)
  grep -q '/dev/pts/' <<<"$out" && grep -q 'tty-ok' <<<"$out" && grep -q '^exit 0$' <<<"$out" && pass "console socket: the pty and its name" || failc "console socket" "$out"
  "${RT[@]}" delete tty >/dev/null 2>&1

  # hooks: the state on stdin; createContainer and startContainer in the container. (The
  # hooks write below /run: fk-oci's createContainer hooks run where /tmp is the staging point
  # of the container's root, see docs/oci.md.)
  hk="/run/fk-oci-test-hooks-$$-$name"; mkdir -p "$hk"
  b=$(bundle hooks "c['process']['args'] = ['true']; c['hooks'] = {
    'createRuntime': [{'path': '/bin/sh', 'args': ['sh', '-c', 'cat > $hk/createRuntime']}],
    'createContainer': [{'path': '/bin/sh', 'args': ['sh', '-c', 'cat > $hk/createContainer']}],
    'startContainer': [{'path': '/bin/sh', 'args': ['sh', '-c', 'cat > /tmp/startContainer-$name']}],
    'poststart': [{'path': '/bin/sh', 'args': ['sh', '-c', 'cat > $hk/poststart']}],
    'poststop': [{'path': '/bin/sh', 'args': ['sh', '-c', 'cat > $hk/poststop']}]}")
  out=$(run_case hooks "$b"); "${RT[@]}" delete hooks >/dev/null 2>&1
  bad=""
  for h in createRuntime createContainer poststart poststop; do grep -q '"id": *"hooks"' "$hk/$h" 2>/dev/null || bad="$bad $h"; done
  grep -q '"id": *"hooks"' "$work/rootfs/tmp/startContainer-$name" 2>/dev/null || bad="$bad startContainer"
  rm -rf "$hk"
  [ -z "$bad" ] && pass "hooks: createRuntime, createContainer, startContainer, poststart, poststop with the state" || failc "hooks" "missing:$bad" "$out"

  # namespace joins by path (a pod's app container joining its pause container)
  b=$(bundle pause "c['process']['args'] = ['sleep', '100']; c['hostname'] = 'pod-$name'")
  "${RT[@]}" create --bundle "$b" --pid-file "$b/pid" pause </dev/null >/dev/null 2>&1 && "${RT[@]}" start pause
  ppid=$(cat "$b/pid" 2>/dev/null)
  want="$(readlink /proc/$ppid/ns/net) $(readlink /proc/$ppid/ns/ipc) pod-$name"
  b=$(bundle app "c['process']['args'] = ['sh', '-c', 'echo \$(readlink /proc/self/ns/net) \$(readlink /proc/self/ns/ipc) \$(hostname)']
for n in c['linux']['namespaces']:
    if n['type'] in ('network', 'ipc', 'uts'): n['path'] = '/proc/$ppid/ns/' + {'network': 'net'}.get(n['type'], n['type'])
c.pop('hostname', None)")
  out=$(run_case app "$b")
  grep -qF "$want" <<<"$out" && pass "namespaces joined by path: network, ipc, uts" || failc "namespace join" "want $want" "$out"
  "${RT[@]}" delete app >/dev/null 2>&1; "${RT[@]}" delete --force pause >/dev/null 2>&1

  # limits: the cgroup's values, and pids enforced
  b=$(bundle limits "c['process']['args'] = ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done 2>/tmp/fork-$name; wait; grep -c fork /tmp/fork-$name']
c['linux']['resources'] = {'memory': {'limit': 33554432}, 'pids': {'limit': 8}}")
  "${RT[@]}" create --bundle "$b" --pid-file "$b/pid" limits </dev/null >"$b/out" 2>&1
  lp=$(cat "$b/pid" 2>/dev/null)
  memcg=$(sed -n 's/^[0-9]*:memory:\(.*\)/\1/p' /proc/$lp/cgroup 2>/dev/null)
  pidcg=$(sed -n 's/^[0-9]*:pids:\(.*\)/\1/p' /proc/$lp/cgroup 2>/dev/null)
  mem=$(cat "/sys/fs/cgroup/memory$memcg/memory.limit_in_bytes" 2>/dev/null)
  pids=$(cat "/sys/fs/cgroup/pids$pidcg/pids.max" 2>/dev/null)
  echo '{"pids": {"limit": 9}}' >"$b/res.json"
  "${RT[@]}" update --resources "$b/res.json" limits >/dev/null 2>&1
  pids2=$(cat "/sys/fs/cgroup/pids$pidcg/pids.max" 2>/dev/null)
  mem2=$(cat "/sys/fs/cgroup/memory$memcg/memory.limit_in_bytes" 2>/dev/null)
  "${RT[@]}" delete --force limits >/dev/null 2>&1
  [ "$pids2 $mem2" = "9 33554432" ] && pass "update --resources: pids 9, memory kept" || failc "update" "pids=$pids2 mem=$mem2"
  [ "$mem $pids" = "33554432 8" ] && pass "limits: memory 32 MiB and pids 8 in the container's cgroup" || failc "limits" "mem=$mem pids=$pids cg=$memcg"
  b=$(bundle pids "c['process']['args'] = ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1 & done; wait; echo all-forked']
c['linux']['resources'] = {'pids': {'limit': 6}}")
  out=$(run_case pids "$b"); "${RT[@]}" delete pids >/dev/null 2>&1
  grep -q "can't fork" <<<"$out" && ! grep -q all-forked <<<"$out" && pass "pids limit enforced (forks refused)" || failc "pids limit" "$out"

  # the cgroup mount without a cgroup namespace: the container's own cgroup, not the host's
  b=$(bundle cgmount "c['linux']['namespaces'] = [n for n in c['linux']['namespaces'] if n['type'] != 'cgroup']
c['linux']['resources'] = {'memory': {'limit': 33554432}}
c['process']['args'] = ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']")
  out=$(run_case cgmount "$b"); "${RT[@]}" delete cgmount >/dev/null 2>&1
  grep -q '^33554432' <<<"$out" && pass "cgroup mount without a cgroup namespace shows the container's cgroup" || failc "cgroup mount" "$out"

  # seccomp: an errno for a syscall, and one only for an argument value
  b=$(bundle seccomp "c['process']['args'] = ['sh', '-c', 'mkdir /tmp/sc-$name 2>&1; kill -0 \$\$ && echo kill0-ok; kill -USR1 \$\$ 2>&1 || echo usr1-refused']
c['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
  'syscalls': [{'names': ['mkdir', 'mkdirat'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 1},
               {'names': ['kill'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 13, 'args': [{'index': 1, 'value': 10, 'op': 'SCMP_CMP_EQ'}]}]}")
  out=$(run_case seccomp "$b"); "${RT[@]}" delete seccomp >/dev/null 2>&1
  grep -q 'Operation not permitted' <<<"$out" && grep -q kill0-ok <<<"$out" && grep -q usr1-refused <<<"$out" && [ ! -d "$work/rootfs/tmp/sc-$name" ] \
    && pass "seccomp profile: errnoRet, argument conditions" || failc "seccomp" "$out"

  # overlay rootfs, as engines hand it (no user namespace: used as given)
  ov="$work/ovl-$name"; mkdir -p "$ov/upper" "$ov/work" "$ov/merged"
  mount -t overlay overlay -o "lowerdir=$work/rootfs,upperdir=$ov/upper,workdir=$ov/work" "$ov/merged"
  b=$(bundle overlay "c['root']['path'] = '$ov/merged'; c['process']['args'] = ['sh', '-c', 'echo written > /on-overlay; cat /on-overlay']")
  out=$(run_case overlay "$b"); "${RT[@]}" delete overlay >/dev/null 2>&1
  umount "$ov/merged"
  grep -q '^written' <<<"$out" && [ -f "$ov/upper/on-overlay" ] && pass "overlay mount as rootfs" || failc "overlay rootfs" "$out"

  # exec into a running container, with an OCI process file
  b=$(bundle exec "c['process']['args'] = ['sleep', '100']")
  "${RT[@]}" create --bundle "$b" ex </dev/null >/dev/null 2>&1 && "${RT[@]}" start ex
  out=$("${RT[@]}" exec ex sh -c 'echo exec-ok; exit 3' 2>&1); rc=$?
  echo '{"args": ["id"], "cwd": "/", "env": ["PATH=/usr/bin:/bin"], "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]}}' >"$b/process.json"
  out2=$("${RT[@]}" exec --process "$b/process.json" ex 2>&1)
  # a terminal through the console socket, then --detach with a pid file
  python3 "$helper" console "$b/exec.sock" >"$b/tty.out" 2>&1 &
  lp=$!
  for ((i = 0; i < 100; i++)); do [ -S "$b/exec.sock" ] && break; sleep 0.02; done
  "${RT[@]}" exec --tty --console-socket "$b/exec.sock" ex sh -c 'tty; echo exec-tty-ok' >/dev/null 2>&1
  wait $lp
  # (The pid file's process: the detached one, or with fk-oci's agent as init the host relay
  # that stands for it, docs/oci.md.)
  "${RT[@]}" exec --detach --pid-file "$b/exec.pid" ex sleep 50 >/dev/null 2>&1
  dp=$(cat "$b/exec.pid" 2>/dev/null)
  dcomm=$(cat /proc/$dp/comm 2>/dev/null)
  "${RT[@]}" delete --force ex >/dev/null 2>&1
  grep -q exec-tty-ok "$b/tty.out" && grep -q '/dev/pts/' "$b/tty.out" && { [ "$dcomm" = sleep ] || [ "$name-$dcomm" = fk-oci-fk-oci-relay ]; } \
    && pass "exec: a terminal through the console socket, --detach with a pid file" || failc "exec tty/detach" "$(cat "$b/tty.out")" "detached: $dp $dcomm"
  [ "$rc" = 3 ] && grep -q exec-ok <<<"$out" && grep -q 'uid=1000' <<<"$out2" && grep -q 'groups=.*5' <<<"$out2" \
    && pass "exec: exit status, --process with user and additional gids" || failc "exec" "rc=$rc $out" "$out2"

  # a read-only root
  b=$(bundle ro "c['root']['readonly'] = True; c['process']['args'] = ['sh', '-c', 'touch /ro-$name 2>&1; echo done']")
  out=$(run_case ro "$b"); "${RT[@]}" delete ro >/dev/null 2>&1
  grep -q 'Read-only file system' <<<"$out" && [ ! -e "$work/rootfs/ro-$name" ] && pass "read-only root" || failc "read-only root" "$out"

  # delete --force of a container already gone; kill of a stopped one
  b=$(bundle gone "c['process']['args'] = ['true']")
  out=$(run_case gone "$b")
  "${RT[@]}" delete --force gone >/dev/null 2>&1 && [ ! -e "$state/gone" ] && pass "delete --force after the process exited" || failc "delete --force stopped"
  exit 0
fi

# --- main ---
. "$FIRKIN_SRC/tests/integration/lib.sh"
FK_OCI=${FK_OCI:-$FIRKIN_BUILD/src/oci/fk-oci}
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
work=$(mktemp -d /tmp/fk-oci-test.XXXXXX)
chmod 755 "$work"
rmcg() { for h in /sys/fs/cgroup/*/fk-oci-test /sys/fs/cgroup/unified/fk-oci-test; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null; done; }
cleanup_rt() {
  local st=$1 id
  for id in $(ls "$st" 2>/dev/null); do "${@:2}" --root "$st" delete --force "$id"; done
}
on_exit "rm -rf '$work'"
on_exit "rmcg"
on_exit "for m in \$(grep -o '$work/[^ ]*' /proc/mounts | sort -r); do umount -l \$m; done"
on_exit "cleanup_rt '$work/state-fk-oci' '$FK_OCI'"
on_exit "unshare -m bash -c 'umount /sys/fs/cgroup/unified 2>/dev/null; for id in \$(ls $work/state-crun 2>/dev/null); do crun --root $work/state-crun delete --force \$id; done'"
"$FIRKIN_SRC/scripts/busybox-rootfs.sh" "$work/rootfs" >/dev/null
mkdir -p "$work/crun" "$work/fk-oci"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
c = {
  "ociVersion": "1.0.2",
  "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
              "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], "cwd": "/",
              "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
              "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
              "noNewPrivileges": True},
  "root": {"path": work + "/rootfs", "readonly": False},
  "hostname": "oci",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}],
  "linux": {
    "resources": {"devices": [{"allow": False, "access": "rwm"}]},
    "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}}
json.dump(c, open(work + "/config.json", "w"), indent=1)
PY

declare -A results
runs=()
if command -v crun >/dev/null; then
  runs+=(crun)
  crun_out=$(unshare -m --propagation private bash "$0" --suite "$(command -v crun)" "$work" crun 2>&1)
fi
runs+=(fk-oci)
fk_out=$(bash "$0" --suite "$FK_OCI" "$work" fk-oci 2>&1)
n_cases=$(grep -c '^\(PASS\|FAIL\)' <<<"$fk_out")
bad_cases=11
plan $((n_cases * ${#runs[@]} + 1 + bad_cases))
report() {
  local who=$1 out=$2 line
  while IFS= read -r line; do
    case "$line" in
      PASS*) ok "$who: ${line#PASS }" ;;
      FAIL*) fail "$who: ${line#FAIL }" ;;
      '# '*) echo "$line" ;;
    esac
  done <<<"$out"
}
[ -n "${crun_out:-}" ] && report crun "$crun_out"
report fk-oci "$fk_out"
if [ -n "${crun_out:-}" ]; then
  a=$(grep -c '^PASS' <<<"$crun_out"); b=$(grep -c '^PASS' <<<"$fk_out")
  [ "$a" = "$b" ] && [ "$a" = "$n_cases" ] && ok "crun and fk-oci pass the same $a cases" || fail "crun passed $a, fk-oci $b of $n_cases"
else
  skip "crun and fk-oci pass the same cases" "crun is not installed"
fi

# --- bad input: fk-oci alone ---
st="$work/state-bad"; log="$work/bad.json"
FK=("$FK_OCI" --root "$st" --log "$log" --log-format json)
# refused NAME WORDS CMD...: fails, names WORDS on stderr and in log.json's last line, and
# leaves no state, cgroup nor process behind for its id.
refused() {
  local name=$1 words=$2; shift 2
  : >"$log"
  local err rc last
  err=$("$@" 2>&1 >/dev/null); rc=$?
  last=$(tail -n 1 "$log")
  local left=""
  [ -e "$st/bad" ] && left="$left state"
  ls -d /sys/fs/cgroup/*/fk-oci-test/bad-* 2>/dev/null | grep -qv bad-dup && left="$left cgroup"
  pgrep -f "create --bundle [^ ]* bad\$" >/dev/null && left="$left process"
  if [ $rc -ne 0 ] && grep -qiE "$words" <<<"$err" && python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["level"]=="error" and d["msg"] and d["time"]' "$last" 2>/dev/null \
      && grep -qiE "$words" <<<"$last" && [ -z "$left" ]; then
    ok "bad input: $name"
  else
    fail "bad input: $name"; diag "rc=$rc stderr: $err" "log: $last" "left:$left"
  fi
}
mkb() { local b="$work/bad/$1"; mkdir -p "$b"; cp "$work/config.json" "$b/"; python3 "$helper" config "$b" "c['linux']['cgroupsPath'] = '/fk-oci-test/bad-$1'; c['process']['args'] = ['sleep', '100']; ${2:-}"; echo "$b"; }
b=$(mkb trunc); head -c 200 "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
refused "truncated config.json" "config.json" "${FK[@]}" create --bundle "$b" bad
b=$(mkb version "c['ociVersion'] = '2.0.0'")
refused "unknown ociVersion" "ociVersion.*2.0.0" "${FK[@]}" create --bundle "$b" bad
b=$(mkb norootfs "c['root']['path'] = '$work/no-such-rootfs'")
refused "rootfs that does not exist" "no-such-rootfs" "${FK[@]}" create --bundle "$b" bad
b=$(mkb dotdot "c['mounts'].append({'destination': '/tmp/../../etc', 'type': 'tmpfs', 'source': 'tmpfs'})")
refused "mount destination with .." "\\.\\." "${FK[@]}" create --bundle "$b" bad
b=$(mkb nsfile "c['linux']['namespaces'][1]['path'] = '/etc/hostname'")
refused "namespace path that is not a namespace" "not a network namespace" "${FK[@]}" create --bundle "$b" bad
b=$(mkb console "c['process']['terminal'] = True"); touch "$work/not-a-socket"
refused "console socket that is not a socket" "not a socket" "${FK[@]}" create --bundle "$b" --console-socket "$work/not-a-socket" bad
b=$(mkb slash)
refused "container id with a slash" "invalid container id" "${FK[@]}" create --bundle "$b" bad/x
# A second create of an id, start twice, delete of a running one: the first container stays
# (then goes).
b=$(mkb dup)
"${FK[@]}" create --bundle "$b" dup </dev/null >/dev/null 2>&1
refused "second create of the same id" "already exists" "${FK[@]}" create --bundle "$b" dup
"${FK[@]}" start dup
refused "start twice" "running, not created" "${FK[@]}" start dup
refused "delete of a running container without --force" "running.*--force" "${FK[@]}" delete dup
"${FK[@]}" delete --force dup
# A link out of the root: the mount resolves inside the root (as the kernel does for the
# container's own lookups), never on the host's path.
mkdir -p "$work/outside"; ln -sfn "$work/outside" "$work/rootfs/escape"
b=$(mkb link "c['mounts'].append({'destination': '/escape/x', 'type': 'tmpfs', 'source': 'tmpfs'}); c['process']['args'] = ['true']")
python3 "$helper" run "${FK[@]}" -- link "$b" >/dev/null 2>&1
"${FK[@]}" delete --force link
if [ ! -e "$work/outside/x" ] && ! grep -q "$work/outside" /proc/mounts; then ok "bad input: mount through a symlink out of the root stays inside the root"; else fail "bad input: mount through a symlink out of the root reached the host"; fi
rm -f "$work/rootfs/escape"
done_testing
