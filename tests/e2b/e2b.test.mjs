// The official E2B SDK (npm `e2b', pinned in package.json) against fkd on loopback
// (harness.mjs starts it): sandboxes, commands, files, lists, timeouts. Run by run.sh
// (meson test --suite e2b).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Sandbox, CommandExitError } from 'e2b';
import { useFkd, fkdInfo } from './harness.mjs';

useFkd();

let sbx;
test('Sandbox.create with metadata, envs and a timeout', async () => {
  sbx = await Sandbox.create('base', {
    metadata: { suite: 'e2b', lang_version: '1' },
    envs: { FROM_CREATE: 'created' },
    timeoutMs: 120_000,
  });
  assert.match(sbx.sandboxId, /^[0-9a-f]+$/);
  const info = await sbx.getInfo();
  assert.equal(info.templateId, 'base');
  assert.deepEqual(info.metadata, { suite: 'e2b', lang_version: '1' });
  assert.equal(info.state, 'running');
  const span = info.endAt.getTime() - info.startedAt.getTime();
  assert.ok(span >= 119_000 && span <= 121_000, `timeout span ${span}`);
});

test('commands.run: stdout, stderr, exit code 0', async () => {
  const r = await sbx.commands.run('echo out; echo err >&2');
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
});

test('commands.run: a non-zero exit raises CommandExitError', async () => {
  await assert.rejects(sbx.commands.run('echo bad >&2; exit 7'), (e) => {
    assert.ok(e instanceof CommandExitError);
    assert.equal(e.exitCode, 7);
    assert.equal(e.stderr, 'bad\n');
    return true;
  });
});

test('commands.run: envs of the sandbox and the command, cwd', async () => {
  const r = await sbx.commands.run('echo "$FROM_CREATE $FROM_RUN $(pwd)"', {
    envs: { FROM_RUN: 'run' },
    cwd: '/tmp',
  });
  assert.equal(r.stdout, 'created run /tmp\n');
});

test('envd GET /envs: the environment commands start with (the token required)', async () => {
  const url = `http://127.0.0.1:${fkdInfo.envdPort}/envs`;
  const res = await fetch(url, {
    headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': sbx.envdAccessToken },
  });
  assert.equal(res.status, 200);
  const env = await res.json();
  assert.equal(env.FROM_CREATE, 'created');
  assert.equal(typeof env.PATH, 'string');
  const anon = await fetch(url, { headers: { 'E2b-Sandbox-Id': sbx.sandboxId } });
  assert.equal(anon.status, 401);
});

test('files.write and files.read: text and 1 MiB of bytes', async () => {
  const info = await sbx.files.write('/tmp/dir/hello.txt', 'hello from the sdk\n');
  assert.equal(info.path, '/tmp/dir/hello.txt');
  assert.equal(await sbx.files.read('/tmp/dir/hello.txt'), 'hello from the sdk\n');
  const r = await sbx.commands.run('cat /tmp/dir/hello.txt');
  assert.equal(r.stdout, 'hello from the sdk\n');
  const big = randomBytes(1 << 20);
  await sbx.files.write('/tmp/big.bin', new Blob([big]));
  const back = await sbx.files.read('/tmp/big.bin', { format: 'bytes' });
  assert.equal(back.length, big.length);
  assert.ok(Buffer.from(back).equals(big));
});

test('files.read of a missing file is a NotFoundError', async () => {
  await assert.rejects(sbx.files.read('/nope/missing'), (e) => e.name === 'FileNotFoundError' || e.name === 'NotFoundError');
});

test('files: exists, makeDir, getInfo, list with depth, rename, remove', async () => {
  assert.equal(await sbx.files.exists('/tmp/fs'), false);
  assert.equal(await sbx.files.makeDir('/tmp/fs/a/b'), true);
  assert.equal(await sbx.files.makeDir('/tmp/fs/a/b'), false);
  await sbx.files.write('/tmp/fs/a/f.txt', 'hello');
  await sbx.files.write('/tmp/fs/a/b/g.txt', 'x');
  assert.equal(await sbx.files.exists('/tmp/fs/a/f.txt'), true);

  const f = await sbx.files.getInfo('/tmp/fs/a/f.txt');
  assert.equal(f.name, 'f.txt');
  assert.equal(f.type, 'file');
  assert.equal(f.path, '/tmp/fs/a/f.txt');
  assert.equal(f.size, 5);
  assert.equal(f.permissions, '-rw-r--r--');
  assert.equal(f.mode, 0o644);
  const ids = (await sbx.commands.run('id -un; id -gn')).stdout.split('\n');
  assert.equal(f.owner, ids[0]);
  assert.equal(f.group, ids[1]);
  assert.ok(f.modifiedTime instanceof Date);
  assert.ok(Math.abs(f.modifiedTime.getTime() - Date.now()) < 60_000, `${f.modifiedTime}`);
  const d = await sbx.files.getInfo('/tmp/fs/a/');
  assert.equal(d.type, 'dir');
  assert.equal(d.name, 'a');
  assert.match(d.permissions, /^d/);
  await sbx.commands.run('ln -s a/f.txt /tmp/fs/link');
  assert.equal((await sbx.files.getInfo('/tmp/fs/link')).type, 'symlink');

  const one = await sbx.files.list('/tmp/fs/a');
  assert.deepEqual(one.map((e) => [e.name, e.type]), [['b', 'dir'], ['f.txt', 'file']]);
  const two = await sbx.files.list('/tmp/fs', { depth: 2 });
  assert.deepEqual(two.map((e) => e.path).sort(),
    ['/tmp/fs/a', '/tmp/fs/a/b', '/tmp/fs/a/f.txt', '/tmp/fs/link']);
  const three = await sbx.files.list('/tmp/fs', { depth: 3 });
  assert.deepEqual(three.map((e) => e.path).sort(),
    ['/tmp/fs/a', '/tmp/fs/a/b', '/tmp/fs/a/b/g.txt', '/tmp/fs/a/f.txt', '/tmp/fs/link']);
  await assert.rejects(sbx.files.list('/tmp/fs', { depth: 0 }), (e) => e.name === 'InvalidArgumentError');
  await assert.rejects(sbx.files.list('/tmp/fs/nope'), (e) => e.name === 'FileNotFoundError');

  const moved = await sbx.files.rename('/tmp/fs/a/f.txt', '/tmp/fs/moved.txt');
  assert.equal(moved.path, '/tmp/fs/moved.txt');
  assert.equal(moved.name, 'moved.txt');
  assert.equal(await sbx.files.read('/tmp/fs/moved.txt'), 'hello');
  assert.equal(await sbx.files.exists('/tmp/fs/a/f.txt'), false);
  await assert.rejects(sbx.files.rename('/tmp/fs/none', '/tmp/fs/x'), (e) => e.name === 'FileNotFoundError');

  await sbx.files.remove('/tmp/fs/a');
  assert.equal(await sbx.files.exists('/tmp/fs/a'), false);
  assert.equal(await sbx.files.exists('/tmp/fs/a/b/g.txt'), false);
  await sbx.files.remove('/tmp/fs/moved.txt');
  assert.equal(await sbx.files.exists('/tmp/fs/moved.txt'), false);
  await assert.rejects(sbx.files.getInfo('/tmp/fs/moved.txt'), (e) => e.name === 'FileNotFoundError');
});

test('commands: a background command is listed, killed by pid, and gone', async () => {
  const h = await sbx.commands.run('sleep 60', { background: true });
  const procs = await sbx.commands.list();
  const p = procs.find((x) => x.pid === h.pid);
  assert.ok(p, `pid ${h.pid} in ${JSON.stringify(procs)}`);
  assert.equal(p.cmd, '/bin/bash');
  assert.deepEqual(p.args, ['-l', '-c', 'sleep 60']);
  assert.equal(await sbx.commands.kill(h.pid), true);
  await assert.rejects(h.wait(), (e) => {
    assert.ok(e instanceof CommandExitError);
    assert.equal(e.exitCode, -1);
    assert.match(e.error, /signal: killed/);
    return true;
  });
  assert.ok(!(await sbx.commands.list()).some((x) => x.pid === h.pid));
  assert.equal(await sbx.commands.kill(h.pid), false);
});

test('commands: sendStdin to a background cat, closeStdin ends it', async () => {
  let out = '';
  const h = await sbx.commands.run('cat', { background: true, stdin: true,
    onStdout: (d) => { out += d; } });
  await sbx.commands.sendStdin(h.pid, 'line one\n');
  await h.sendStdin('line two\n');
  for (let i = 0; i < 50 && out !== 'line one\nline two\n'; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(out, 'line one\nline two\n');
  await sbx.commands.closeStdin(h.pid);
  const r = await h.wait();
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'line one\nline two\n');
  await assert.rejects(sbx.commands.sendStdin(h.pid, 'late'), (e) => e.name === 'NotFoundError'
    || /not_found/.test(String(e.message)));
  const quiet = await sbx.commands.run('sleep 30', { background: true });
  await assert.rejects(sbx.commands.sendStdin(quiet.pid, 'x'), (e) => /failed_precondition|without stdin/.test(String(e.message)));
  await sbx.commands.kill(quiet.pid);
  await quiet.wait().catch(() => {});
});

test('commands.connect: reattach to a running command, its output and its end', async () => {
  const h = await sbx.commands.run('echo first; sleep 1; echo second; exit 3', { background: true });
  await h.disconnect();
  let h2 = null;
  // The first stream lets go of the process within a pump tick of the disconnect.
  for (let i = 0; i < 20 && !h2; i++) {
    try {
      h2 = await sbx.commands.connect(h.pid);
    } catch (e) {
      if (!/failed_precondition/.test(String(e.message))) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(h2, 'connected');
  assert.equal(h2.pid, h.pid);
  await assert.rejects(h2.wait(), (e) => {
    assert.ok(e instanceof CommandExitError);
    assert.equal(e.exitCode, 3);
    assert.match(e.stdout, /second\n$/);
    return true;
  });
  await assert.rejects(sbx.commands.connect(h.pid), (e) => e.name === 'NotFoundError'
    || /not_found/.test(String(e.message)));
});

test('Sandbox.list with a metadata filter', async () => {
  const other = await Sandbox.create('base', { metadata: { suite: 'other' } });
  try {
    const items = await Sandbox.list({ query: { metadata: { suite: 'e2b' } } }).nextItems();
    const ids = items.map((s) => s.sandboxId);
    assert.ok(ids.includes(sbx.sandboxId));
    assert.ok(!ids.includes(other.sandboxId));
    const all = await Sandbox.list().nextItems();
    assert.ok(all.map((s) => s.sandboxId).includes(other.sandboxId));
  } finally {
    await other.kill();
  }
});

test('setTimeout moves the end', async () => {
  await sbx.setTimeout(600_000);
  const info = await sbx.getInfo();
  const left = info.endAt.getTime() - Date.now();
  assert.ok(left > 590_000 && left <= 601_000, `left ${left}`);
});

test('a wrong API key is rejected', async () => {
  await assert.rejects(Sandbox.create('base', { apiKey: 'e2b_0123456789abcdef' }),
    (e) => e.name === 'AuthenticationError');
  await assert.rejects(Sandbox.list({ apiKey: 'e2b_00' }).nextItems(),
    (e) => e.name === 'AuthenticationError');
});

test('20 sandboxes used in parallel, each running commands and files', async () => {
  // Every create settles before anything is judged, so what was made is killed even when
  // one create fails.
  const made = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
    Sandbox.create('base', { metadata: { parallel: String(i) } })));
  const boxes = made.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  try {
    const failed = made.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 0, `creates failed: ${failed.map((r) => r.reason).join('; ')}`);
    assert.equal(new Set(boxes.map((b) => b.sandboxId)).size, 20);
    await Promise.all(boxes.map(async (b, i) => {
      // Each sees only its own files and its own processes.
      await b.files.write(`/tmp/n${i}`, `${i}`);
      const r = await b.commands.run(`cat /tmp/n${i}; echo " $(ls /tmp | grep -c '^n')"`);
      assert.equal(r.stdout, `${i} 1\n`);
      const bg = await b.commands.run(`sleep 30 # box ${i}`, { background: true });
      const procs = await b.commands.list();
      assert.deepEqual(procs.map((p) => p.pid), [bg.pid]);
      await b.files.makeDir(`/tmp/d${i}`);
      await b.files.write(`/tmp/d${i}/f`, 'x'.repeat(i + 1));
      assert.equal((await b.files.getInfo(`/tmp/d${i}/f`)).size, i + 1);
      assert.equal(await b.commands.kill(bg.pid), true);
      assert.equal((await b.commands.run(`cat /tmp/d${i}/f | wc -c`)).stdout.trim(), String(i + 1));
    }));
    const listed = await Sandbox.list({ query: { metadata: { parallel: '7' } } }).nextItems();
    assert.deepEqual(listed.map((s) => s.sandboxId), [boxes[7].sandboxId]);
  } finally {
    await Promise.allSettled(boxes.map((b) => b.kill()));
  }
});

test('kill: the sandbox is gone', async () => {
  await sbx.kill();
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId), (e) => e.name === 'SandboxNotFoundError'
    || e.name === 'NotFoundError');
  const all = await Sandbox.list().nextItems();
  assert.ok(!all.map((s) => s.sandboxId).includes(sbx.sandboxId));
});
