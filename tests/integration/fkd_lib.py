# tests/integration/fkd_lib.py: what the Python tests of fkd share (fkd_python_wire.py,
# fkd_load.py): TAP output, an fkd started on free loopback ports with a fresh state dir and the
# `base' template (as tests/e2b/harness.mjs does), stopped with every sandbox it made when the
# test ends however it ends, and a raw HTTP/1.1 client that sends exactly the bytes it is given
# (the SDKs' headers, chunked bodies, slow or half requests). Standard library only.
import atexit
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

FK = os.environ.get("FK", "")
FKD = os.environ.get("FKD", "")
FK_AGENT = os.environ.get("FK_AGENT", "")
SRC = os.environ.get("FIRKIN_SRC", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


# ---- TAP ----

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def plan(self, n):
        print(f"1..{n}", flush=True)

    def diag(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def ok(self, cond, name, why=""):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {name}", flush=True)
            if why:
                self.diag(why)
        return cond

    def check(self, name, fn, *args):
        """ok when fn(*args) returns without raising (an AssertionError's text is the reason)."""
        try:
            fn(*args)
        except Exception as e:  # the reason goes to the TAP diagnostics
            return self.ok(False, name, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
        return self.ok(True, name)

    def skip_all(self, why):
        print(f"1..0 # SKIP {why}", flush=True)
        sys.exit(0)

    def done(self):
        sys.exit(1 if self.failed else 0)


def require(tap):
    """Skips the whole test when fkd cannot run here."""
    if not FKD or not os.access(FKD, os.X_OK):
        tap.skip_all("fkd is not built")
    if not FK or not FK_AGENT or not os.access(FK_AGENT, os.X_OK):
        tap.skip_all("fk or fk-agent is not built")
    if os.geteuid() != 0:
        tap.skip_all("sandboxes need root here (user namespaces mapped from a host range)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- fkd ----

class Fkd:
    """fkd on loopback with its own state dir; stop() (also at exit) kills it, force-removes
    every sandbox of the state dir and the dir itself."""

    def __init__(self):
        self.state = tempfile.mkdtemp(prefix="fkd-py.")
        self.env = dict(os.environ, FIRKIN_STATE_DIR=self.state, FIRKIN_AGENT=FK_AGENT)
        # Under ASan, freed buffers wait in the quarantine and count as RSS: keep it small so
        # the memory checks measure fkd (harmless in a build without ASan).
        asan = self.env.get("ASAN_OPTIONS", "")
        self.env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
            "quarantine_size_mb=1:thread_local_quarantine_size_kb=64"
        self.key = "e2b_" + secrets.token_hex(16)
        self.proc = None
        self.log = None
        atexit.register(self.stop)
        subprocess.run([os.path.join(SRC, "tests/e2b/template.sh"), FK], env=self.env,
                       check=True, stdout=subprocess.DEVNULL)

    def start(self):
        self.api = free_port()
        self.envd = free_port()
        self.log = open(os.path.join(self.state, "fkd.err"), "w")
        self.proc = subprocess.Popen(
            [FKD, "--listen", f"127.0.0.1:{self.api}", "--envd-listen", f"127.0.0.1:{self.envd}",
             "--api-key", self.key], env=self.env, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"fkd did not start: {line!r} {self.stderr()}")
        return self

    def stderr(self):
        try:
            with open(os.path.join(self.state, "fkd.err")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def status(self, field):
        """A field of /proc/PID/status as a number (VmRSS in KiB, Threads)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def sandboxes(self):
        out = subprocess.run([FK, "ls", "-q"], env=self.env, capture_output=True, text=True)
        return [x for x in out.stdout.split() if x]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        if self.state and os.path.isdir(self.state):
            ids = self.sandboxes()
            if ids:
                subprocess.run([FK, "rm", "-f", *ids], env=self.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            shutil.rmtree(self.state, ignore_errors=True)
            self.state = None


def exit_on_signals():
    """SIGTERM and SIGINT end the test through sys.exit, so the atexit cleanups run."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))


# ---- raw HTTP/1.1 ----

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value (the last one)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:300]!r}>"


def connect(port, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def build(method, path, headers, body=b"", chunked=False, chunks=None):
    """The bytes of a request: headers as given (names and order kept), Content-Length or a
    chunked body (chunks: the pieces, default one)."""
    lines = [f"{method} {path} HTTP/1.1"]
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if chunked:
        lines.append("transfer-encoding: chunked")
        data = b""
        for c in (chunks if chunks is not None else [body]):
            if c:
                data += b"%x\r\n" % len(c) + c + b"\r\n"
        data += b"0\r\n\r\n"
    else:
        if body or method in ("POST", "PUT"):
            lines.append(f"content-length: {len(body)}")
        data = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


class Reader:
    """Reads responses off a socket: the head, then the body by Content-Length or chunks."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("the server closed the connection")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        status_line = self.line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"bad status line {status_line!r}")
        headers = {}
        while True:
            ln = self.line()
            if not ln:
                break
            k, _, v = ln.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return int(parts[1]), headers

    def chunks(self):
        """The pieces of a chunked body as they come."""
        while True:
            size = int(self.line().split(b";")[0], 16)
            if size == 0:
                while self.line():
                    pass
                return
            data = self.exact(size)
            self.exact(2)
            yield data

    def body(self, headers, method="GET", status=200):
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return b"".join(self.chunks())
        if "content-length" in headers:
            return self.exact(int(headers["content-length"]))
        out = self.buf
        self.buf = b""
        while True:
            d = self.sock.recv(65536)
            if not d:
                return out
            out += d

    def response(self, method="GET"):
        status, headers = self.head()
        return Response(status, headers, self.body(headers, method, status))


def request(port, method, path, headers=(), body=b"", chunked=False, timeout=30):
    """One request on a fresh connection; the response."""
    with connect(port, timeout) as s:
        s.sendall(build(method, path, [("host", f"127.0.0.1:{port}"), *headers], body, chunked))
        return Reader(s).response(method)


# ---- Connect envelopes ----

def envelope(payload, flags=0):
    return struct.pack(">BI", flags, len(payload)) + payload


def envelopes(data):
    """[(flags, bytes)] of a Connect stream body; raises on a torn or lying frame."""
    out, i = [], 0
    while i < len(data):
        if len(data) - i < 5:
            raise ValueError(f"a torn envelope header at {i}")
        flags, n = struct.unpack(">BI", data[i:i + 5])
        if len(data) - i - 5 < n:
            raise ValueError(f"an envelope of {n} bytes with {len(data) - i - 5} left")
        out.append((flags, data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


class EnvelopeStream:
    """Envelopes off a chunked Connect stream as they arrive."""

    def __init__(self, reader):
        self.reader = reader
        self.it = reader.chunks()
        self.buf = b""

    def next(self):
        while True:
            if len(self.buf) >= 5:
                flags, n = struct.unpack(">BI", self.buf[:5])
                if len(self.buf) >= 5 + n:
                    out = (flags, self.buf[5:5 + n])
                    self.buf = self.buf[5 + n:]
                    return out
            try:
                self.buf += next(self.it)
            except StopIteration:
                if self.buf:
                    raise ValueError("the stream ended inside an envelope")
                return None


def b64(data):
    return base64.b64encode(data).decode()


def wait_until(fn, timeout=20.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()
