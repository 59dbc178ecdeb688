#!/usr/bin/env bash
# firkin's main job: prepare a template (`base` when the template store is built, else a busybox
# root filesystem), create a sandbox, run commands in it, move a file in and out, delete it.
# The sandbox is deleted at the end; the templates stay in the state dir for the next run.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
FK=$build/src/cli/fk
export FIRKIN_AGENT=${FIRKIN_AGENT:-$build/src/agent/fk-agent}
[ -x "$FK" ] && [ -x "$FIRKIN_AGENT" ] || { echo "run: build first (fk and fk-agent in $build)" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  echo "run: sandboxes need root here (the user namespace maps an unprivileged host range)" >&2
  exit 1
fi
work=$(mktemp -d /tmp/firkin-run.XXXXXX)
# Templates stay in the state dir ($FIRKIN_STATE_DIR, else /var/lib/firkin) for the next run.
id=""
cleanup() {
  [ -n "$id" ] && "$FK" rm -f "$id" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "prepare the default templates (built once, then reused)"
"$top/scripts/prepare-defaults.sh" "$FK"
source=(base)

step "create a sandbox (512M memory, 1 CPU, 256 pids, 1G disk, 10 min timeout)"
t0=$(date +%s%N)
id=$("$FK" create --memory 512M --cpus 1 --pids 256 --disk 1G --timeout 600 \
  --metadata job=make-run "${source[@]}")
t1=$(date +%s%N)
echo "sandbox $id created in $(( (t1 - t0) / 1000 )) us"
"$FK" ls

step "run commands in it"
"$FK" exec "$id" -- sh -c 'echo "hello from $(hostname): $(id)"; uname -srm'
"$FK" exec "$id" -- sh -c 'echo "processes (pid comm):"; for p in /proc/[0-9]*; do echo "  ${p#/proc/} $(cat $p/comm)"; done'
"$FK" exec --env GREETING=hi --cwd /tmp "$id" -- sh -c 'echo "$GREETING from $(pwd)"'
set +e
"$FK" exec "$id" -- sh -c 'exit 42'
echo "exit code passed through: $?"
set -e

step "move a file in and out"
printf 'a file from the host, %s\n' "$(date -u +%FT%TZ)" > "$work/in.txt"
"$FK" cp "$work/in.txt" "$id:/root/in.txt"
"$FK" exec "$id" -- sh -c 'tr a-z A-Z < /root/in.txt > /root/out.txt'
"$FK" cp "$id:/root/out.txt" "$work/out.txt"
echo "back on the host: $(cat "$work/out.txt")"

step "inspect and delete"
"$FK" inspect "$id"
"$FK" rm -f "$id"
id=""
"$FK" ls
echo "main job done"
