// fkd's port proxy through the official SDK's sbx.getHost(port): servers inside a sandbox
// (the host's static busybox, uploaded: httpd with a CGI, nc) reached on envd's listener with
// a Host of `{port}-{id}.{domain}`: plain HTTP, a chunked answer, a body far over fkd's own
// body limits streamed both ways, a raw upgrade (a WebSocket-style echo after the 101), a
// closed port and an unknown sandbox (502), and envd itself routed by `49983-{id}.{domain}`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Sandbox } from 'e2b';
import { useFkd, fkdInfo } from './harness.mjs';

useFkd(['--domain', 'fkd.test']);

// One request to fkd's envd listener with the given Host; resolves { status, headers, body }.
function request(host, { method = 'GET', path = '/', headers = {}, body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: fkdInfo.envdPort, method, path, agent,
      headers: { ...headers, Host: host } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (typeof body === 'function') body(req);
    else req.end(body);
  });
}

async function until(fn, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function vmHWM() {
  const s = readFileSync(`/proc/${fkdInfo.proc.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(s)[1]) * 1024;
}

let sbx;
test('servers start inside the sandbox', async () => {
  sbx = await Sandbox.create('base', { timeoutMs: 300_000 });
  await sbx.files.write('/tmp/busybox', new Blob([readFileSync('/bin/busybox')]));
  await sbx.files.write('/www/index.html', 'hello through the proxy\n');
  await sbx.files.write('/www/cgi-bin/count',
    '#!/tmp/busybox sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\n/tmp/busybox wc -c\n');
  await sbx.files.write('/tmp/upgrade.sh', [
    '#!/tmp/busybox sh',
    'cr=$(printf "\\r")',
    'while IFS= read -r l; do l=${l%$cr}; [ -z "$l" ] && break; done',
    'printf "HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nX-From: inside\\r\\n\\r\\n"',
    'exec /tmp/busybox cat',
    '',
  ].join('\n'));
  await sbx.files.write('/tmp/chunked.sh', [
    '#!/tmp/busybox sh',
    'cr=$(printf "\\r")',
    'while IFS= read -r l; do l=${l%$cr}; [ -z "$l" ] && break; done',
    'printf "HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\nX-Kind: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n7;ext=1\\r\\n, world\\r\\n0\\r\\nX-Trailer: t\\r\\n\\r\\n"',
    '',
  ].join('\n'));
  await sbx.commands.run('chmod +x /tmp/busybox /www/cgi-bin/count /tmp/upgrade.sh /tmp/chunked.sh'
    + ' && /tmp/busybox dd if=/dev/urandom of=/www/big.bin bs=1M count=20').catch((e) => {
    throw new Error(`setup: ${e.exitCode} ${e.stdout} ${e.stderr} ${e.error}`);
  });
  await sbx.commands.run('/tmp/busybox httpd -f -p 127.0.0.1:8080 -h /www', { background: true });
  await sbx.commands.run('/tmp/busybox nc -ll -p 8081 -e /tmp/upgrade.sh', { background: true });
  await sbx.commands.run('/tmp/busybox nc -ll -p 8082 -e /tmp/chunked.sh', { background: true });
  await until(async () => (await request(sbx.getHost(8080))).status === 200);
  await until(async () => (await request(sbx.getHost(8082))).status === 200);
  // A plain request to the upgrade server: 502 (it switches protocols unasked) once it listens.
  await until(async () => !/not open/.test((await request(sbx.getHost(8081))).body));
});

test('getHost(port): an HTTP server inside, through envd\'s listener', async () => {
  assert.equal(sbx.getHost(8080), `8080-${sbx.sandboxId}.fkd.test`);
  const r = await request(sbx.getHost(8080));
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'hello through the proxy\n');
  // The Host may carry the listener's port; HEAD passes the length and no body.
  const h = await request(`${sbx.getHost(8080)}:${fkdInfo.envdPort}`, { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-length'], '24');
  assert.equal(h.body.length, 0);
  const missing = await request(sbx.getHost(8080), { path: '/nope' });
  assert.equal(missing.status, 404);
});

test('a chunked answer is decoded and passed on', async () => {
  const r = await request(sbx.getHost(8082));
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-kind'], 'chunked');
  assert.equal(r.body.toString(), 'hello, world');
});

test('keep-alive: proxied requests and envd calls share connections', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  for (let i = 0; i < 10; i++) {
    const r = await request(sbx.getHost(8080), { agent });
    assert.equal(r.status, 200);
    const e = await request(sbx.getHost(49983), { agent, path: '/health' });
    assert.equal(e.status, 204);
  }
  agent.destroy();
  // The SDK's own calls still work beside.
  assert.equal((await sbx.commands.run('echo ok')).stdout, 'ok\n');
});

test('a 20 MiB download and a 160 MiB upload stream through in bounded memory', async () => {
  const big = await request(sbx.getHost(8080), { path: '/big.bin' });
  assert.equal(big.status, 200);
  assert.equal(big.body.length, 20 << 20);
  const sum = (await sbx.commands.run('/tmp/busybox md5sum /www/big.bin')).stdout.split(' ')[0];
  const { createHash } = await import('node:crypto');
  assert.equal(createHash('md5').update(big.body).digest('hex'), sum);

  const before = vmHWM();
  const total = 160 << 20; // far over fkd's 1 MiB and 64 MiB body limits
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const r = await request(sbx.getHost(8080), {
    method: 'POST', path: '/cgi-bin/count',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(total) },
    body: (req) => {
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return req.once('drain', pump);
        }
        req.end();
      };
      pump();
    },
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString().trim(), String(total));
  const grew = vmHWM() - before;
  assert.ok(grew < 48 << 20, `fkd's peak memory grew by ${grew} bytes`);
});

test('an upgrade (WebSocket-style) is a raw byte stream after the 101', async () => {
  const sock = net.connect(fkdInfo.envdPort, '127.0.0.1');
  await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
  sock.write(`GET /ws HTTP/1.1\r\nHost: ${sbx.getHost(8081)}\r\nConnection: Upgrade\r\n`
    + 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n'
    + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  let got = Buffer.alloc(0);
  const ended = new Promise((r) => sock.on('end', r));
  sock.on('data', (d) => { got = Buffer.concat([got, d]); });
  await until(() => got.includes('\r\n\r\n'), 10_000);
  const head = got.subarray(0, got.indexOf('\r\n\r\n')).toString();
  assert.match(head, /^HTTP\/1\.1 101/);
  assert.match(head, /\r\nupgrade: websocket/i);
  assert.match(head, /\r\nx-from: inside/i);
  got = got.subarray(got.indexOf('\r\n\r\n') + 4);
  for (const msg of ['ping-1', 'a'.repeat(100_000), 'ping-3']) {
    got = Buffer.alloc(0);
    sock.write(msg);
    await until(() => got.length >= msg.length, 10_000);
    assert.equal(got.toString(), msg);
  }
  // Half-close: the server inside reads the end, finishes, closes: the client sees the end.
  sock.end();
  await ended;
  sock.destroy();
});

test('a closed port answers 502 with a clear body', async () => {
  const r = await request(sbx.getHost(9999));
  assert.equal(r.status, 502);
  const j = JSON.parse(r.body.toString());
  assert.equal(j.code, 502);
  assert.equal(j.port, 9999);
  assert.equal(j.sandboxId, sbx.sandboxId);
  assert.match(j.message, /port is not open/);
  // An upgrade to a closed port too.
  const u = await request(sbx.getHost(9999), { headers: { Connection: 'Upgrade', Upgrade: 'websocket' } });
  assert.equal(u.status, 502);
});

test('an unknown sandbox answers 502, as envd does', async () => {
  const r = await request('8080-0123456789ab.fkd.test');
  assert.equal(r.status, 502);
  assert.match(JSON.parse(r.body.toString()).message, /not found/);
  const e = await request('49983-0123456789ab.fkd.test', { path: '/health' });
  assert.equal(e.status, 502);
});

test('a Host of another domain, or a malformed one, is not proxied', async () => {
  const other = await request(`8080-${sbx.sandboxId}.example.com`);
  assert.equal(other.status, 400); // envd: no sandbox named
  for (const h of [`0-${sbx.sandboxId}.fkd.test`, `70000-${sbx.sandboxId}.fkd.test`,
    `x-${sbx.sandboxId}.fkd.test`, '8080-.fkd.test', `8080-${sbx.sandboxId}..fkd.test`]) {
    const r = await request(h);
    assert.ok(r.status === 400 || r.status === 502, `${h}: ${r.status}`);
  }
});

test('envd routed by a 49983 Host: the SDK\'s calls without E2b-Sandbox-Id', async () => {
  const r = await request(sbx.getHost(49983), {
    method: 'POST', path: '/filesystem.Filesystem/Stat',
    headers: { 'Content-Type': 'application/json', 'X-Access-Token': sbx.envdAccessToken ?? '' },
    body: JSON.stringify({ path: '/www/index.html' }),
  });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(JSON.parse(r.body.toString()).entry.size, '24');
  // The token is still enforced for envd (the port proxy asks none, as E2B's public traffic).
  const bad = await request(sbx.getHost(49983), {
    method: 'POST', path: '/filesystem.Filesystem/Stat',
    headers: { 'Content-Type': 'application/json', 'X-Access-Token': 'wrong' },
    body: JSON.stringify({ path: '/www/index.html' }),
  });
  assert.equal(bad.status, 401);
});

test('kill', async () => {
  await sbx.kill();
  const r = await request(sbx.getHost(8080));
  assert.equal(r.status, 502);
});
