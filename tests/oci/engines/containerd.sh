#!/usr/bin/env bash
# tests/oci/engines/containerd.sh: containerd from Debian, started by the test with its CRI
# plugin disabled and its own root, state and sockets, driving an OCI runtime through the runc
# shim (io.containerd.runc.v2) with its BinaryName option. The same cases against crun (or
# $OCI_RUNTIME) and then against fk-oci: ctr run --runc-binary (exit codes), the runtime entry of
# docs/kubernetes.md, ctr task exec, ps, pause/resume, kill, metrics, a runtime error showing the
# runtime's log.json message, and a pod-shaped pair (a pause container, then an app container
# joining its namespaces by path). One containerd for the whole script.
. "$(dirname "$0")/lib.sh"

cases_per_runtime=14
plan $((3 + 2 * cases_per_runtime))

if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
  for ((i = 0; i < 3 + 2 * cases_per_runtime; i++)); do skip containerd "containerd not installed"; done
  done_testing
fi

eng_containerd_start
if retry_until 100 c version; then
  ok "containerd started with its own root, state and socket, CRI disabled"
else
  fail "containerd started with its own root, state and socket, CRI disabled"
  sed 's/^/# /' "$C_DIR/containerd.log" | tail -20
fi

if eng_containerd_import; then
  ok "ctr image import of the local busybox image"
else
  fail "ctr image import of the local busybox image"
  sed 's/^/# /' "$ENG_WORK/err" | head
fi

task_status() { ENG_CMD_TIMEOUT=5 c task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_is() { [ "$(task_status "$1")" = "$2" ]; }
task_not() { [ "$(task_status "$1")" != "$2" ]; }
task_pid() { ENG_CMD_TIMEOUT=5 c task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
# The exit code containerd recorded, as `ctr task rm' reports it (0 when it says nothing).
task_rm_code() {
  local out
  out=$(c task rm "$1" 2>&1)
  c container rm "$1" >/dev/null 2>&1
  if [[ $out =~ exit\ code\ ([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}
c_rm() {
  ENG_CMD_TIMEOUT=10 c task kill -s KILL "$1" >/dev/null 2>&1
  retry_until 30 task_not "$1" RUNNING
  ENG_CMD_TIMEOUT=10 c task rm -f "$1" >/dev/null 2>&1
  ENG_CMD_TIMEOUT=10 c container rm "$1" >/dev/null 2>&1
}

run_cases() {
  local rt=$1 rtp=$2
  t() { echo "[$rt] $*"; }
  # cr ID ARGS...: ctr run with the runtime under test, the container in the test's cgroup.
  cr() { local id=$1; shift; c run --runc-binary "$rtp" --cgroup "/$ENG_CGROUP_PARENT/$id" "$@"; }

  expect_out "$(t ctr run --runc-binary: output)" "hello" cr "$rt-1" --rm "$IMG" "$rt-1" echo hello
  expect_rc "$(t ctr run --runc-binary: exit code 7 passed through)" 7 cr "$rt-2" --rm "$IMG" "$rt-2" sh -c 'exit 7'

  # The runtime entry: runtime_type io.containerd.runc.v2 with options.BinaryName. Its runtime
  # name and options are what the CRI plugin hands the shim; ctr hands it the same ones.
  # The entry is read back from containerd's own view of the config (dumped with the CRI plugin
  # enabled, as a node would run it) and its runtime_type and BinaryName are what ctr passes.
  local entry rtype bin
  entry=$(sed '/^disabled_plugins/,/\]$/d' "$C_DIR/config.toml" >"$C_DIR/dump.toml" &&
    containerd --config "$C_DIR/dump.toml" config dump 2>/dev/null |
    awk -v want="runtimes.$rt]" -v wopt="runtimes.$rt.options]" '
      index($0, want) { inr = 1; next } index($0, wopt) { ino = 1; next } /^ *\[/ { inr = 0; ino = 0 }
      inr && $1 == "runtime_type" { print "type", $3 } ino && $1 == "BinaryName" { print "bin", $3 }')
  rtype=$(awk '$1 == "type" { gsub(/"/, "", $2); print $2 }' <<<"$entry")
  bin=$(awk '$1 == "bin" { gsub(/"/, "", $2); print $2 }' <<<"$entry")
  if [ "$rtype" = io.containerd.runc.v2 ] && [ "$bin" = "$rtp" ]; then
    expect_out "$(t runtime entry runtimes.$rt: runtime_type $rtype, BinaryName)" "entry" \
      c run --runtime "$rtype" --runc-binary "$bin" --cgroup "/$ENG_CGROUP_PARENT/$rt-3" --rm "$IMG" "$rt-3" echo entry
  else
    fail "$(t runtime entry runtimes.$rt: runtime_type, BinaryName)"
    diag "containerd config dump gave: $entry"
  fi

  # A long-lived task: exec, ps, metrics, pause/resume, kill.
  local d=$rt-d pid
  if cr "$d" -d --memory-limit 33554432 "$IMG" "$d" sh -c 'trap "exit 9" USR1; while :; do echo . >>/tmp/c; sleep 0.05; done' \
    >/dev/null 2>"$ENG_WORK/err" && retry_until 50 task_is "$d" RUNNING; then
    ok "$(t ctr run -d: task running)"
  else
    fail "$(t ctr run -d: task running)"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  pid=$(task_pid "$d")
  expect_rc "$(t ctr task exec: exit code 3 and output)" 3 c task exec --exec-id e1 "$d" sh -c 'echo in-task; exit 3'
  if grep -qx in-task "$ENG_WORK/out"; then ok "$(t ctr task exec: output)"; else fail "$(t ctr task exec: output)"; fi
  if c task ps "$d" 2>"$ENG_WORK/err" | awk 'NR > 1 { print $1 }' | grep -qx "$pid"; then
    ok "$(t ctr task ps lists the init process)"
  else
    fail "$(t ctr task ps lists the init process)"
    c task ps "$d" 2>&1 | sed 's/^/# /' | head
  fi
  local m
  m=$(c task metrics "$d" 2>&1)
  if task_is "$d" RUNNING && grep -q 33554432 <<<"$m" && grep -qE '^pids.current +[1-9]' <<<"$m"; then
    ok "$(t ctr task metrics: the 32 MiB memory limit and pids)"
  else
    fail "$(t ctr task metrics: the 32 MiB memory limit and pids)"
    sed 's/^/# /' <<<"$m" | head -20
  fi
  local s1 s2
  if c task pause "$d" 2>"$ENG_WORK/err" && [ "$(task_status "$d")" = PAUSED ] &&
    s1=$(stat -c %s "/proc/$pid/root/tmp/c") && sleep 0.3 && s2=$(stat -c %s "/proc/$pid/root/tmp/c") &&
    [ "$s1" = "$s2" ] && c task resume "$d" && [ "$(task_status "$d")" = RUNNING ] &&
    sleep 0.3 && [ "$(stat -c %s "/proc/$pid/root/tmp/c")" != "$s2" ]; then
    ok "$(t ctr task pause freezes the workload, resume thaws it)"
  else
    fail "$(t ctr task pause freezes the workload, resume thaws it)"
    diag "status=$(task_status "$d") sizes ${s1:-} ${s2:-}"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  if c task kill -s SIGUSR1 "$d" 2>"$ENG_WORK/err" && retry_until 50 task_is "$d" STOPPED &&
    [ "$(task_rm_code "$d")" = 9 ]; then
    ok "$(t ctr task kill -s SIGUSR1 reaches the workload: exit code 9)"
  else
    fail "$(t ctr task kill -s SIGUSR1 reaches the workload: exit code 9)"
    diag "status=$(task_status "$d")"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  c_rm "$d"

  # A runtime error: the message the runtime wrote to log.json is what ctr shows. A namespace
  # path that is not a namespace is refused by create in every runtime.
  # crun 1.8.1 finds it in the container's child and sometimes loses the child's message
  # ("write to sync socket: Broken pipe"): up to eight tries; when crun loses it every time,
  # the crun half of the case is skipped naming that (the peer's race, not the test's subject).
  local e rc
  : >"$ENG_WORK/not-a-namespace"
  for _ in 1 2 3 4 5 6 7 8; do
    e=$(cr "$rt-e" --rm --with-ns "network:$ENG_WORK/not-a-namespace" "$IMG" "$rt-e" true 2>&1)
    rc=$?
    c_rm "$rt-e"
    grep -q 'not-a-namespace' <<<"$e" && break
  done
  if [ $rc != 0 ] && grep -q 'OCI runtime' <<<"$e" && grep -q 'not-a-namespace' <<<"$e"; then
    ok "$(t a runtime error shows the message the runtime wrote to log.json)"
  elif [ "$rt" = crun ] && grep -q 'write to sync socket: Broken pipe' <<<"$e"; then
    skip "$(t a runtime error shows the message the runtime wrote to log.json)" "crun lost its child's message in 8 tries"
  else
    fail "$(t a runtime error shows the message the runtime wrote to log.json)"
    diag "rc=$rc"
    sed 's/^/# /' <<<"$e" | head
  fi
  c_rm "$rt-e"
  # A missing executable: runc and crun refuse it at create, so the engine reports a runtime
  # error (a kubelet: CreateContainerError) rather than a container that ran and exited 127.
  e=$(cr "$rt-x" --rm "$IMG" "$rt-x" /nonexistent-binary 2>&1)
  rc=$?
  if [ $rc != 0 ] && [ $rc != 127 ] && grep -q 'OCI runtime' <<<"$e" && grep -q '/nonexistent-binary' <<<"$e"; then
    ok "$(t a missing executable is a runtime error naming it)"
  else
    fail "$(t a missing executable is a runtime error naming it)"
    diag "rc=$rc"
    sed 's/^/# /' <<<"$e" | head
  fi
  c_rm "$rt-x"

  # A pod-shaped pair: a pause container holds the namespaces, the app container's spec joins
  # its network, ipc, uts and pid namespaces by path (linux.namespaces[].path).
  local pp=$rt-pause app=$rt-app ppid want got
  cr "$pp" -d "$IMG" "$pp" sh -c 'echo pause-ready >/tmp/r; exec sleep 1000' >/dev/null 2>"$ENG_WORK/err"
  retry_until 50 task_is "$pp" RUNNING
  ppid=$(task_pid "$pp")
  if [ -n "$ppid" ]; then
    # PID 1 of the shared pid namespace is the pause container's init: its `sleep', or the
    # agent that runs it (fk-oci's default).
    want="$(readlink "/proc/$ppid/ns/net") $(readlink "/proc/$ppid/ns/ipc") $(readlink "/proc/$ppid/ns/uts") $(cat "/proc/$ppid/comm")"
    got=$(cr "$app" --rm --with-ns "network:/proc/$ppid/ns/net" --with-ns "ipc:/proc/$ppid/ns/ipc" \
      --with-ns "uts:/proc/$ppid/ns/uts" --with-ns "pid:/proc/$ppid/ns/pid" "$IMG" "$app" \
      sh -c 'echo $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts) $(cat /proc/1/comm)' 2>"$ENG_WORK/err")
    if [ "$got" = "$want" ]; then
      ok "$(t pod pair: the app container joins the namespaces of the pause container by path)"
    else
      fail "$(t pod pair: the app container joins the namespaces of the pause container by path)"
      diag "want [$want] got [$got]"
      sed 's/^/# /' "$ENG_WORK/err" | head
    fi
  else
    fail "$(t pod pair: the app container joins the namespaces of the pause container by path)"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  c_rm "$app"
  c_rm "$pp"
  if [ -z "$(c container ls -q)" ] && [ -z "$(c task ls -q)" ]; then
    ok "$(t no container or task left)"
  else
    fail "$(t no container or task left)"
    c container ls 2>&1 | sed 's/^/# /'
  fi
}

mapfile -t runtimes < <(eng_runtimes)
for line in "${runtimes[@]}"; do
  read -r name path reason <<<"$line"
  if [ "$reason" != - ]; then
    for ((i = 0; i < cases_per_runtime; i++)); do skip "[$name] containerd case $((i + 1))" "${reason//_/ }"; done
    continue
  fi
  run_cases "$name" "$path"
done
left=$(eng_cgroup_procs)
if [ -z "$left" ]; then
  ok "no process left in the test's cgroups"
else
  fail "no process left in the test's cgroups"
  for p in $left; do diag "pid $p: $(tr "\0" " " </proc/$p/cmdline 2>/dev/null) in $(grep -h "$ENG_CGROUP_PARENT" /proc/$p/cgroup 2>/dev/null | head -2 | tr "\n" " ")"; done
fi
done_testing
