#!/usr/bin/env python3
"""tests/oci/helper.py: what runtime.sh needs that a shell lacks, for any OCI runtime.

  run RUNTIME_ARGS... -- ID BUNDLE [console]
      as a subreaper: create (stdio: this process's, or a console socket), start, wait for the
      container's process and print `exit N' (N: its status, 128+signal when killed); with
      `console' the terminal's output goes to stdout.
  console SOCKET
      listens on SOCKET, takes one fd (SCM_RIGHTS) and prints the payload (the pty's name),
      then what the terminal says until EOF.
  config BUNDLE PYTHON
      edits BUNDLE/config.json: PYTHON runs with the config as `c'.
"""
import ctypes, json, os, socket, subprocess, sys, time, array, select

PR_SET_CHILD_SUBREAPER = 36


def recv_fd(conn):
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return msg.decode(), (fds[0] if fds else -1)


def drain(fd, until_pid=None, timeout=10):
    out = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                break
            if not d:
                break
            out += d
        elif until_pid is not None:
            try:
                pid, st = os.waitpid(until_pid, os.WNOHANG)
            except ChildProcessError:
                pid, st = until_pid, 0
            if pid:
                return out, st
    return out, None


def run(argv):
    sep = argv.index("--")
    rt, (cid, bundle, *rest) = argv[:sep], argv[sep + 1 :]
    console = rest and rest[0] == "console"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pidfile = os.path.join(bundle, "pid." + cid)
    create = rt + ["create", "--bundle", bundle, "--pid-file", pidfile]
    srv = None
    if console:
        sock = os.path.join(bundle, "console." + cid)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock)
        srv.listen(1)
        create += ["--console-socket", sock]
    r = subprocess.run(create + [cid])
    if r.returncode != 0:
        print("create failed", r.returncode)
        sys.exit(1)
    master = -1
    if console:
        conn, _ = srv.accept()
        name, master = recv_fd(conn)
        print("pty", name)
    pid = int(open(pidfile).read())
    if subprocess.run(rt + ["start", cid]).returncode != 0:
        print("start failed")
        sys.exit(1)
    st = None
    if master >= 0:
        out, st = drain(master, until_pid=pid)
        sys.stdout.write(out.decode(errors="replace"))
    if st is None:
        end = time.time() + 20
        while time.time() < end:
            p, st = os.waitpid(-1, os.WNOHANG)
            if p == pid:
                break
            time.sleep(0.01)
        else:
            print("timeout")
            sys.exit(1)
    code = os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)
    print("exit", code)
    sys.stdout.flush()


def console(path):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    conn, _ = srv.accept()
    name, fd = recv_fd(conn)
    print("pty", name, flush=True)
    out, _ = drain(fd)
    sys.stdout.write(out.decode(errors="replace"))


def config(bundle, code):
    p = os.path.join(bundle, "config.json")
    c = json.load(open(p))
    exec(code, {"c": c})
    json.dump(c, open(p, "w"), indent=1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "run":
        run(sys.argv[2:])
    elif cmd == "console":
        console(sys.argv[2])
    elif cmd == "config":
        config(sys.argv[2], sys.argv[3])
