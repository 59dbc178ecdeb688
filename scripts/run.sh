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
fkd_pid=""
cleanup() {
  [ -n "$id" ] && "$FK" rm -f "$id" 2>/dev/null || true
  [ -n "$fkd_pid" ] && kill "$fkd_pid" 2>/dev/null && wait "$fkd_pid" 2>/dev/null || true
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

FKD=$build/src/daemon/fkd
if [ -x "$FKD" ] && command -v curl >/dev/null; then
  step "the same through fkd, the E2B API (loopback; docs/fkd.md)"
  port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  api=127.0.0.1:$(port) envd=127.0.0.1:$(port) key=e2b_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  "$FKD" --listen "$api" --envd-listen "$envd" --api-key "$key" 2>"$work/fkd.log" &
  fkd_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$api/v2/sandboxes" -H "X-API-Key: $key" && break; sleep 0.05; done
  echo "fkd on http://$api (control) and http://$envd (envd)"
  created=$(curl -s -X POST "http://$api/v2/sandboxes" -H "X-API-Key: $key" \
    -H 'Content-Type: application/json' -d '{"templateID": "base", "timeout": 300, "metadata": {"job": "make-run"}}')
  read -r id token < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["sandboxID"], d.get("envdAccessToken",""))' <<<"$created")
  echo "POST /v2/sandboxes -> sandbox $id"
  # process.Process/Start: one Connect envelope (flag, 4-byte length, JSON); the reply is a stream
  # of envelopes: start, stdout data, end.
  req='{"process":{"cmd":"/bin/sh","args":["-c","echo hello through fkd from $(hostname)"]}}'
  { printf '\x00'; python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack(">I", int(sys.argv[1])))' "${#req}"; printf '%s' "$req"; } > "$work/start.bin"
  curl -s -X POST "http://$envd/process.Process/Start" -H "E2b-Sandbox-Id: $id" \
    -H "X-Access-Token: $token" -H 'Content-Type: application/connect+json' \
    --data-binary "@$work/start.bin" -o "$work/stream.bin"
  python3 - "$work/stream.bin" <<'PY'
import base64, json, struct, sys
b = open(sys.argv[1], "rb").read()
while len(b) >= 5:
    flags, n = b[0], struct.unpack(">I", b[1:5])[0]
    msg = json.loads(b[5:5 + n]); b = b[5 + n:]
    ev = msg.get("event", {})
    if "data" in ev:
        out = ev["data"].get("stdout")
        print("  stdout:", base64.b64decode(out).decode().rstrip() if out else ev["data"])
    elif flags & 2:
        print("  end of stream", msg)
    else:
        print(" ", json.dumps(ev))
PY
  curl -s -o /dev/null -w "DELETE /sandboxes/$id -> %{http_code}\n" -X DELETE "http://$api/sandboxes/$id" -H "X-API-Key: $key"
  id=""
  kill "$fkd_pid"; wait "$fkd_pid" 2>/dev/null || true; fkd_pid=""
fi
echo "main job done"
