#!/usr/bin/env python3
"""registry_proxy.py: an authenticating front for a real registry, for firkin's tests.

It forwards /v2/ requests to the registry behind it once the client has authenticated:
  --auth bearer   401 + `WWW-Authenticate: Bearer realm=...,service=...,scope=...'; GET /token
                  issues an opaque random token (checking Basic credentials when --user is
                  given), and /v2/ requests must carry `Authorization: Bearer <token>'.
  --auth basic    401 + `WWW-Authenticate: Basic realm=...'; requests must carry --user.
  --auth none     forwards everything.
Pushes (POST, PUT, PATCH) are forwarded too: a bearer token must have been issued for the
repository's push scope, and the registry's upload Locations are handed back relative to the
front. --inject MODE makes the front answer nonsense to a push: `location-elsewhere' (the upload
Location names another host), `bad-range' (a PATCH acknowledged with the wrong Range),
`bad-digest' (a blob PUT answered with another digest), `huge-answer' (a 1 MiB body to the
upload POST), `cut-upload' (the connection closed half way through an upload's body).
--redirect-blobs answers blob GETs with a 307 to a second listener on 127.0.0.2 (another
host, as registries send clients to a storage host), which serves the blob and records in
--log whether any Authorization header reached it. --throttle BYTES/s slows blob bodies.
Prints `ready PORT' when listening. The token is opaque (no JWT): the registry behind has no
auth of its own, only this front checks tokens.
"""
import argparse
import base64
import http.server
import os
import secrets
import socketserver
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

args = None
tokens = {}
log_lock = threading.Lock()


def log(line):
    if args.log:
        with log_lock, open(args.log, "a") as f:
            f.write(line + "\n")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


opener = urllib.request.build_opener(NoRedirect)


def read_body(handler):
    """The request body (Content-Length), read slowly under --throttle; None when cut."""
    n = int(handler.headers.get("Content-Length") or 0)
    cut = n // 2 if args.inject == "cut-upload" and n > 0 else None
    data = b""
    while len(data) < n:
        want = min(16 * 1024, n - len(data))
        if cut is not None and len(data) + want > cut:
            want = cut - len(data)
        chunk = handler.rfile.read(want) if want else b""
        if not chunk:
            break
        data += chunk
        if args.throttle:
            time.sleep(len(chunk) / args.throttle)
        if cut is not None and len(data) >= cut:
            log(f"cut {handler.command} {handler.path} after {len(data)} of {n} bytes")
            handler.close_connection = True
            handler.connection.shutdown(2)
            return None
    return data


def forward(handler, path, head_only=False, method=None, body=None):
    method = method or ("HEAD" if head_only else "GET")
    req = urllib.request.Request(args.upstream + path, method=method, data=body)
    for h in ("Accept", "Range", "Content-Type", "Content-Range"):
        if handler.headers.get(h):
            req.add_header(h, handler.headers[h])
    try:
        resp = opener.open(req, timeout=60)
    except urllib.error.HTTPError as e:
        resp = e
    status = resp.status if hasattr(resp, "status") else resp.code
    upload = "/blobs/uploads/" in path
    if args.inject == "huge-answer" and method == "POST" and upload:
        resp.read()
        junk = b"x" * (1 << 20)
        handler.send_response(202)
        handler.send_header("Location", "/v2/nowhere")
        handler.send_header("Content-Length", str(len(junk)))
        handler.end_headers()
        handler.wfile.write(junk)
        return
    handler.send_response(status)
    body_len = None
    for k, v in resp.headers.items():
        if k.lower() in ("connection", "transfer-encoding", "www-authenticate"):
            continue
        if k.lower() == "content-length":
            body_len = int(v)
        if k.lower() == "location" and v.startswith(args.upstream):
            v = v[len(args.upstream):]  # relative: the client resolves it against the front
            if args.inject == "location-elsewhere" and method == "POST":
                v = "http://127.0.0.2:9" + v
        if k.lower() == "range" and args.inject == "bad-range" and method == "PATCH":
            v = "0-0"
        if (k.lower() == "docker-content-digest" and args.inject == "bad-digest"
                and method == "PUT" and upload):
            v = "sha256:" + "0" * 64
        handler.send_header(k, v)
    handler.end_headers()
    if head_only:
        return
    blob = "/blobs/" in path
    sent = 0
    while True:
        chunk = resp.read(64 * 1024 if not (blob and args.throttle) else 16 * 1024)
        if not chunk:
            break
        try:
            handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return
        sent += len(chunk)
        if blob and args.throttle:
            time.sleep(len(chunk) / args.throttle)
    if body_len is not None and sent != body_len:
        log(f"short body {path}")


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        log("front " + (fmt % a))

    def challenge(self):
        self.send_response(401)
        host = f"127.0.0.1:{self.server.server_address[1]}"
        if args.auth == "bearer":
            actions = "pull" if self.command in ("GET", "HEAD") else "pull,push"
            self.send_header("WWW-Authenticate",
                             f'Bearer realm="http://{host}/token",service="firkin-test",'
                             f'scope="repository:{self.repo()}:{actions}"')
        else:
            self.send_header("WWW-Authenticate", 'Basic realm="firkin-test"')
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def repo(self):
        path = urllib.parse.urlsplit(self.path).path
        return path.split("/v2/", 1)[-1].rsplit("/manifests/", 1)[0].rsplit("/blobs/", 1)[0]

    def token_ok(self, auth):
        """A known token, granted push of the repository for a push request."""
        if not (auth.startswith("Bearer ") and auth[7:] in tokens):
            return False
        if self.command in ("GET", "HEAD"):
            return True
        for scope in tokens[auth[7:]]:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and name == self.repo() and "push" in actions.split(","):
                return True
        log(f"token without push scope for {self.repo()}")
        return False

    def basic_ok(self):
        want = "Basic " + base64.b64encode(args.user.encode()).decode()
        return self.headers.get("Authorization") == want

    def do_GET(self, head_only=False):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            q = urllib.parse.parse_qs(url.query)
            log(f"token scope={' '.join(q.get('scope', ['']))} service={q.get('service', [''])[0]} "
                f"basic={'yes' if self.headers.get('Authorization') else 'no'}")
            if args.user and not self.basic_ok():
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            tok = secrets.token_hex(16)
            tokens[tok] = q.get("scope", [])
            body = ('{"token":"%s","access_token":"%s","expires_in":300}' % (tok, tok)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not url.path.startswith("/v2/"):
            self.send_error(404)
            return
        auth = self.headers.get("Authorization", "")
        if args.auth == "bearer" and not self.token_ok(auth):
            log(f"challenge {url.path}")
            self.challenge()
            return
        if args.auth == "basic" and not self.basic_ok():
            log(f"challenge {url.path}")
            self.challenge()
            return
        if args.redirect_blobs and "/blobs/sha256:" in url.path:
            loc = f"http://127.0.0.2:{blob_port}{url.path}"
            self.send_response(307)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.command in ("GET", "HEAD"):
            forward(self, self.path, head_only)
            return
        forward(self, self.path, method=self.command, body=self.body)

    def do_HEAD(self):
        self.do_GET(head_only=True)

    def do_write(self):
        if not urllib.parse.urlsplit(self.path).path.startswith("/v2/"):
            self.send_error(404)
            return
        # The body first, so that a challenge leaves the connection in step.
        self.body = read_body(self)
        if self.body is not None:
            self.do_GET()

    do_POST = do_PUT = do_PATCH = do_write


class BlobHost(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def do_GET(self):
        log(f"blobhost {self.path} authorization={'present' if self.headers.get('Authorization') else 'absent'}")
        forward(self, self.path)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global args, blob_port
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--auth", choices=["bearer", "basic", "none"], default="bearer")
    p.add_argument("--user", help="USER:PASS the token service / basic auth requires")
    p.add_argument("--redirect-blobs", action="store_true")
    p.add_argument("--throttle", type=float, default=0)
    p.add_argument("--inject", choices=["location-elsewhere", "bad-range", "bad-digest",
                                        "huge-answer", "cut-upload"])
    p.add_argument("--log")
    args = p.parse_args()
    if args.auth == "basic" and not args.user:
        p.error("--auth basic needs --user")
    blob_port = 0
    if args.redirect_blobs:
        bh = Server(("127.0.0.2", 0), BlobHost)
        blob_port = bh.server_address[1]
        threading.Thread(target=bh.serve_forever, daemon=True).start()
    srv = Server(("127.0.0.1", 0), Front)
    print(f"ready {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
