// Terminals and the rest of process.Process through fkd: the SDK's pty (create, sendInput,
// resize, kill, envs and cwd), several Connect streams of one command, input to a command no
// stream holds, List's envs and cwd, and StreamInput (which the JS SDK does not call) over raw
// HTTP with a chunked body, with its bad input.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { Sandbox, CommandExitError } from 'e2b';
import { useFkd, fkdInfo, apiKey, FKD } from './harness.mjs';

useFkd();

let sbx;
let token;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dec = new TextDecoder();

// Waits until check() is true (polling), else fails with what.
async function until(check, what, ms = 10_000) {
  for (let t = 0; t < ms; t += 50) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('Sandbox.create', async () => {
  sbx = await Sandbox.create('base', { timeoutMs: 300_000 });
  const r = await fetch(`http://127.0.0.1:${fkdInfo.apiPort}/sandboxes/${sbx.sandboxId}`,
    { headers: { 'X-API-Key': apiKey } });
  token = (await r.json()).envdAccessToken;
});

after(async () => {
  await sbx?.kill().catch(() => {});
});

// A terminal, its output as the SDK hands it (bytes).
async function terminal(opts = {}) {
  let out = '';
  const h = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => { out += dec.decode(d); },
    ...opts });
  return { h, out: () => out };
}

test('pty.create runs bash on a terminal: input in, output through onData', async () => {
  const t = await terminal();
  await sbx.pty.sendInput(t.h.pid, new TextEncoder().encode('echo "got $((6*7))"; tty\n'));
  await until(() => /got 42/.test(t.out()) && /\/dev\/pts\/\d+/.test(t.out()), 'the echo');
  assert.ok(await sbx.pty.kill(t.h.pid));
  await assert.rejects(t.h.wait(), (e) => e instanceof CommandExitError && /killed/.test(e.error));
  assert.equal(await sbx.pty.kill(t.h.pid), false);
});

test('pty.resize is what stty size sees inside', async () => {
  const t = await terminal({ cols: 100, rows: 30 });
  const enc = new TextEncoder();
  await sbx.pty.sendInput(t.h.pid, enc.encode('stty size\n'));
  await until(() => /30 100/.test(t.out()), 'the first size');
  await sbx.pty.resize(t.h.pid, { cols: 132, rows: 43 });
  await sbx.pty.sendInput(t.h.pid, enc.encode('stty size\n'));
  await until(() => /43 132/.test(t.out()), 'the new size');
  await sbx.pty.sendInput(t.h.pid, enc.encode('exit 5\n'));
  await assert.rejects(t.h.wait(), (e) => e instanceof CommandExitError && e.exitCode === 5);
});

test('a pty with envs and cwd; List gives its envs and cwd', async () => {
  const t = await terminal({ envs: { FROM_PTY: 'pty-env' }, cwd: '/tmp' });
  await sbx.pty.sendInput(t.h.pid, new TextEncoder().encode('echo "[$FROM_PTY $PWD $TERM]"\n'));
  await until(() => /\[pty-env \/tmp xterm-256color\]/.test(t.out()), 'the envs');
  const p = (await sbx.commands.list()).find((x) => x.pid === t.h.pid);
  assert.ok(p, 'listed');
  assert.equal(p.cmd, '/bin/bash');
  assert.equal(p.cwd, '/tmp');
  assert.equal(p.envs.FROM_PTY, 'pty-env');
  assert.equal(p.envs.TERM, 'xterm-256color');
  await sbx.pty.kill(t.h.pid);
  await t.h.wait().catch(() => {});
});

test('the terminal is the sandbox\'s own: TIOCSTI from inside is refused', async (t) => {
  const attack = join(dirname(FKD), '../../tests/integration/attack/fk-attack-tiocsti');
  if (!existsSync(attack)) return t.skip('fk-attack-tiocsti is not built');
  await sbx.files.write('/tmp/fk-attack-tiocsti', new Blob([readFileSync(attack)]));
  await sbx.commands.run('chmod 755 /tmp/fk-attack-tiocsti');
  const p = await terminal();
  await sbx.pty.sendInput(p.h.pid, new TextEncoder().encode(
    "/tmp/fk-attack-tiocsti 'touch /tmp/injected'; echo attack-done\n"));
  // The output's line, not the echo of the typed one.
  await until(() => /(^|\n)attack-done\r?\n/.test(p.out()), 'the attack', 15_000);
  assert.match(p.out(), /TIOCSTI refused: Operation not permitted/);
  await sleep(300);
  assert.equal((await sbx.commands.run('test -e /tmp/injected && echo yes || echo no')).stdout,
    'no\n');
  await sbx.pty.kill(p.h.pid);
  await p.h.wait().catch(() => {});
});

test('pty sizes of 0 or 100000 rows are invalid_argument', async () => {
  // Start's request errors are HTTP 400 before any stream, as for its other bad input (the SDK
  // reads a 400 on a stream as an internal error).
  await assert.rejects(sbx.pty.create({ cols: 80, rows: 100000, onData: () => {} }), /HTTP 400/);
  const big = await envdPost('process.Process/Start', 'application/connect+json',
    envelope({ process: { cmd: '/bin/bash' }, pty: { size: { rows: 100000, cols: 80 } } }));
  assert.equal(big.status, 400);
  assert.match(JSON.parse(big.body).message, /pty.size/);
  const start = await envdPost('process.Process/Start', 'application/connect+json',
    envelope({ process: { cmd: '/bin/bash' }, pty: { size: { rows: 0, cols: 80 } } }));
  assert.equal(start.status, 400);
  assert.equal(JSON.parse(start.body).code, 'invalid_argument');
  const t = await terminal();
  const upd = await envdPost('process.Process/Update', 'application/json',
    JSON.stringify({ process: { pid: t.h.pid }, pty: { size: { rows: 100000, cols: 80 } } }));
  assert.equal(upd.status, 400);
  assert.equal(JSON.parse(upd.body).code, 'invalid_argument');
  await sbx.pty.kill(t.h.pid);
  await t.h.wait().catch(() => {});
});

test('two commands.connect streams of one command both get its output and its end', async () => {
  const h = await sbx.commands.run(
    'read go; for i in 1 2 3; do echo tick $i; sleep 0.2; done; exit 4',
    { background: true, stdin: true });
  const a = await sbx.commands.connect(h.pid);
  const b = await sbx.commands.connect(h.pid);
  await sbx.commands.sendStdin(h.pid, 'go\n');
  for (const x of [h, a, b])
    await assert.rejects(x.wait(), (e) => {
      assert.ok(e instanceof CommandExitError);
      assert.equal(e.exitCode, 4);
      assert.equal(e.stdout, 'tick 1\ntick 2\ntick 3\n');
      return true;
    });
});

test('sendStdin to a command no stream holds; a later connect gets what it wrote', async () => {
  const h = await sbx.commands.run('cat', { background: true, stdin: true });
  await h.disconnect();
  // fkd lets go of the command within a pump tick (200 ms) of the disconnect.
  await sleep(600);
  await sbx.commands.sendStdin(h.pid, 'while detached\n');
  const c = await sbx.commands.connect(h.pid);
  await sbx.commands.closeStdin(h.pid);
  const r = await c.wait();
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'while detached\n');
});

// ---- StreamInput and bad input over raw HTTP ----

function envelope(msg, flags = 0) {
  const body = Buffer.from(typeof msg === 'string' ? msg : JSON.stringify(msg));
  const h = Buffer.alloc(5);
  h[0] = flags;
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

function parseEnvelopes(buf) {
  const out = [];
  for (let off = 0; off + 5 <= buf.length;) {
    const n = buf.readUInt32BE(off + 1);
    out.push({ flags: buf[off], msg: JSON.parse(buf.subarray(off + 5, off + 5 + n).toString()) });
    off += 5 + n;
  }
  return out;
}

function envdHeaders(ct) {
  return { 'Content-Type': ct, 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': token };
}

async function envdPost(method, ct, body) {
  const r = await fetch(`${process.env.E2B_SANDBOX_URL}/${method}`,
    { method: 'POST', headers: envdHeaders(ct), body });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

// A StreamInput request whose body is written piece by piece (chunked: no Content-Length);
// between(i) runs after piece i is written. Resolves with the status and the parsed envelopes.
function streamInput(pieces, between = async () => {}, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(`${process.env.E2B_SANDBOX_URL}/process.Process/StreamInput`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers: { ...envdHeaders('application/connect+json'), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let envs = null;
        try { envs = parseEnvelopes(body); } catch {}
        resolve({ status: res.statusCode, body, envs, chunked: req.getHeader('content-length') === undefined });
      });
    });
    req.on('error', reject);
    (async () => {
      for (let i = 0; i < pieces.length; i++) {
        await new Promise((r) => req.write(pieces[i], r));
        await between(i);
      }
      req.end();
    })().catch(reject);
  });
}

const stdinMsg = (s) => ({ data: { input: { stdin: Buffer.from(s).toString('base64') } } });

test('StreamInput: a chunked stream of envelopes reaches the command as it arrives', async () => {
  const h = await sbx.commands.run('cat > /tmp/si.txt', { background: true, stdin: true });
  const start = envelope({ start: { process: { pid: h.pid } } });
  const one = envelope(stdinMsg('first\n'));
  const two = envelope(stdinMsg('second\n'));
  // An envelope split across writes, a keepalive between the data.
  const pieces = [start, one.subarray(0, 3), one.subarray(3), envelope({ keepalive: {} }),
    two.subarray(0, 7), two.subarray(7)];
  const r = await streamInput(pieces, async (i) => {
    // The first line is in the file before the request has ended.
    if (i === 2)
      await until(async () => (await sbx.files.read('/tmp/si.txt')) === 'first\n', 'live input');
  });
  assert.equal(r.status, 200);
  assert.ok(r.chunked);
  assert.deepEqual(r.envs, [{ flags: 0, msg: {} }, { flags: 2, msg: {} }]);
  await sbx.commands.closeStdin(h.pid);
  await h.wait();
  assert.equal(await sbx.files.read('/tmp/si.txt'), 'first\nsecond\n');
});

test('StreamInput: 6 MiB in 96 KiB messages arrive whole and in order', async () => {
  const h = await sbx.commands.run('sha256sum > /tmp/si.sum', { background: true, stdin: true });
  const start = envelope({ start: { process: { pid: h.pid } } });
  const data = Buffer.alloc(6 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 13)) & 0xff;
  const pieces = [start];
  for (let off = 0; off < data.length; off += 96 << 10)
    pieces.push(envelope({ data: { input: { stdin: data.subarray(off, off + (96 << 10)).toString('base64') } } }));
  const r = await streamInput(pieces);
  assert.deepEqual(r.envs, [{ flags: 0, msg: {} }, { flags: 2, msg: {} }]);
  await sbx.commands.closeStdin(h.pid);
  await h.wait();
  const { createHash } = await import('node:crypto');
  assert.equal((await sbx.files.read('/tmp/si.sum')).split(' ')[0],
    createHash('sha256').update(data).digest('hex'));
});

test('StreamInput to a command that does not read: resource_exhausted, fkd unharmed', async () => {
  const h = await sbx.commands.run('sleep 60', { background: true, stdin: true });
  const start = envelope({ start: { process: { pid: h.pid } } });
  const chunk = envelope({ data: { input: { stdin: Buffer.alloc(512 << 10).toString('base64') } } });
  const r = await streamInput([start, ...Array(16).fill(chunk)]);
  assert.equal(r.envs.at(-1).msg.error.code, 'resource_exhausted');
  await sbx.commands.kill(h.pid);
  await h.wait().catch(() => {});
  assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n');
});

test('StreamInput bad input: a lying length, an oversized envelope, the limit, no start, unknown pid', async () => {
  const h = await sbx.commands.run('cat >/dev/null', { background: true, stdin: true });
  const start = envelope({ start: { process: { pid: h.pid } } });
  const endErr = (r) => {
    assert.equal(r.status, 200);
    const last = r.envs.at(-1);
    assert.equal(last.flags, 2);
    return last.msg.error;
  };
  // The length says 100 bytes, the body ends after 10.
  const lie = Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.from('{"keepaliv')]);
  let e = endErr(await streamInput([start, lie]));
  assert.equal(e.code, 'invalid_argument');
  assert.match(e.message, /length says 100/);
  // A header announcing 64 MiB is refused from the header alone.
  e = endErr(await streamInput([start, Buffer.from([0, 4, 0, 0, 0]), Buffer.alloc(1000)]));
  assert.equal(e.code, 'invalid_argument');
  assert.match(e.message, /over/);
  // A compressed or end-of-stream flag from the client.
  e = endErr(await streamInput([start, envelope({ keepalive: {} }, 2)]));
  assert.equal(e.code, 'invalid_argument');
  // Over the whole stream's limit (64 MiB): big keepalives, chunked.
  const pad = envelope(JSON.stringify({ keepalive: {}, pad: 'x'.repeat((1 << 20) - 40) }));
  e = endErr(await streamInput([start, ...Array(65).fill(pad)]));
  assert.equal(e.code, 'resource_exhausted');
  // A Content-Length over the limit is refused before the body.
  const big = await new Promise((resolve, reject) => {
    const u = new URL(`${process.env.E2B_SANDBOX_URL}/process.Process/StreamInput`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers: { ...envdHeaders('application/connect+json'), 'Content-Length': String(65 << 20) } },
      (res) => { res.resume(); resolve(res.statusCode); req.destroy(); });
    req.on('error', () => resolve('reset'));
    req.write(start);
  });
  assert.equal(big, 413);
  // Data before the start; no start at all; not JSON.
  e = endErr(await streamInput([envelope(stdinMsg('x')), start]));
  assert.equal(e.code, 'invalid_argument');
  e = endErr(await streamInput([envelope({ keepalive: {} })]));
  assert.match(e.message, /no start/);
  e = endErr(await streamInput([start, envelope('{nope')]));
  assert.equal(e.code, 'invalid_argument');
  // An unknown pid.
  e = endErr(await streamInput([envelope({ start: { process: { pid: 999999 } } }),
    envelope(stdinMsg('x'))]));
  assert.equal(e.code, 'not_found');
  // The wrong token and content type.
  const bad = await streamInput([start, envelope(stdinMsg('x'))], undefined,
    { 'X-Access-Token': 'wrong' });
  assert.equal(bad.status, 401);
  const ct = await envdPost('process.Process/StreamInput', 'application/json', start);
  assert.equal(ct.status, 415);
  // fkd still serves, and the command still takes input.
  const ok = await streamInput([start, envelope(stdinMsg('fine\n'))]);
  assert.deepEqual(ok.envs, [{ flags: 0, msg: {} }, { flags: 2, msg: {} }]);
  await sbx.commands.kill(h.pid);
  await h.wait().catch(() => {});
});

test('SendInput, Update and Connect bad input', async () => {
  const si = await envdPost('process.Process/SendInput', 'application/json',
    JSON.stringify({ process: { pid: 999999 }, input: { pty: 'eA==' } }));
  assert.equal(si.status, 404);
  assert.equal(JSON.parse(si.body).code, 'not_found');
  const h = await sbx.commands.run('sleep 30', { background: true, stdin: true });
  // Terminal input or a size for a command without a terminal.
  const pi = await envdPost('process.Process/SendInput', 'application/json',
    JSON.stringify({ process: { pid: h.pid }, input: { pty: 'eA==' } }));
  assert.equal(JSON.parse(pi.body).code, 'failed_precondition');
  const up = await envdPost('process.Process/Update', 'application/json',
    JSON.stringify({ process: { pid: h.pid }, pty: { size: { rows: 10, cols: 10 } } }));
  assert.equal(JSON.parse(up.body).code, 'failed_precondition');
  const un = await envdPost('process.Process/Update', 'application/json',
    JSON.stringify({ process: { pid: 999999 }, pty: { size: { rows: 10, cols: 10 } } }));
  assert.equal(JSON.parse(un.body).code, 'not_found');
  await sbx.commands.kill(h.pid);
  await h.wait().catch(() => {});
});
