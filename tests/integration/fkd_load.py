#!/usr/bin/env python3
# fkd under load and abuse, over raw sockets: a command that floods stdout to a client that reads
# slowly (fkd's memory stays bounded, the command is held back, other clients are served), clients
# that disconnect mid-stream and mid-download (fkd frees what they held; the process keeps
# running and can be killed), 1,000 idle keep-alive connections (no thread each, bounded memory),
# a request line, a header and a chunked body over the limits, slowloris clients, and a SIGTERM
# with streams open (each ends with an error, the sandboxes keep running, fkd exits 0). Each
# figure the test measures is printed as a TAP diagnostic. fkd and its sandboxes go at the end.
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fkd_lib as L  # noqa: E402

tap = L.Tap()
L.require(tap)
L.exit_on_signals()

MiB = 1 << 20
# fkd's own growth the test tolerates: its stream buffer (1 MiB a stream), libmicrohttpd's
# per-connection memory, allocator slack; far below what a flood or 1,000 clients would cost if
# fkd buffered without bound (hundreds of MiB) or kept a thread each (8 MiB of stack apiece).
RSS_SLACK_KB = 48 * 1024
# Answers other clients must get while fkd is under load.
PROMPT_S = 1.0
CMD_PROMPT_S = 2.0

fkd = L.Fkd().start()
tap.plan(28)

r = L.request(fkd.api, "POST", "/sandboxes", [("x-api-key", fkd.key),
                                              ("content-type", "application/json")],
              json.dumps({"templateID": "base", "timeout": 600}).encode())
sb = r.json()
sid, tok = sb["sandboxID"], sb["envdAccessToken"]
SB = [("e2b-sandbox-id", sid), ("x-access-token", tok)]


def unary(method, msg):
    r = L.request(fkd.envd, "POST", "/" + method, SB + [("content-type", "application/json")],
                  json.dumps(msg).encode())
    if r.status != 200:
        raise AssertionError(f"{method}: {r}")
    return r.json()


def start(cmd, timeout_ms=120000, rcvbuf=None):
    """A Start stream: (socket, EnvelopeStream, pid) once the start event is in."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", fkd.envd))
    msg = json.dumps({"process": {"cmd": "/bin/bash", "args": ["-l", "-c", cmd]},
                      "stdin": False}).encode()
    s.sendall(L.build("POST", "/process.Process/Start",
                      [("host", "127.0.0.1")] + SB + [("content-type", "application/connect+json"),
                                                      ("connect-timeout-ms", str(timeout_ms))],
                      L.envelope(msg)))
    rd = L.Reader(s)
    status, h = rd.head()
    assert status == 200, (status, h)
    es = L.EnvelopeStream(rd)
    pid = json.loads(es.next()[1])["event"]["start"]["pid"]
    return s, es, pid


def drain(es):
    """The rest of a stream: (stdout bytes, end events, end-of-stream message)."""
    import base64
    out, ends, eos = 0, [], None
    while True:
        fr = es.next()
        if fr is None:
            return out, ends, eos
        j = json.loads(fr[1])
        if fr[0] & 2:
            eos = j
            continue
        ev = j["event"]
        if "data" in ev and "stdout" in ev["data"]:
            out += len(base64.b64decode(ev["data"]["stdout"]))
        elif "end" in ev:
            ends.append(ev["end"])


def command(cmd):
    s, es, pid = start(cmd)
    with s:
        return drain(es)


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def health():
    r = L.request(fkd.envd, "GET", "/health", SB, timeout=10)
    assert r.status == 204, r


def small_command():
    out, ends, eos = command("echo hi")
    assert out == 3 and ends and ends[0].get("exitCode") == 0, (out, ends)


def pids():
    return [p["pid"] for p in unary("process.Process/List", {}).get("processes", [])]


class Probe(threading.Thread):
    """While fkd is loaded: its peak RSS, and the slowest /health and command round trips."""

    def __init__(self, commands=True):
        super().__init__(daemon=True)
        self.stop_ = threading.Event()
        self.commands = commands
        self.peak_kb = 0
        self.worst_health = 0.0
        self.worst_cmd = 0.0
        self.errors = []

    def run(self):
        while not self.stop_.is_set():
            try:
                self.peak_kb = max(self.peak_kb, fkd.status("VmRSS"))
                self.worst_health = max(self.worst_health, timed(health))
                if self.commands:
                    self.worst_cmd = max(self.worst_cmd, timed(small_command))
            except Exception as e:  # reported by the checks below
                self.errors.append(repr(e))
            self.stop_.wait(0.3)

    def finish(self):
        self.stop_.set()
        self.join()
        return self


def settled(value_fn, want, timeout=10):
    """Waits until value_fn() <= want; the last value."""
    L.wait_until(lambda: value_fn() <= want, timeout)
    return value_fn()


# Warm up (the first command loads the agent's client paths, the owners table...), then the
# baselines every later check returns to.
small_command()
health()
time.sleep(0.5)
base_rss, base_threads, base_fds = fkd.status("VmRSS"), fkd.status("Threads"), fkd.fds()
tap.diag(f"fkd at rest: RSS {base_rss} KiB, {base_threads} threads, {base_fds} fds")

# ---- a flood to a slow reader ----

FLOOD = ("n=0; while head -c 1048576 /dev/zero; do n=$((n+1)); "
         "echo $n > /tmp/flood.n; done")
s, es, flood_pid = start(FLOOD, rcvbuf=64 << 10)
probe = Probe()
probe.start()
read_b64 = 0
t_end = time.monotonic() + 6
s.settimeout(30)
while time.monotonic() < t_end:
    d = s.recv(64 << 10)
    if not d:
        break
    read_b64 += len(d)
    time.sleep(0.1)
probe.finish()
r = L.request(fkd.envd, "GET", "/files?path=/tmp/flood.n", SB)
produced = int(r.body or b"0") * MiB if r.status == 200 else -1
consumed = read_b64 * 3 // 4
tap.diag(f"slow reader: read {consumed >> 10} KiB in 6 s; the command wrote {produced >> 10} KiB; "
         f"fkd's peak RSS {probe.peak_kb} KiB (+{probe.peak_kb - base_rss}); slowest /health "
         f"{probe.worst_health * 1000:.0f} ms, command {probe.worst_cmd * 1000:.0f} ms")
tap.ok(produced >= MiB, "the flooding command runs", str(r))
tap.ok(0 <= produced - consumed < 64 * MiB,
       "the command is held back to what the client reads (plus bounded buffers)",
       f"wrote {produced} bytes, the client read {consumed}")
tap.ok(probe.peak_kb - base_rss < RSS_SLACK_KB, "fkd's memory stays bounded during the flood",
       f"peak {probe.peak_kb} KiB, at rest {base_rss} KiB")
tap.ok(not probe.errors and probe.worst_health < PROMPT_S and probe.worst_cmd < CMD_PROMPT_S,
       "other clients are served promptly during the flood",
       f"health {probe.worst_health:.3f} s, command {probe.worst_cmd:.3f} s, {probe.errors}")

# The flooding client disconnects mid-stream.
s.close()
fds = settled(fkd.fds, base_fds)
threads = settled(lambda: fkd.status("Threads"), base_threads)
tap.ok(fds <= base_fds and threads <= base_threads,
       "a client that disconnects mid-stream: fkd frees the stream (fds, threads)",
       f"{fds} fds (at rest {base_fds}), {threads} threads (at rest {base_threads})")
tap.ok(flood_pid in pids(), "the process keeps running after its client went away")
tap.check("SendSignal kills it", lambda: unary("process.Process/SendSignal", {
    "process": {"pid": flood_pid}, "signal": "SIGNAL_SIGKILL"}))
tap.ok(L.wait_until(lambda: flood_pid not in pids(), 10), "and it is gone from List")

# A finite flood, read slowly for a while and then to its end.
TOTAL = 30_000_000
s, es, _ = start(f"head -c {TOTAL} /dev/zero", rcvbuf=64 << 10)
with s:
    t_end = time.monotonic() + 2
    while time.monotonic() < t_end:
        time.sleep(0.1)
        es.reader.buf += s.recv(16 << 10)
    out, ends, eos = drain(es)
tap.ok(out == TOTAL and len(ends) == 1 and ends[0].get("exitCode") == 0 and eos == {},
       "a slow reader that reads to the end gets every byte, the end event and a clean end",
       f"{out} bytes of {TOTAL}, ends {ends}, end of stream {eos}")
tap.ok(settled(fkd.fds, base_fds) <= base_fds, "and the stream is freed")

# A download abandoned in the middle.
command("head -c 40000000 /dev/urandom > /tmp/big")
d = L.connect(fkd.envd)
d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
d.sendall(L.build("GET", "/files?path=/tmp/big", [("host", "127.0.0.1")] + SB))
rd = L.Reader(d)
status, h = rd.head()
got = len(rd.exact(MiB))
d.close()
fds = settled(fkd.fds, base_fds)
threads = settled(lambda: fkd.status("Threads"), base_threads)
tap.ok(status == 200 and got == MiB and fds <= base_fds and threads <= base_threads,
       "a client that disconnects in the middle of a 40 MB download: fkd frees it",
       f"status {status}, {fds} fds (at rest {base_fds}), {threads} threads")
tap.check("fkd serves after the disconnects", health)

# ---- 1,000 idle keep-alive connections ----

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = min(hard, 4096)
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
N = 1000
idle = []
t0 = time.monotonic()
try:
    for i in range(N):
        c = L.connect(fkd.envd)
        c.sendall(L.build("GET", "/health", [("host", "127.0.0.1")]))
        idle.append((c, L.Reader(c)))
    for c, rd in idle:
        assert rd.response().status == 204
    opened = len(idle)
except Exception as e:
    opened = len(idle)
    tap.diag(f"opening the idle connections: {e!r}")
tap.diag(f"{opened} keep-alive connections opened and used in {time.monotonic() - t0:.1f} s")
time.sleep(0.5)
rss, threads, fds = fkd.status("VmRSS"), fkd.status("Threads"), fkd.fds()
tap.diag(f"with {opened} idle connections: RSS {rss} KiB (+{rss - base_rss}), {threads} threads, "
         f"{fds} fds")
tap.ok(opened == N and fds >= base_fds + N, "1,000 idle keep-alive connections are held open",
       f"{opened} opened, fkd has {fds} fds")
tap.ok(threads <= base_threads + 1, "fkd's threads do not grow with idle connections",
       f"{threads} threads, {base_threads} at rest")
# libmicrohttpd gives each connection a pool of fkd's per-connection memory (64 KiB: the request
# line and headers, the buffers) and zeroes it when a keep-alive request ends: an idle connection
# costs that pool and no more (ASan adds an eighth for its shadow, and redzones).
POOL_KB = 64
tap.ok(rss - base_rss < N * (POOL_KB + 24),
       "fkd's memory stays bounded with 1,000 idle connections (its pool each)",
       f"{rss} KiB, {base_rss} at rest: {(rss - base_rss) / max(opened, 1):.1f} KiB each")
lat_h, lat_c = timed(health), timed(small_command)
tap.ok(lat_h < PROMPT_S and lat_c < CMD_PROMPT_S, "other clients are served promptly meanwhile",
       f"health {lat_h:.3f} s, command {lat_c:.3f} s")


def t_reuse():
    for c, rd in (idle[0], idle[N // 2], idle[-1]):
        c.sendall(L.build("GET", "/health", [("host", "127.0.0.1")]))
        assert rd.response().status == 204


tap.check("the idle connections are still usable (keep-alive)", t_reuse)
for c, _ in idle:
    c.close()
idle = []
fds = settled(fkd.fds, base_fds)
tap.ok(fds <= base_fds, "their connections are freed when the clients close them",
       f"{fds} fds, {base_fds} at rest")

# ---- over the limits ----


def over_limit(data, want):
    """Sends data; fkd answers one of `want' or drops the connection, and stays up."""
    with L.connect(fkd.envd) as c:
        try:
            c.sendall(data)
            resp = L.Reader(c).response()
        except (ConnectionError, OSError):
            resp = None
    assert resp is None or resp.status in want, resp
    health()
    return resp


big = "a" * (100 << 10)
tap.check("a request line over the limit: 414/431 or dropped, fkd up",
          over_limit, f"GET /health?x={big} HTTP/1.1\r\nhost: x\r\n\r\n".encode(), (414, 431))
tap.check("a header over the limit: 431 or dropped, fkd up",
          over_limit, f"GET /health HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n".encode(), (431,))


def chunked_over(port, path, headers, size):
    chunks = [b" " * (64 << 10)] * (size // (64 << 10))
    with L.connect(port) as c:
        c.sendall(L.build("POST", path, [("host", "127.0.0.1")] + headers, chunked=True,
                          chunks=chunks))
        resp = L.Reader(c).response()
    assert resp.status == 413, resp
    assert isinstance(resp.json().get("message"), str), resp


tap.check("a chunked body over the limit (control plane, 2 MiB): 413 with a JSON error",
          chunked_over, fkd.api, "/sandboxes",
          [("x-api-key", fkd.key), ("content-type", "application/json")], 2 * MiB)
tap.check("a chunked Start body over the limit (2 MiB): 413",
          chunked_over, fkd.envd, "/process.Process/Start",
          SB + [("content-type", "application/connect+json")], 2 * MiB)


def t_not_utf8():
    r = L.request(fkd.envd, "GET", "/files?path=/tmp/%FF%FE", SB)
    assert r.status == 404 and isinstance(r.json().get("message"), str), r
    r = L.request(fkd.api, "POST", "/sandboxes", [("x-api-key", fkd.key),
                                                  ("content-type", "application/json")],
                  json.dumps({"templateID": "t\u00e9mplate"}).encode())
    assert 400 <= r.status < 500 and isinstance(r.json().get("message"), str), r
    health()


tap.check("a path and a template id that are not ASCII or not UTF-8: a JSON error, fkd up",
          t_not_utf8)

# Slowloris: 100 clients each sending its headers a byte every 100 ms.
slow = []
for i in range(100):
    c = L.connect(fkd.envd)
    c.sendall(b"G")
    slow.append(c)
probe = Probe(commands=False)
probe.start()
head = b"ET /health HTTP/1.1\r\nhost: x\r\nx-slow: " + b"s" * 64
for k in range(30):
    for c in slow:
        try:
            c.send(head[k:k + 1])
        except OSError:
            pass
    time.sleep(0.1)
probe.finish()
threads = fkd.status("Threads")
tap.ok(not probe.errors and probe.worst_health < PROMPT_S and threads <= base_threads + 1,
       "100 slowloris clients: others are served promptly, no thread each",
       f"slowest /health {probe.worst_health:.3f} s, {threads} threads, {probe.errors}")
for c in slow:
    c.close()
tap.ok(settled(fkd.fds, base_fds) <= base_fds, "and their connections are freed")

# ---- SIGTERM with streams open ----

streams = [start("sleep 300") for _ in range(2)]
parked = L.connect(fkd.envd)
t0 = time.monotonic()
fkd.proc.send_signal(signal.SIGTERM)
ends = []
for s, es, _ in streams:
    with s:
        try:
            ends.append(drain(es)[2])
        except Exception as e:
            ends.append(repr(e))
parked.close()
try:
    rc = fkd.proc.wait(timeout=40)
except subprocess.TimeoutExpired:
    rc = None
took = time.monotonic() - t0
tap.diag(f"SIGTERM: fkd exited {rc} after {took:.1f} s")
tap.ok(all(isinstance(e, dict) and e.get("error", {}).get("code") == "unavailable" for e in ends),
       "SIGTERM: each open stream ends with an end-of-stream error", str(ends))
tap.ok(rc == 0 and took < 35, "fkd exits 0 in bounded time", f"rc {rc}, {took:.1f} s")
out = subprocess.run([L.FK, "exec", sid, "--", "/bin/sh", "-c", "echo alive"], env=fkd.env,
                     capture_output=True, text=True, timeout=60)
tap.ok(out.stdout.strip() == "alive", "the sandbox keeps running after fkd stopped",
       out.stdout + out.stderr)
fkd.stop()
tap.done()
