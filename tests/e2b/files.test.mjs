// The official E2B SDK's files API against fkd (harness.mjs starts it): watchDir (events,
// recursive, onExit), files as a user, symlink targets, gzip both ways, signed download and
// upload URLs fetched with plain fetch; and the attacks: a watch led out of the sandbox, a flood
// of files under a watch, a gzip bomb, an unknown user, a signature for another path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Sandbox } from 'e2b';
import { useFkd, fkdInfo } from './harness.mjs';

useFkd();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(25);
  }
  assert.fail(`timed out waiting for ${what}`);
}
const has = (events, name, type) => events.some((e) => e.name === name && e.type === type);

function rssKiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : -1;
}

// A plain request to fkd's envd for this sandbox: the routing header (the hosted proxy routes by
// the Host name instead), nothing else the SDK would add.
function envdFetch(sbx, url, init = {}) {
  return fetch(url, { ...init, headers: { 'E2b-Sandbox-Id': sbx.sandboxId, ...(init.headers ?? {}) } });
}
function filesUrl(params) {
  const u = new URL('/files', process.env.E2B_SANDBOX_URL);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

let sbx;
test('Sandbox.create', async () => {
  sbx = await Sandbox.create('base', { timeoutMs: 300_000 });
  assert.ok(sbx.envdAccessToken, 'a secure sandbox has an access token');
});

test('watchDir: create, write, rename, remove events; stop calls onExit', async () => {
  await sbx.files.makeDir('/tmp/w');
  const events = [];
  let exited = null;
  const h = await sbx.files.watchDir('/tmp/w', (e) => { events.push(e); }, {
    onExit: (err) => { exited = err ?? 'clean'; },
  });
  await sbx.files.write('/tmp/w/a.txt', 'one');
  await until(() => has(events, 'a.txt', 'create'), 10_000, 'create a.txt');
  await sbx.commands.run('echo two >> /tmp/w/a.txt');
  await until(() => has(events, 'a.txt', 'write'), 10_000, 'write a.txt');
  await sbx.commands.run('chmod 600 /tmp/w/a.txt');
  await until(() => has(events, 'a.txt', 'chmod'), 10_000, 'chmod a.txt');
  await sbx.files.rename('/tmp/w/a.txt', '/tmp/w/b.txt');
  await until(() => has(events, 'a.txt', 'rename') && has(events, 'b.txt', 'create'), 10_000, 'rename');
  await sbx.files.remove('/tmp/w/b.txt');
  await until(() => has(events, 'b.txt', 'remove'), 10_000, 'remove b.txt');
  // Not recursive: what happens in a subdirectory is not reported.
  await sbx.commands.run('mkdir /tmp/w/sub && touch /tmp/w/sub/deep');
  await until(() => has(events, 'sub', 'create'), 10_000, 'create sub');
  await sleep(300);
  assert.ok(!events.some((e) => e.name.startsWith('sub/')), JSON.stringify(events));
  await h.stop();
  await until(() => exited !== null, 10_000, 'onExit');
});

test('watchDir recursive: a subdirectory made after the watch started', async () => {
  await sbx.files.makeDir('/tmp/r/old');
  const events = [];
  const h = await sbx.files.watchDir('/tmp/r', (e) => { events.push(e); }, { recursive: true });
  await sbx.files.write('/tmp/r/old/f', 'x');
  await until(() => has(events, 'old/f', 'create'), 10_000, 'old/f');
  await sbx.files.makeDir('/tmp/r/new/deeper');
  await until(() => has(events, 'new', 'create'), 10_000, 'new');
  await sleep(200);
  await sbx.commands.run('touch /tmp/r/new/deeper/g');
  await until(() => has(events, 'new/deeper/g', 'create'), 10_000, 'new/deeper/g');
  await h.stop();
});

test('watchDir: the directory removed ends the watch with onExit and no error', async () => {
  await sbx.files.makeDir('/tmp/gone');
  let exited = null;
  const events = [];
  await sbx.files.watchDir('/tmp/gone', (e) => { events.push(e); }, {
    onExit: (err) => { exited = err ?? 'clean'; },
  });
  await sbx.files.remove('/tmp/gone');
  await until(() => exited !== null, 10_000, 'onExit');
  assert.equal(exited, 'clean');
  assert.ok(has(events, '.', 'remove'), JSON.stringify(events));
});

test('watchDir: a missing directory, a file', async () => {
  await assert.rejects(sbx.files.watchDir('/tmp/nope', () => {}), (e) => e.name === 'FileNotFoundError');
  await sbx.files.write('/tmp/plain', 'x');
  await assert.rejects(sbx.files.watchDir('/tmp/plain', () => {}), (e) => e.name === 'InvalidArgumentError');
});

test('attack: a watch led out of the sandbox by .. or a symlink stays inside', async () => {
  // A symlink to a host directory: inside the sandbox that path is the sandbox's own, absent.
  const hostDir = '/tmp/fkd-e2b-host-' + process.pid;
  await sbx.commands.run(`ln -s ${hostDir} /tmp/esc && ln -s / /tmp/rootlink`);
  await assert.rejects(sbx.files.watchDir('/tmp/esc', () => {}), (e) => e.name === 'FileNotFoundError');
  // `..' stops at the sandbox's root: the watch is on it, and sees the sandbox's files.
  const events = [];
  const h = await sbx.files.watchDir('/tmp/../../../..', (e) => { events.push(e); });
  await sbx.commands.run('touch /inside-root');
  await until(() => has(events, 'inside-root', 'create'), 10_000, 'inside-root');
  await h.stop();
  // Through a symlink to `/': the sandbox's root again.
  const ev2 = [];
  const h2 = await sbx.files.watchDir('/tmp/rootlink', (e) => { ev2.push(e); });
  await sbx.commands.run('touch /inside-root-2');
  await until(() => has(ev2, 'inside-root-2', 'create'), 10_000, 'inside-root-2');
  await h2.stop();
});

test('attack: 100,000 files under a watch: bounded, fkd and the agent live', async () => {
  await sbx.files.makeDir('/tmp/flood');
  let exited = null;
  let slow = true;
  let count = 0;
  // A reader slower than the sandbox while it makes (and chmods) the files: what the path holds
  // (fkd's stream buffer, the agent's send queue, the kernel's inotify queue, the sockets) is
  // bounded; past it the loss is reported and the watch ends.
  await sbx.files.watchDir('/tmp/flood', async () => { count++; if (slow) await sleep(1); }, {
    onExit: (err) => { exited = err ?? 'clean'; },
    timeoutMs: 0,
  });
  const before = rssKiB(fkdInfo.proc.pid);
  await sbx.commands.run('cd /tmp/flood && i=0; while [ $i -lt 100 ]; do seq 1 1000 | sed "s/^/f$i-/" | xargs touch; i=$((i+1)); done; ls | xargs chmod 600',
    { timeoutMs: 180_000 });
  const peak = rssKiB(fkdInfo.proc.pid);
  slow = false;
  await until(() => exited !== null || count >= 200_000, 60_000, 'every event or the loss');
  if (exited !== null) {
    assert.notEqual(exited, 'clean');
    assert.match(String(exited.message), /lost at least \d+ events/);
  }
  console.log(`# ${count} events read; ${exited ? 'the loss was reported: ' + exited.message : 'none lost'}`);
  // Under ASan the quarantine holds freed memory (256 MiB by default): RSS says nothing there.
  if (!process.env.ASAN_OPTIONS) assert.ok(peak < before + 64 * 1024, `fkd grew from ${before} to ${peak} KiB`);
  // The agent (PID 1 in the sandbox) is small and answers; fkd answers.
  const rss = await sbx.commands.run("grep VmRSS /proc/1/status | tr -s ' ' | cut -d' ' -f2");
  assert.ok(Number(rss.stdout) < 64 * 1024, `agent RSS ${rss.stdout}`);
  assert.equal((await sbx.files.list('/tmp/flood')).length, 100_000);
  await sbx.commands.run('rm -rf /tmp/flood');
});

test('files.write and read with a user: relative from the home, owned by the user', async () => {
  const info = await sbx.files.write('rel/u.txt', 'mine', { user: 'user' });
  assert.equal(info.path, '/home/user/rel/u.txt');
  assert.equal(await sbx.files.read('rel/u.txt', { user: 'user' }), 'mine');
  assert.equal(await sbx.files.read('/home/user/rel/u.txt'), 'mine');
  const st = await sbx.commands.run('stat -c %u:%g /home/user/rel/u.txt /home/user/rel');
  assert.equal(st.stdout, '1000:1000\n1000:1000\n');
  const got = await sbx.files.getInfo('rel/u.txt', { user: 'user' });
  assert.equal(got.path, '/home/user/rel/u.txt');
  assert.equal(got.owner, 'user');
  assert.equal(await sbx.files.makeDir('~/made', { user: 'user' }), true);
  assert.equal((await sbx.commands.run('stat -c %U /home/user/made')).stdout, 'user\n');
  const ls = await sbx.files.list('rel', { user: 'user' });
  assert.deepEqual(ls.map((e) => e.path), ['/home/user/rel/u.txt']);
  // A watch of a relative path is of the user's home.
  const events = [];
  const h = await sbx.files.watchDir('.', (e) => { events.push(e); }, { user: 'user' });
  await sbx.commands.run('touch /home/user/seen');
  await until(() => has(events, 'seen', 'create'), 10_000, 'seen');
  await h.stop();
});

test('attack: a user that does not exist', async () => {
  await assert.rejects(sbx.files.write('/tmp/ghost.txt', 'x', { user: 'ghost' }), (e) => e.name === 'AuthenticationError');
  await assert.rejects(sbx.files.read('/etc/hostname', { user: 'ghost' }), (e) => e.name === 'AuthenticationError');
  await assert.rejects(sbx.files.list('/tmp', { user: 'ghost' }), (e) => e.name === 'AuthenticationError');
  await assert.rejects(sbx.files.watchDir('/tmp', () => {}, { user: 'ghost' }), (e) => e.name === 'AuthenticationError');
  assert.equal(await sbx.files.exists('/tmp/ghost.txt'), false);
});

test('getInfo and list of a symlink show its target', async () => {
  await sbx.commands.run('mkdir -p /tmp/sl && ln -sf /etc/hostname /tmp/sl/link && touch /tmp/sl/file');
  const info = await sbx.files.getInfo('/tmp/sl/link');
  assert.equal(info.type, 'symlink');
  assert.equal(info.symlinkTarget, '/etc/hostname');
  assert.equal((await sbx.files.getInfo('/tmp/sl/file')).symlinkTarget, undefined);
  const ls = await sbx.files.list('/tmp/sl');
  assert.deepEqual(ls.map((e) => [e.name, e.symlinkTarget]), [['file', undefined], ['link', '/etc/hostname']]);
});

test('gzip: upload with Content-Encoding, download with Accept-Encoding', async () => {
  const text = 'compress me '.repeat(10_000);
  await sbx.files.write('/tmp/gz.txt', text, { gzip: true });
  assert.equal(await sbx.files.read('/tmp/gz.txt'), text);
  assert.equal(await sbx.files.read('/tmp/gz.txt', { gzip: true }), text);
  // The bytes on the wire are gzip (fetch inflates them and keeps the header).
  const res = await envdFetch(sbx, filesUrl({ path: '/tmp/gz.txt' }), {
    headers: { 'X-Access-Token': sbx.envdAccessToken, 'Accept-Encoding': 'gzip' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-encoding'), 'gzip');
  assert.ok(Number(res.headers.get('content-length')) < text.length / 10);
  assert.equal(await res.text(), text);
  const plain = await envdFetch(sbx, filesUrl({ path: '/tmp/gz.txt' }), {
    headers: { 'X-Access-Token': sbx.envdAccessToken, 'Accept-Encoding': 'identity' },
  });
  assert.equal(plain.headers.get('content-encoding'), null);
  assert.equal(await plain.text(), text);
  // Bytes that do not compress (random) are sent as they are, gzip asked or not.
  const noise = randomBytes(300_000);
  await sbx.files.write('/tmp/noise.bin', noise);
  const raw = await envdFetch(sbx, filesUrl({ path: '/tmp/noise.bin' }), {
    headers: { 'X-Access-Token': sbx.envdAccessToken, 'Accept-Encoding': 'gzip' },
  });
  assert.equal(raw.headers.get('content-encoding'), null);
  assert.ok(Buffer.from(await raw.arrayBuffer()).equals(noise));
  // Not gzip at all: 400.
  const bad = await envdFetch(sbx, filesUrl({ path: '/tmp/notgz' }), {
    method: 'POST', body: 'plain text',
    headers: { 'X-Access-Token': sbx.envdAccessToken, 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' },
  });
  assert.equal(bad.status, 400);
});

test('attack: a gzip bomb hits the upload limit', async () => {
  const bomb = gzipSync(Buffer.alloc(200 << 20), { level: 9 });
  assert.ok(bomb.length < 1 << 20);
  const before = rssKiB(fkdInfo.proc.pid);
  const res = await envdFetch(sbx, filesUrl({ path: '/tmp/bomb' }), {
    method: 'POST', body: bomb,
    headers: { 'X-Access-Token': sbx.envdAccessToken, 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' },
  });
  assert.equal(res.status, 413);
  assert.match((await res.json()).message, /more than \d+ bytes/);
  assert.equal(await sbx.files.exists('/tmp/bomb'), false);
  const after = rssKiB(fkdInfo.proc.pid);
  // At most the 64 MiB limit inflated (ASan's quarantine: see above).
  if (!process.env.ASAN_OPTIONS) assert.ok(after < before + 160 * 1024, `fkd grew from ${before} to ${after} KiB`);
  assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n');
});

test('downloadUrl and uploadUrl: signed, fetched with plain fetch', async () => {
  await sbx.files.write('/tmp/signed.txt', 'signed content');
  // No token and no signature: refused.
  const none = await envdFetch(sbx, filesUrl({ path: '/tmp/signed.txt' }));
  assert.equal(none.status, 401);
  // A signature without expiration, and one with.
  for (const opts of [{}, { useSignatureExpiration: 60 }]) {
    const url = await sbx.downloadUrl('/tmp/signed.txt', opts);
    assert.match(url, /signature=v1_/);
    const res = await envdFetch(sbx, url);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), 'signed content');
  }
  // Expired.
  const expired = await sbx.downloadUrl('/tmp/signed.txt', { useSignatureExpiration: -10 });
  const e = await envdFetch(sbx, expired);
  assert.equal(e.status, 401);
  assert.match((await e.json()).message, /expired/);
  // Tampered: one character of the signature, or the expiration pushed later.
  const good = new URL(await sbx.downloadUrl('/tmp/signed.txt', { useSignatureExpiration: 60 }));
  const t1 = new URL(good);
  const sig = t1.searchParams.get('signature');
  t1.searchParams.set('signature', sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A'));
  assert.equal((await envdFetch(sbx, t1.toString())).status, 401);
  const t2 = new URL(good);
  t2.searchParams.set('signature_expiration', String(Number(good.searchParams.get('signature_expiration')) + 3600));
  assert.equal((await envdFetch(sbx, t2.toString())).status, 401);
  // A read signature does not write, and a wrong token in the header is refused.
  const asWrite = await envdFetch(sbx, good.toString(), {
    method: 'POST', body: 'x', headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(asWrite.status, 401);
  const wrongToken = await envdFetch(sbx, good.toString(), { headers: { 'X-Access-Token': 'nope' } });
  assert.equal(wrongToken.status, 401);
  // Upload by a signed URL (multipart, as the SDK documents it).
  const up = await sbx.uploadUrl('/tmp/uploaded.txt', { useSignatureExpiration: 60 });
  const form = new FormData();
  form.append('file', new Blob(['via signed url']), 'uploaded.txt');
  const ur = await envdFetch(sbx, up, { method: 'POST', body: form });
  assert.equal(ur.status, 200, await ur.clone().text());
  assert.equal(await sbx.files.read('/tmp/uploaded.txt'), 'via signed url');
});

test('attack: a signature for another path', async () => {
  const url = new URL(await sbx.downloadUrl('/tmp/signed.txt'));
  url.searchParams.set('path', '/etc/passwd');
  const res = await envdFetch(sbx, url.toString());
  assert.equal(res.status, 401);
  assert.match((await res.json()).message, /invalid signature/);
  // Nor for another user.
  const u2 = new URL(await sbx.downloadUrl('/tmp/signed.txt'));
  u2.searchParams.set('username', 'root');
  assert.equal((await envdFetch(sbx, u2.toString())).status, 401);
});

test('CreateWatcher, GetWatcherEvents, RemoveWatcher (the non-streaming form)', async () => {
  const call = async (method, body) => {
    const res = await envdFetch(sbx, new URL(`/filesystem.Filesystem/${method}`, process.env.E2B_SANDBOX_URL).toString(), {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'X-Access-Token': sbx.envdAccessToken, 'Content-Type': 'application/json' },
    });
    return { status: res.status, body: await res.json() };
  };
  await sbx.files.makeDir('/tmp/nw');
  const c = await call('CreateWatcher', { path: '/tmp/nw', recursive: true });
  assert.equal(c.status, 200);
  const id = c.body.watcherId;
  assert.match(id, /^[0-9a-f]{32}$/);
  await sbx.commands.run('mkdir /tmp/nw/d && touch /tmp/nw/x');
  let events = [];
  await until(async () => {
    const g = await call('GetWatcherEvents', { watcherId: id });
    assert.equal(g.status, 200);
    events = events.concat(g.body.events ?? []);
    return events.some((e) => e.name === 'x' && e.type === 'EVENT_TYPE_CREATE');
  }, 10_000, 'events');
  assert.ok(events.some((e) => e.name === 'd' && e.type === 'EVENT_TYPE_CREATE'));
  // Fetched events are gone.
  assert.deepEqual((await call('GetWatcherEvents', { watcherId: id })).body.events ?? [], []);
  assert.equal((await call('RemoveWatcher', { watcherId: id })).status, 200);
  assert.equal((await call('GetWatcherEvents', { watcherId: id })).body.code, 'not_found');
  assert.equal((await call('RemoveWatcher', { watcherId: id })).body.code, 'not_found');
  assert.equal((await call('CreateWatcher', { path: '/tmp/none' })).body.code, 'not_found');
  assert.equal((await call('GetWatcherEvents', { watcherId: '../x' })).body.code, 'invalid_argument');
});

test('kill', async () => {
  await sbx.kill();
});
