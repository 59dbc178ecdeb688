#!/usr/bin/env bash
# tests/oci/engines/podman.sh: Podman from Debian driving an OCI runtime through --runtime, on a
# busybox image imported from a local rootfs: the same cases against crun (or $OCI_RUNTIME) and
# then against fk-oci. run --rm with exit codes passed through, run -d then exec, -it through
# tmux, stop, kill, pause/unpause, rm -f, --memory and --pids-limit enforced, --network none;
# then `fk exec` into the fk-oci container by its id. One Podman store for the whole script.
. "$(dirname "$0")/lib.sh"

cases_per_runtime=19
plan $((3 + 2 * cases_per_runtime))

command -v podman >/dev/null || { for ((i = 0; i < 3 + 2 * cases_per_runtime; i++)); do skip podman "podman not installed"; done; done_testing; }

eng_podman_init
tmux_sock=$ENG_WORK/tmux.sock
on_exit "tmux -S '$tmux_sock' kill-server"

if eng_podman_import; then
  ok "podman import of the local busybox rootfs"
else
  fail "podman import of the local busybox rootfs"
  sed 's/^/# /' "$ENG_WORK/err" | head
fi
check "podman image is listed" sh -c "podman --root '$P_DIR/root' --runroot '$P_DIR/run' images --format '{{.Repository}}' | grep -qx localhost/fk-engines-busybox"

# prun RT_PATH ARGS...: podman run with the runtime under test and the test's cgroup parent.
state() { ENG_CMD_TIMEOUT=5 pod inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
state_is() { [ "$(state "$1")" = "$2" ]; }
# The container's init pid once it has one (a slow start under load must not read as 0).
pidof_ctr() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$(ENG_CMD_TIMEOUT=10 pod inspect -f '{{.State.Pid}}' "$1" 2>/dev/null)
    [ -n "$p" ] && [ "$p" != 0 ] && { echo "$p"; return 0; }
    sleep 0.1
  done
  return 1
}
# The size of a file the workload appends to: appends are whole, so a frozen workload's file
# never changes size.
counter() { stat -c %s "/proc/$1/root/tmp/c" 2>/dev/null; }
# The pids cgroup of a container's init, as the host sees it (v1 `pids' or the v2 path).
pids_dir() {
  local line
  line=$(grep -E '^[0-9]+:(pids|):' "/proc/$1/cgroup" | head -1)
  local path=${line#*:*:}
  if [ -d /sys/fs/cgroup/pids ]; then echo "/sys/fs/cgroup/pids$path"; else echo "/sys/fs/cgroup$path"; fi
}

run_cases() {
  local rt=$1 rtp=$2
  t() { echo "[$rt] $*"; }
  R=(--runtime "$rtp")
  C=(--cgroup-parent "/$ENG_CGROUP_PARENT")
  prun() { pod "${R[@]}" run "${C[@]}" "$@"; }

  expect_out "$(t run --rm prints and exits 0)" "hello" prun --rm "$IMG" echo hello
  expect_rc "$(t run --rm passes exit code 7 through)" 7 prun --rm "$IMG" sh -c 'exit 7'
  # The runtime named in containers.conf ([engine.runtimes]) rather than by path.
  local rname=firkin
  [ "$rt" = fk-oci ] || rname=eng-$rt
  expect_out "$(t podman --runtime $rname: the containers.conf entry)" "named" \
    pod --runtime "$rname" run --rm --cgroup-parent "/$ENG_CGROUP_PARENT" "$IMG" echo named

  # One detached container for exec, pause/unpause, fk exec and rm -f.
  local d=eng-$rt-d
  if prun -d --name "$d" "$IMG" sh -c 'while :; do echo . >>/tmp/c; sleep 0.05; done' >/dev/null 2>"$ENG_WORK/err" &&
    retry_until 50 state_is "$d" running; then
    ok "$(t run -d: container running)"
  else
    fail "$(t run -d: container running)"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  expect_out "$(t exec runs in the container)" "in-ctr /" pod exec "$d" sh -c 'echo in-ctr $(pwd)'
  expect_rc "$(t exec passes exit code 5 through)" 5 pod exec "$d" sh -c 'exit 5'

  local pid c1 c2
  pid=$(pidof_ctr "$d")
  if pod pause "$d" >"$ENG_WORK/out" 2>&1 && [ "$(state "$d")" = paused ] &&
    c1=$(counter "$pid") && sleep 0.3 && c2=$(counter "$pid") && [ -n "$c1" ] && [ "$c1" = "$c2" ]; then
    ok "$(t pause: status paused, the workload frozen)"
  else
    fail "$(t pause: status paused, the workload frozen)"
    diag "state=$(state "$d") counter $c1 then ${c2:-}"
    sed 's/^/# /' "$ENG_WORK/out" | head
  fi
  if pod unpause "$d" >"$ENG_WORK/out" 2>&1 && [ "$(state "$d")" = running ] &&
    c1=$(counter "$pid") && sleep 0.3 && c2=$(counter "$pid") && [ -n "$c1" ] && [ "$c1" != "$c2" ]; then
    ok "$(t unpause: running again, the workload moves)"
  else
    fail "$(t unpause: running again, the workload moves)"
    diag "state=$(state "$d") counter $c1 then ${c2:-}"
    sed 's/^/# /' "$ENG_WORK/out" | head
  fi

  # fk exec into the Podman-made container by its id: fk-oci runs fk-agent as the container's
  # init, so fk finds the container in firkin's state by its OCI id and talks to the agent.
  local id
  id=$(pod inspect -f '{{.Id}}' "$d" 2>/dev/null)
  if [ "$rt" != fk-oci ]; then
    skip "$(t fk exec into the container by id)" "only fk-oci runs fk-agent as init"
  elif [ -z "${FK:-}" ] || [ ! -x "$FK" ]; then
    skip "$(t fk exec into the container by id)" "fk not built"
  else
    local fo
    fo=$("$FK" exec "$id" -- sh -c 'echo via-agent' 2>&1)
    if [ "$fo" = via-agent ]; then
      ok "$(t fk exec into the container by id)"
    else
      fail "$(t fk exec into the container by id)"
      sed 's/^/# /' <<<"$fo" | head
    fi
  fi

  if pod rm -f -t 0 "$d" >"$ENG_WORK/out" 2>&1 && ! pod container exists "$d" && ! kill -0 "$pid" 2>/dev/null; then
    ok "$(t rm -f removes the running container and its processes)"
  else
    fail "$(t rm -f removes the running container and its processes)"
    sed 's/^/# /' "$ENG_WORK/out" | head
  fi

  # stop: SIGTERM reaches the workload, which exits with its own code.
  local s=eng-$rt-s
  prun -d --name "$s" "$IMG" sh -c 'trap "exit 42" TERM; touch /tmp/ready; while :; do sleep 0.05; done' >/dev/null 2>&1
  pid=$(pidof_ctr "$s")
  retry_until 50 test -e "/proc/$pid/root/tmp/ready"
  if pod stop -t 5 "$s" >/dev/null 2>"$ENG_WORK/err" && [ "$(state "$s")" = exited ] &&
    [ "$(pod inspect -f '{{.State.ExitCode}}' "$s")" = 42 ]; then
    ok "$(t stop delivers SIGTERM: exit code 42 from the trap)"
  else
    fail "$(t stop delivers SIGTERM: exit code 42 from the trap)"
    diag "state=$(state "$s") exit=$(pod inspect -f '{{.State.ExitCode}}' "$s" 2>&1)"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  pod rm -f -t 0 "$s" >/dev/null 2>&1

  # kill: a chosen signal reaches the workload.
  local k=eng-$rt-k
  prun -d --name "$k" "$IMG" sh -c 'trap "exit 9" USR1; touch /tmp/ready; while :; do sleep 0.05; done' >/dev/null 2>&1
  pid=$(pidof_ctr "$k")
  retry_until 50 test -e "/proc/$pid/root/tmp/ready"
  if pod kill -s USR1 "$k" >/dev/null 2>"$ENG_WORK/err" && [ "$(pod wait "$k" 2>/dev/null)" = 9 ]; then
    ok "$(t kill -s USR1 reaches the workload: exit code 9)"
  else
    fail "$(t kill -s USR1 reaches the workload: exit code 9)"
    diag "state=$(state "$k") exit=$(pod inspect -f '{{.State.ExitCode}}' "$k" 2>&1)"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  pod rm -f -t 0 "$k" >/dev/null 2>&1
  # kill -s KILL: the workload cannot catch it; the engine sees 128+9.
  prun -d --name "$k" "$IMG" sh -c 'trap "" TERM USR1; while :; do sleep 0.05; done' >/dev/null 2>&1
  retry_until 50 state_is "$k" running
  if pod kill -s KILL "$k" >/dev/null 2>"$ENG_WORK/err" && [ "$(pod wait "$k" 2>/dev/null)" = 137 ]; then
    ok "$(t kill -s KILL: exit code 137)"
  else
    fail "$(t kill -s KILL: exit code 137)"
    diag "state=$(state "$k") exit=$(pod inspect -f '{{.State.ExitCode}}' "$k" 2>&1)"
    sed 's/^/# /' "$ENG_WORK/err" | head
  fi
  pod rm -f -t 0 "$k" >/dev/null 2>&1

  # -it through a terminal multiplexer: a shell on a tty, a command typed, its exit code back.
  local tout=$ENG_WORK/tmux-$rt.rc
  rm -f "$tout"
  tmux -S "$tmux_sock" new-session -d -s "$rt" -x 100 -y 20 \
    "podman --root '$P_DIR/root' --runroot '$P_DIR/run' --tmpdir '$P_DIR/tmp' --runtime '$rtp' run --cgroup-parent '/$ENG_CGROUP_PARENT' -it --rm $IMG sh; echo \$? >'$tout'; sleep 30" 2>"$ENG_WORK/err"
  retry_until 100 sh -c "tmux -S '$tmux_sock' capture-pane -p -t '$rt' | grep -q '# '"
  tmux -S "$tmux_sock" send-keys -t "$rt" 'tty; echo tty-$((6*7))' Enter
  if retry_until 50 sh -c "tmux -S '$tmux_sock' capture-pane -p -t '$rt' | grep -q '^tty-42'" &&
    tmux -S "$tmux_sock" capture-pane -p -t "$rt" | grep -q '^/dev/pts/'; then
    ok "$(t run -it: a shell on a terminal answers typed input)"
  else
    fail "$(t run -it: a shell on a terminal answers typed input)"
    tmux -S "$tmux_sock" capture-pane -p -t "$rt" 2>&1 | sed 's/^/# /' | head
  fi
  tmux -S "$tmux_sock" send-keys -t "$rt" 'exit 3' Enter
  if retry_until 100 test -s "$tout" && [ "$(cat "$tout")" = 3 ]; then
    ok "$(t run -it: exit 3 typed on the terminal is the exit code of podman)"
  else
    fail "$(t run -it: exit 3 typed on the terminal is the exit code of podman)"
    diag "rc=$(cat "$tout" 2>/dev/null)"
  fi
  tmux -S "$tmux_sock" kill-session -t "$rt" >/dev/null 2>&1

  # Limits: memory over the limit is killed, under it runs; a bounded fork bomb stops at the
  # pids limit (bounded so that a runtime that ignores the limit cannot take the machine down).
  expect_rc "$(t --memory 16m: a 40 MB allocation is killed, 137)" 137 \
    prun --rm --memory 16m --memory-swap 16m "$IMG" sh -c 'x=$(head -c 40000000 /dev/zero | tr "\0" a); echo ${#x}'
  expect_out "$(t --memory 16m: a 2 MB allocation runs)" 2000000 \
    prun --rm --memory 16m --memory-swap 16m "$IMG" sh -c 'x=$(head -c 2000000 /dev/zero | tr "\0" a); echo ${#x}'
  local f=eng-$rt-f pdir cur max events
  prun -d --name "$f" --pids-limit 24 "$IMG" sh -c 'b() { if [ $1 -gt 0 ]; then b $(($1-1)) & b $(($1-1)) & fi; sleep 20; }; b 7 2>/dev/null & exec sleep 60' >/dev/null 2>&1
  pid=$(pidof_ctr "$f")
  pdir=$(pids_dir "$pid" 2>/dev/null)
  if retry_until 300 sh -c "grep -q '^max [1-9]' '$pdir/pids.events'"; then
    cur=$(cat "$pdir/pids.current") max=$(cat "$pdir/pids.max") events=$(cat "$pdir/pids.events")
    if [ "$max" = 24 ] && [ "$cur" -le 24 ]; then
      ok "$(t --pids-limit 24: the fork bomb stops at the limit)"
    else
      fail "$(t --pids-limit 24: the fork bomb stops at the limit)"
      diag "pids.max=$max pids.current=$cur $events"
    fi
  else
    fail "$(t --pids-limit 24: the fork bomb stops at the limit)"
    diag "pid ${pid:-none} state $(state "$f") cgroup $pdir: $(cat "$pdir/pids.max" "$pdir/pids.current" "$pdir/pids.events" 2>&1 | tr '\n' ' ')"
  fi
  pod rm -f -t 0 "$f" >/dev/null 2>&1

  expect_out "$(t --network none: only the loopback interface)" "lo" \
    prun --rm --network none "$IMG" sh -c 'ls /sys/class/net'
}

mapfile -t runtimes < <(eng_runtimes)
for line in "${runtimes[@]}"; do
  read -r name path reason <<<"$line"
  if [ "$reason" != - ]; then
    for ((i = 0; i < cases_per_runtime; i++)); do skip "[$name] podman case $((i + 1))" "${reason//_/ }"; done
    continue
  fi
  run_cases "$name" "$path"
done

# Nothing of the runtimes left: no container, no process in the test's cgroups.
pod rm -a -f -t 0 >/dev/null 2>&1
left=$(eng_cgroup_procs)
if [ -z "$(pod ps -aq 2>/dev/null)" ] && [ -z "$left" ]; then
  ok "no container left, no process in the test's cgroups"
else
  fail "no container left, no process in the test's cgroups"
  diag "containers: $(pod ps -a --format '{{.Names}} {{.Status}}' 2>&1 | tr '\n' ' ') processes: $left"
fi
done_testing
