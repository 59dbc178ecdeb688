#!/usr/bin/env bash
# fk-agent as the sandbox runtime starts it: option errors, a listening fd handed over
# (--listen-fd, clients queued in the backlog before the agent runs), the hello exchange spoken
# by an independent implementation (python), a garbage frame, and SIGTERM.
. "$FIRKIN_SRC/tests/integration/lib.sh"
plan 7

if [ -z "${FK_AGENT:-}" ]; then
  for i in 1 2 3 4 5 6 7; do skip "agent cli" "FK_AGENT not set"; done
  done_testing
fi

out=$("$FK_AGENT" 2>&1); rc=$?
if [ $rc -eq 2 ] && [[ $out == *usage* ]]; then ok "no listener: usage, exit 2"; else fail "no listener: rc=$rc $out"; fi
out=$("$FK_AGENT" --listen-fd x 2>&1); rc=$?
if [ $rc -eq 2 ] && [[ $out == *"not an fd number"* ]]; then ok "bad --listen-fd named"; else fail "bad --listen-fd: rc=$rc $out"; fi

dir=$(mktemp -d /tmp/fk-agent-cli.XXXXXX)
on_exit "rm -rf '$dir'"
on_exit '[ -n "${py_pid:-}" ] && kill $py_pid 2>/dev/null'

# python binds and listens, connects a client BEFORE starting the agent with the fd, then
# speaks the protocol: hello, an exec of `echo hi`, then a garbage frame on a second connection.
cat > "$dir/drive.py" <<'PY'
import os, socket, struct, subprocess, sys
agent, d = sys.argv[1], sys.argv[2]
path = os.path.join(d, "agent.sock")
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path); ls.listen(16)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(path)  # queued in the backlog: no readiness wait
def field(tag, v):
    if isinstance(v, int): v = struct.pack('<Q', v)
    elif isinstance(v, str): v = v.encode() + b'\0'
    return struct.pack('<HI', tag, len(v)) + v
def frame(t, flags, rid, payload):
    return struct.pack('<IHHI', len(payload), t, flags, rid) + payload
def read_frame(s):
    h = b''
    while len(h) < 12:
        b = s.recv(12 - len(h))
        if not b: return None
        h += b
    n, t, fl, rid = struct.unpack('<IHHI', h)
    p = b''
    while len(p) < n:
        p += s.recv(n - len(p))
    return t, fl, rid, p
fd = ls.fileno()
os.set_inheritable(fd, True)
p = subprocess.Popen([agent, "--listen-fd", str(fd), "--root", d], pass_fds=[fd])
ls.close()
c.sendall(frame(1, 0, 1, field(1, 'FKW1') + field(2, 1)))
t, fl, rid, pl = read_frame(c)
print("hello", t, rid, len(pl) > 0)
c.sendall(frame(2, 0, 2, field(3, 'echo') + field(3, 'hi')))
out = b''; code = None
while True:
    f = read_frame(c)
    if f is None: break
    t, fl, rid, pl = f
    if t == 68: out += pl
    if t == 70:
        code = struct.unpack('<Q', pl[6:14])[0]; break
print("exec", out.decode().strip(), code)
g = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
g.connect(path)
g.sendall(struct.pack('<IHHI', 0x7fffffff, 2, 0, 1))
print("garbage", read_frame(g) is None)
c.close(); g.close()
p.terminate()
print("exit", p.wait(timeout=20))
PY
res=$(timeout 60 python3 "$dir/drive.py" "$FK_AGENT" "$dir" 2>&1)
diag "$res"
[[ $res == *"hello 64 1 True"* ]] && ok "--listen-fd: a client queued before the agent started gets hello" || fail "hello"
[[ $res == *"exec hi 0"* ]] && ok "exec through the raw protocol" || fail "exec"
[[ $res == *"garbage True"* ]] && ok "an oversized frame closes that connection" || fail "garbage"
[[ $res == *"exit 0"* ]] && ok "SIGTERM: exit 0" || fail "exit"
[ -e "$dir/agent.sock" ] && ok "the socket file stays (its owner removes it)" || fail "socket"
done_testing
