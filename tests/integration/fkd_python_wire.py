#!/usr/bin/env python3
# fkd against the Python E2B SDK, at the HTTP level (the SDK cannot be installed here): each
# request is sent as the Python SDK sends it (docs/fkd.md, "The Python SDK": lower-case header
# names, httpx's JSON and multipart, connectrpc's headers and chunked stream bodies, protobuf
# JSON with json.dumps' spaces and \u escapes), and each answer is checked against what the SDK
# requires of it (status codes, content types, the generated models' required fields and types,
# protobuf JSON its codec decodes, envelope framing). fkd and its sandboxes go when it ends.
import base64
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fkd_lib as L  # noqa: E402

tap = L.Tap()
L.require(tap)
L.exit_on_signals()

PY_UA = "e2b-python-sdk/2.45.1"
# ApiClient's default headers (e2b/api/metadata.py) and the API key, as hyper writes them.
API_HEADERS = [("accept", "*/*"), ("accept-encoding", "gzip, deflate"),
               ("connection", "keep-alive"), ("user-agent", PY_UA), ("lang", "python"),
               ("lang_version", "3.11.7"), ("package_version", "2.45.1"), ("publisher", "e2b"),
               ("sdk_runtime", "python"), ("system", "Linux")]
# protobuf-py's Timestamp parser (strict RFC 3339).
TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                       r"(?:\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$")
FILE_TYPES = ("FILE_TYPE_UNSPECIFIED", "FILE_TYPE_FILE", "FILE_TYPE_DIRECTORY",
              "FILE_TYPE_SYMLINK")
CONNECT_CODES = ("canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
                 "already_exists", "permission_denied", "resource_exhausted",
                 "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal",
                 "unavailable", "data_loss", "unauthenticated")

fkd = L.Fkd().start()
tap.plan(33)


def pyjson(obj):
    """The body of a control-plane call: httpx's json= (compact, UTF-8 as it is)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def protojson(obj):
    """The body of an envd call: protobuf-py's to_json, which is json.dumps' defaults (spaces
    after ',' and ':', non-ASCII as \\u escapes, surrogate pairs beyond the BMP)."""
    return json.dumps(obj).encode()


def api(method, path, body=None, key=None):
    headers = list(API_HEADERS) + [("x-api-key", key or fkd.key)]
    if body is not None:
        headers.append(("content-type", "application/json"))
    return L.request(fkd.api, method, path, headers, body if body is not None else b"")


def api_error(r, statuses):
    """An error answer the generated client parses as Error.from_dict: code and message."""
    assert r.status in statuses, f"status {r.status}, want one of {statuses}: {r}"
    ct = (r.header("content-type") or "").split(";")[0]
    assert ct == "application/json", f"content-type {ct!r}"
    j = r.json()
    assert isinstance(j, dict) and "code" in j and isinstance(j.get("message"), str), j


def is_str(v):
    return isinstance(v, str)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def iso(v):
    """dateutil's isoparse reads what datetime.fromisoformat reads here, with Z."""
    from datetime import datetime
    assert is_str(v), v
    return datetime.fromisoformat(v.replace("Z", "+00:00"))


def check_version(v):
    parts = tuple(int(x) for x in v.split("."))
    assert parts >= (0, 4, 0), f"envdVersion {v}: below 0.4.0 the SDK sends basic auth " \
                               "and ?username= on every call"


def check_sandbox(j):
    """models/sandbox.py: templateID, sandboxID, clientID, envdVersion required."""
    for k in ("templateID", "sandboxID", "clientID", "envdVersion"):
        assert is_str(j.get(k)), f"{k} missing or not a string: {j}"
    check_version(j["envdVersion"])
    assert j.get("envdAccessToken") is None or is_str(j["envdAccessToken"]), j
    assert j.get("domain") is None or is_str(j["domain"]), j


def check_listed(j, detail=False):
    """models/listed_sandbox.py and sandbox_detail.py: the required fields and their types."""
    for k in ("templateID", "sandboxID", "clientID", "envdVersion"):
        assert is_str(j.get(k)), f"{k} missing or not a string: {j}"
    for k in ("cpuCount", "memoryMB", "diskSizeMB"):
        assert is_int(j.get(k)), f"{k} missing or not an integer: {j}"
    assert j.get("state") in ("running", "paused"), j
    s, e = iso(j.get("startedAt")), iso(j.get("endAt"))
    assert e >= s, j
    assert j.get("metadata") is None or isinstance(j["metadata"], dict), j
    for k in ("network", "lifecycle"):
        assert j.get(k) is None or isinstance(j[k], dict), f"{k} is not an object: {j}"
    assert j.get("volumeMounts") is None or isinstance(j["volumeMounts"], list), j
    if detail:
        assert j.get("allowInternetAccess") is None or isinstance(j["allowInternetAccess"], bool)
        assert j.get("envdAccessToken") is None or is_str(j["envdAccessToken"]), j


# ---- control plane ----

meta = {"lang": "python", "k\u00fc y/&+~": "v\u00e4l & = + /\U0001F600"}
envs = {"PYVAR": "\u00fc \U0001F600"}
create_body = {"templateID": "base", "timeout": 300, "secure": True,
               "allow_internet_access": True, "metadata": meta, "envVars": envs}
r = api("POST", "/sandboxes", pyjson(create_body))
created = {}


def t_create():
    assert r.status == 201, f"create answers {r.status}: the SDK takes only 201: {r}"
    assert (r.header("content-type") or "").split(";")[0] == "application/json", r
    j = r.json()
    check_sandbox(j)
    assert is_str(j.get("envdAccessToken")), "secure (the default) gives a token"
    created.update(j)


tap.check("create as the SDK sends it: 201 and the Sandbox model's required fields", t_create)
sid = created.get("sandboxID", "000000000000")
tok = created.get("envdAccessToken", "")
r2 = api("POST", "/sandboxes", pyjson({"templateID": "base", "timeout": 300, "secure": True,
                                       "allow_internet_access": True, "metadata": {},
                                       "envVars": {}}))
sid2 = r2.json().get("sandboxID", "") if r2.status == 201 else ""
tap.check("create from an unknown template fails with a parsed Error (code, message)",
          lambda: api_error(api("POST", "/sandboxes", pyjson({"templateID": "nope-\u00fc",
                                                              "timeout": 300})),
                            (400, 404, 500)))
tap.check("a wrong API key: 401 with code and message",
          lambda: api_error(api("GET", "/v2/sandboxes", key="e2b_00"), (401,)))


def py_list_query(metadata=None, state=None, limit=None, next_token=None):
    """SandboxPaginator.next_items + get_v2_sandboxes._get_kwargs + httpx's params."""
    params = {}
    if metadata:
        quoted = {urllib.parse.quote(k): urllib.parse.quote(v) for k, v in metadata.items()}
        params["metadata"] = urllib.parse.urlencode(quoted)
    if state:
        params["state"] = ",".join(state)
    if next_token:
        params["nextToken"] = next_token
    if limit:
        params["limit"] = limit
    return "/v2/sandboxes" + ("?" + urllib.parse.urlencode(params) if params else "")


def t_list_filter():
    r = api("GET", py_list_query(metadata=meta, state=["running", "paused"]))
    assert r.status == 200, r
    items = r.json()
    assert isinstance(items, list), items
    for it in items:
        check_listed(it)
    ids = [it["sandboxID"] for it in items]
    assert ids == [sid], f"the metadata filter as the SDK encodes it finds {ids}, want {[sid]}"
    assert items[0]["metadata"] == meta, items[0]["metadata"]


tap.check("list with the SDK's metadata and state encoding: ListedSandbox fields, the match",
          t_list_filter)


def t_list_pages():
    seen, token = [], None
    for _ in range(5):
        r = api("GET", py_list_query(limit=1, next_token=token))
        assert r.status == 200, r
        page = r.json()
        assert len(page) <= 1, page
        seen += [it["sandboxID"] for it in page]
        token = r.header("x-next-token")
        if not token:
            break
    assert sorted(seen) == sorted([sid, sid2]), f"pages gave {seen}"


tap.check("list pages with limit and the X-Next-Token header", t_list_pages)


def t_info():
    r = api("GET", f"/sandboxes/{sid}")
    assert r.status == 200, r
    j = r.json()
    check_listed(j, detail=True)
    assert j["sandboxID"] == sid and j["envdAccessToken"] == tok, j


tap.check("info: 200 and SandboxDetail's required fields and types", t_info)
tap.check("info of an unknown sandbox: 404 with code and message (SandboxNotFoundException)",
          lambda: api_error(api("GET", "/sandboxes/000000000000"), (404,)))


def t_timeout():
    r = api("POST", f"/sandboxes/{sid}/timeout", pyjson({"timeout": 1200}))
    assert r.status == 204, r
    end = iso(api("GET", f"/sandboxes/{sid}").json()["endAt"])
    left = end.timestamp() - time.time()
    assert 1100 < left < 1300, f"endAt is {left:.0f} s away, want about 1200"


tap.check("set_timeout: 204 and endAt moves", t_timeout)

# ---- envd ----

SB = [("e2b-sandbox-id", sid), ("e2b-sandbox-port", "49983"), ("x-access-token", tok)]
# connectrpc's headers on a unary call, with the SDK's request_timeout (60 s) as the deadline.
UNARY = [("user-agent", "connectrpc/0.11.1"), ("connect-protocol-version", "1"),
         ("accept-encoding", "identity"), ("content-encoding", "identity"),
         ("content-type", "application/json"), ("connect-timeout-ms", "60000")]
# ... and on a server stream (the request body is chunked: an iterator, no Content-Length).
STREAM = [("user-agent", "connectrpc/0.11.1"), ("connect-protocol-version", "1"),
          ("connect-accept-encoding", "identity"), ("connect-content-encoding", "identity"),
          ("content-type", "application/connect+json")]
# httpx's own defaults on the envd HTTP API (files, health), with the SDK's User-Agent.
HTTPX = [("accept", "*/*"), ("accept-encoding", "gzip, deflate"), ("connection", "keep-alive"),
         ("user-agent", PY_UA)]


def unary(method, msg, headers=(), sandbox=None):
    return L.request(fkd.envd, "POST", "/" + method, list(sandbox or SB) + UNARY + list(headers),
                     protojson(msg))


def unary_ok(r):
    """connectrpc's validate_response: 200 and an application/json body (parameters aside)."""
    assert r.status == 200, r
    ct = (r.header("content-type") or "").split(";")[0].strip().lower()
    assert ct == "application/json", f"content-type {ct!r}"
    assert r.header("content-encoding") in (None, "identity"), r.headers
    return r.json()


def connect_error(r, status, code):
    """A Connect error the SDK's PlainHTTPErrorTransport hands to connectrpc: JSON whose code
    is a Connect code name, at the status Connect pairs with it."""
    assert r.status == status, r
    assert (r.header("content-type") or "").split(";")[0] == "application/json", r
    j = r.json()
    assert j.get("code") == code and j["code"] in CONNECT_CODES, j
    assert isinstance(j.get("message", ""), str), j


def plain_error(r, status):
    """A plain HTTP error (not a Connect one): the SDK maps it by the int code or the status."""
    assert r.status == status, r
    j = r.json()
    code = j.get("code")
    assert not isinstance(code, str) or code not in CONNECT_CODES, j
    assert isinstance(j.get("message"), str), j


def start(cmd, headers=(), timeout_ms="60000", extra=None, sandbox=None):
    """process.Process/Start as commands.run sends it: a chunked body of one envelope; the
    socket and an EnvelopeStream over the response (its head already read)."""
    msg = {"process": {"cmd": "/bin/bash", "args": ["-l", "-c", cmd]}, "stdin": False}
    if extra:
        msg["process"].update(extra)
    hs = list(sandbox or SB) + STREAM + [("keepalive-ping-interval", "50")] + list(headers)
    if timeout_ms is not None:
        hs.append(("connect-timeout-ms", timeout_ms))
    s = L.connect(fkd.envd)
    s.sendall(L.build("POST", "/process.Process/Start", [("host", "127.0.0.1")] + hs,
                      L.envelope(protojson(msg)), chunked=True))
    rd = L.Reader(s)
    status, h = rd.head()
    return s, status, h, rd


def check_event(j):
    """protobuf-py's decoding of a StartResponse: one oneof member, the right JSON types."""
    assert isinstance(j, dict) and isinstance(j.get("event"), dict), j
    ev = j["event"]
    assert len(ev) == 1, f"the event oneof has {list(ev)}"
    kind, v = next(iter(ev.items()))
    assert kind in ("start", "data", "end", "keepalive"), kind
    assert isinstance(v, dict), j
    if kind == "start":
        assert is_int(v.get("pid")) and v["pid"] >= 0, j
    elif kind == "data":
        assert len(v) == 1 and next(iter(v)) in ("stdout", "stderr", "pty"), j
        data = next(iter(v.values()))
        base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    elif kind == "end":
        assert is_int(v.get("exitCode", 0)) and isinstance(v.get("exited", False), bool), j
        assert is_str(v.get("status", "")) and is_str(v.get("error", "")), j
    return kind, v


def run_stream(s, status, h, rd):
    """Reads a whole Start stream the way connectrpc does; [(kind, value)] and the end message."""
    with s:
        assert status == 200, f"{status} {h}"
        assert h.get("content-type") == "application/connect+json", \
            f"connectrpc wants exactly application/connect+json, got {h.get('content-type')!r}"
        assert h.get("connect-content-encoding", "identity") == "identity", h
        frames = L.envelopes(b"".join(rd.chunks()))
    events, end = [], None
    for i, (flags, data) in enumerate(frames):
        assert flags & 1 == 0, "a compressed envelope: the SDK accepts none"
        if flags & 2:
            assert i == len(frames) - 1, "data after the end-of-stream envelope"
            end = json.loads(data)
            assert isinstance(end, dict), end
        else:
            events.append(check_event(json.loads(data)))
    assert end is not None, "no end-of-stream envelope"
    return events, end


def output(events, which):
    return b"".join(base64.b64decode(v[which]) for k, v in events if k == "data" and which in v)


# A command started with no Connect-Timeout-Ms (the SDK's timeout=0: no header at all) has no
# deadline; it is checked at the end, once fkd's former 60 s default would have passed.
nodeadline = start("sleep 600", timeout_ms=None)
nodeadline_t0 = time.monotonic()

tap.check("health of the sandbox: 2xx (is_running, the health probe)",
          lambda: (lambda r: (r.status // 100 == 2) or (_ for _ in ()).throw(
              AssertionError(r)))(L.request(fkd.envd, "GET", "/health", SB + HTTPX)))
tap.check("health of an unknown sandbox: 502 (not running)",
          lambda: (lambda r: r.status == 502 or (_ for _ in ()).throw(AssertionError(r)))(
              L.request(fkd.envd, "GET", "/health", [("e2b-sandbox-id", "000000000000")])))


def t_run():
    cmd = "printf '%s|%s' \"$PYVAR\" \"$EXTRA\"; printf '\u00e9\U0001F600' >&2; exit 3"
    ev, end = run_stream(*start(cmd, extra={"envs": {"EXTRA": "\u00df\U0001F600"}}))
    assert ev and ev[0][0] == "start", f"the first event is {ev[:1]}"
    assert output(ev, "stdout").decode() == "\u00fc \U0001F600|\u00df\U0001F600", output(ev, "stdout")
    assert output(ev, "stderr").decode() == "\u00e9\U0001F600", output(ev, "stderr")
    ends = [v for k, v in ev if k == "end"]
    assert len(ends) == 1 and ends[0].get("exitCode") == 3 and ends[0].get("exited") is True, ends
    assert ends[0].get("status") == "exit status 3", ends
    assert end == {} or "error" not in end, end


tap.check("commands.run: chunked request, \\u-escaped JSON; start first, output, end, {}",
          t_run)


def t_cwd_user():
    auth = "Basic " + base64.b64encode(b"root:").decode()
    ev, end = run_stream(*start("id -un; pwd", headers=[("authorization", auth)],
                                extra={"cwd": "/tmp"}))
    assert output(ev, "stdout") == b"root\n/tmp\n", output(ev, "stdout")


tap.check("commands.run with user= (basic auth) and cwd=", t_cwd_user)


def t_deadline():
    ev, end = run_stream(*start("sleep 30", timeout_ms="1500"))
    assert end.get("error", {}).get("code") == "deadline_exceeded", end


tap.check("Connect-Timeout-Ms bounds the command: the stream ends with deadline_exceeded",
          t_deadline)


def t_start_unknown():
    s, status, h, rd = start("true", sandbox=[("e2b-sandbox-id", "000000000000")])
    with s:
        body = rd.body(h, "POST", status)
    plain_error(L.Response(status, h, body), 502)


tap.check("Start on an unknown sandbox: 502 with an int code (the SDK's sandbox timeout)",
          t_start_unknown)


def t_start_badtoken():
    s, status, h, rd = start("true", sandbox=[("e2b-sandbox-id", sid),
                                               ("x-access-token", "nope")])
    with s:
        body = rd.body(h, "POST", status)
    plain_error(L.Response(status, h, body), 401)


tap.check("Start with a wrong access token: 401 (AuthenticationException)", t_start_badtoken)

# Files, as Filesystem.write/read send them through httpx.
DIR = "/tmp/py w\u00fcre"
FILE = DIR + "/d\u00e4ta \U0001F600.txt"
DATA = "h\u00e9llo \U0001F600\n" * 100


def multipart(files):
    """httpx's MultipartStream: parts named `file', the path as the file name (quotes and
    backslashes escaped as httpx escapes them), a guessed Content-Type."""
    boundary = os.urandom(16).hex().encode()
    out = b""
    for path, data in files:
        name = path.replace("\\", "\\\\").replace('"', "%22")
        ctype = "text/plain" if path.endswith(".txt") else "application/octet-stream"
        out += b"--" + boundary + b"\r\n"
        out += ('Content-Disposition: form-data; name="file"; filename="%s"\r\n' % name).encode()
        out += b"Content-Type: " + ctype.encode() + b"\r\n\r\n"
        out += data if isinstance(data, bytes) else data.encode()
        out += b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary.decode()


def write(files):
    params = {"path": files[0][0]} if len(files) == 1 else {}
    body, ctype = multipart(files)
    q = "?" + urllib.parse.urlencode(params) if params else ""
    return L.request(fkd.envd, "POST", "/files" + q, SB + HTTPX + [("content-type", ctype)], body)


def write_info(r, paths):
    assert r.status == 200, r
    j = r.json()
    assert isinstance(j, list) and len(j) == len(paths), j
    for w, p in zip(j, paths):
        assert is_str(w.get("name")) and w.get("path") == p, (w, p)
        assert w.get("type") in (None, "file", "dir"), w
        assert w["name"] == p.rsplit("/", 1)[-1], w


def read(path, headers=()):
    q = "?" + urllib.parse.urlencode({"path": path})
    return L.request(fkd.envd, "GET", "/files" + q, SB + HTTPX + list(headers))


tap.check("files.write: httpx multipart, path with spaces and non-ASCII (quote_plus)",
          lambda: write_info(write([(FILE, DATA)]), [FILE]))
tap.check("files.write_files: several parts, no ?path=, each file name its path",
          lambda: write_info(write([(DIR + "/a.bin", b"\x00\x01"), (DIR + "/b.txt", "b")]),
                             [DIR + "/a.bin", DIR + "/b.txt"]))
tap.check("files.write of an empty file",
          lambda: write_info(write([(DIR + "/empty.txt", b"")]), [DIR + "/empty.txt"]))


def decoded(r):
    # As httpx does with what it asked for: gzip (or identity) decoded.
    assert r.header("content-encoding") in (None, "identity", "gzip"), r.headers
    if r.header("content-encoding") == "gzip":
        import gzip
        return gzip.decompress(r.body)
    return r.body


def t_read():
    r = read(FILE)
    assert r.status == 200, r
    body = decoded(r)
    assert body.decode() == DATA, body[:100]
    r = read(DIR + "/empty.txt")
    assert r.status == 200 and decoded(r) == b"", r


tap.check("files.read: the bytes back (httpx asks for gzip, deflate)", t_read)


def t_read_errors():
    r = read(DIR + "/missing")
    assert r.status == 404 and is_str(r.json().get("message")), r
    r = read(DIR)
    assert r.status == 400 and is_str(r.json().get("message")), r


tap.check("files.read errors: 404 missing, 400 a directory, each with a JSON message",
          t_read_errors)


def check_entry(e):
    """EntryInfo as protobuf-py decodes it."""
    assert is_str(e.get("name")) and is_str(e.get("path")), e
    assert e.get("type", "FILE_TYPE_UNSPECIFIED") in FILE_TYPES, e
    size = e.get("size", "0")
    assert (is_str(size) and size.isdigit()) or is_int(size), f"size (int64) {size!r}"
    mode = e.get("mode", 0)
    assert is_int(mode) and 0 <= mode < 2 ** 32, e
    for k in ("permissions", "owner", "group"):
        assert is_str(e.get(k, "")), e
    assert TIMESTAMP.match(e.get("modifiedTime", "")), f"modifiedTime {e.get('modifiedTime')!r}"
    assert e.get("symlinkTarget") is None or is_str(e["symlinkTarget"]), e


def t_stat():
    j = unary_ok(unary("filesystem.Filesystem/Stat", {"path": FILE}))
    e = j["entry"]
    check_entry(e)
    assert e["path"] == FILE and e["type"] == "FILE_TYPE_FILE", e
    assert int(e["size"]) == len(DATA.encode()), e


tap.check("files.get_info: Stat with connectrpc's headers and a \\u-escaped path", t_stat)


def t_list():
    j = unary_ok(unary("filesystem.Filesystem/ListDir", {"path": DIR, "depth": 1}))
    for e in j["entries"]:
        check_entry(e)
    got = sorted(e["path"] for e in j["entries"])
    want = sorted([FILE, DIR + "/a.bin", DIR + "/b.txt", DIR + "/empty.txt"])
    assert got == want, got


tap.check("files.list: ListDir depth 1, every EntryInfo decodable", t_list)
tap.check("files.exists of a missing path: 404 not_found (exists() is False)",
          lambda: connect_error(unary("filesystem.Filesystem/Stat", {"path": DIR + "/nope"}),
                                404, "not_found"))
tap.check("files.make_dir of an existing dir: 409 already_exists (make_dir() is False)",
          lambda: connect_error(unary("filesystem.Filesystem/MakeDir", {"path": DIR}),
                                409, "already_exists"))
tap.check("a unary call without connect-timeout-ms (request_timeout=0) is served",
          lambda: unary_ok(L.request(fkd.envd, "POST", "/filesystem.Filesystem/Stat",
                                     SB + [x for x in UNARY if x[0] != "connect-timeout-ms"],
                                     protojson({"path": DIR}))))
tap.check("a unary call on an unknown sandbox: 502, an int code (not a Connect code)",
          lambda: plain_error(unary("filesystem.Filesystem/Stat", {"path": "/"},
                                    sandbox=[("e2b-sandbox-id", "000000000000")]), 502))
tap.check("a unary call with a wrong token: 401, an int code (AuthenticationException)",
          lambda: plain_error(unary("filesystem.Filesystem/Stat", {"path": "/"},
                                    sandbox=[("e2b-sandbox-id", sid),
                                             ("x-access-token", "nope")]), 401))




def t_procs():
    s, status, h, rd = start("sleep 600")
    with s:
        assert status == 200, (status, h)
        es = L.EnvelopeStream(rd)
        flags, data = es.next()
        pid = json.loads(data)["event"]["start"]["pid"]
        j = unary_ok(unary("process.Process/List", {}))
        procs = j.get("processes", [])
        for p in procs:
            assert is_int(p.get("pid")) and isinstance(p.get("config"), dict), p
            assert is_str(p["config"].get("cmd")), p
            assert isinstance(p["config"].get("args", []), list), p
            assert isinstance(p["config"].get("envs", {}), dict), p
        assert pid in [p["pid"] for p in procs], (pid, procs)
        unary_ok(unary("process.Process/SendSignal", {"process": {"pid": pid},
                                                      "signal": "SIGNAL_SIGKILL"}))
        ends = []
        while True:
            fr = es.next()
            if fr is None:
                break
            if not fr[0] & 2:
                k, v = check_event(json.loads(fr[1]))
                if k == "end":
                    ends.append(v)
        assert len(ends) == 1 and ends[0].get("exitCode") == -1, ends
        assert ends[0].get("status") == "signal: killed", ends


tap.check("commands.list and commands.kill: List, SendSignal, the end event", t_procs)


def t_sendinput():
    msg = {"process": {"cmd": "/bin/bash", "args": ["-l", "-c", "head -c 5"]}, "stdin": True}
    s = L.connect(fkd.envd)
    s.sendall(L.build("POST", "/process.Process/Start", [("host", "127.0.0.1")] + SB + STREAM
                      + [("connect-timeout-ms", "60000")], L.envelope(protojson(msg)),
                      chunked=True))
    rd = L.Reader(s)
    with s:
        status, h = rd.head()
        assert status == 200, (status, h)
        es = L.EnvelopeStream(rd)
        pid = json.loads(es.next()[1])["event"]["start"]["pid"]
        unary_ok(unary("process.Process/SendInput", {"process": {"pid": pid},
                                                     "input": {"stdin": L.b64(b"\xc3\xbc12")}}))
        unary_ok(unary("process.Process/SendInput", {"process": {"pid": pid},
                                                     "input": {"stdin": L.b64(b"3")}}))
        out = b""
        while True:
            fr = es.next()
            if fr is None:
                break
            if not fr[0] & 2:
                k, v = check_event(json.loads(fr[1]))
                if k == "data" and "stdout" in v:
                    out += base64.b64decode(v["stdout"])
        assert out == b"\xc3\xbc123", out


tap.check("commands.send_stdin: SendInput with base64 (padding) reaches the command",
          t_sendinput)

# ---- kill, and the command that had no deadline ----


def t_kill():
    r = api("DELETE", f"/sandboxes/{sid2}")
    assert r.status == 204, r
    api_error(api("DELETE", f"/sandboxes/{sid2}"), (404,))


tap.check("kill: 204, then 404 with code and message (kill() is False)", t_kill)


def t_nodeadline():
    s, status, h, rd = nodeadline
    assert status == 200, (status, h)
    left = 62 - (time.monotonic() - nodeadline_t0)
    if left > 0:
        time.sleep(left)
    es = L.EnvelopeStream(rd)
    flags, data = es.next()
    pid = json.loads(data)["event"]["start"]["pid"]
    s.settimeout(0.5)
    try:
        while True:
            fr = es.next()
            assert fr is not None, "the stream ended"
            assert not fr[0] & 2, f"the stream ended: {fr}"
            assert check_event(json.loads(fr[1]))[0] == "keepalive", f"after 60 s: {fr}"
    except (TimeoutError, OSError):
        pass
    s.settimeout(30)
    procs = unary_ok(unary("process.Process/List", {})).get("processes", [])
    assert pid in [p["pid"] for p in procs], f"process {pid} is gone after 60 s"
    unary_ok(unary("process.Process/SendSignal", {"process": {"pid": pid},
                                                  "signal": "SIGNAL_SIGKILL"}))
    s.close()


tap.check("no Connect-Timeout-Ms (timeout=0): the command still runs after 60 s",
          t_nodeadline)


def t_kill_main():
    assert api("DELETE", f"/sandboxes/{sid}").status == 204


tap.check("kill the first sandbox", t_kill_main)
tap.ok(fkd.proc.poll() is None, "fkd is still up", fkd.stderr())
fkd.stop()
tap.done()
