// fkd with a warm pool (--warm-pool 2): creates are served from it and still get what they
// asked for (metadata, envs, timeout, their own token), and so are forks of a sandbox of the
// pool's template (its ready sandboxes moved onto the fork's snapshot); the sandboxes that
// wait in the pool are nobody's, so no call reaches them by id; an fkd killed with its pool
// leaves no sandbox behind once it is started again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Sandbox } from 'e2b';
import { FK, stateDir, apiKey, fkdInfo, useFkd } from './harness.mjs';

useFkd(['--warm-pool', '2']);

const env = () => ({ ...process.env, FIRKIN_STATE_DIR: stateDir });
const allIds = () => execFileSync(FK, ['ls', '-q'], { env: env() }).toString().split('\n').filter(Boolean);

async function waitFor(what, pred, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a create from the pool gets its metadata, envs, timeout and token', async () => {
  await waitFor('two ready sandboxes', () => allIds().length === 2);
  const before = allIds();
  const sbx = await Sandbox.create('base', {
    metadata: { who: 'pool-test' }, envs: { FROM_CREATE: 'yes' }, timeoutMs: 120_000,
  });
  // It was one of the ready ones.
  assert.ok(before.includes(sbx.sandboxId), `${sbx.sandboxId} not in ${before}`);
  const r = await sbx.commands.run('echo "$FROM_CREATE"');
  assert.equal(r.stdout, 'yes\n');
  const info = await sbx.getInfo();
  assert.deepEqual(info.metadata, { who: 'pool-test' });
  const left = info.endAt.getTime() - Date.now();
  assert.ok(left > 100_000 && left <= 121_000, `ends in ${left} ms`);
  // Its envd wants its own token.
  const res = await fetch(`http://127.0.0.1:${fkdInfo.envdPort}/health`, {
    headers: { 'E2b-Sandbox-Id': sbx.sandboxId },
  });
  assert.equal(res.status, 204);
  const listed = await Sandbox.list().nextItems();
  assert.deepEqual(listed.map((s) => s.sandboxId), [sbx.sandboxId]);
  await sbx.kill();
});

test('the sandboxes waiting in the pool are out of reach', async () => {
  await waitFor('the pool to refill', () => allIds().length === 2);
  assert.deepEqual(await Sandbox.list().nextItems(), []);
  for (const id of allIds()) {
    const headers = { 'X-API-Key': apiKey };
    const api = `http://127.0.0.1:${fkdInfo.apiPort}`;
    assert.equal((await fetch(`${api}/sandboxes/${id}`, { headers })).status, 404);
    assert.equal((await fetch(`${api}/sandboxes/${id}/timeout`, {
      method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' },
      body: '{"timeout": 5}',
    })).status, 404);
    assert.equal((await fetch(`${api}/sandboxes/${id}`, { method: 'DELETE', headers })).status, 404);
    // envd: no token to check yet, so nothing may pass.
    const run = await fetch(`http://127.0.0.1:${fkdInfo.envdPort}/process.Process/List`, {
      method: 'POST', headers: { 'E2b-Sandbox-Id': id, 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(run.status, 502);
  }
  assert.equal(allIds().length, 2);
});

test('a fork takes the ready sandboxes of the pool, moved onto the parent\'s files', async () => {
  const parent = await Sandbox.create('base', { timeoutMs: 120_000 });
  await parent.commands.run('echo parent > /root/who');
  await waitFor('the pool to refill', () => allIds().length === 3);
  const ready = allIds().filter((id) => id !== parent.sandboxId);
  const forks = await Sandbox.fork(parent.sandboxId, { count: 2, timeoutMs: 60_000 });
  // The ready ones became the forks (fkd's fork route takes its pool: docs/snapshots.md).
  assert.deepEqual(forks.map((f) => f.sandboxId).sort(), ready.sort());
  const tokens = new Set([parent.envdAccessToken, ...forks.map((f) => f.envdAccessToken)]);
  assert.equal(tokens.size, 3, 'every fork has a token of its own');
  await Promise.all(forks.map(async (f, i) => {
    assert.equal((await f.commands.run('cat /root/who')).stdout, 'parent\n');
    await f.commands.run(`echo fork${i} > /root/who`);
    const info = await f.getInfo();
    const left = info.endAt.getTime() - Date.now();
    assert.ok(left > 30_000 && left <= 61_000, `fork ends in ${left} ms`);
  }));
  assert.equal((await parent.commands.run('cat /root/who')).stdout, 'parent\n');
  assert.equal((await forks[1].commands.run('cat /root/who')).stdout, 'fork1\n');
  await Promise.all([parent, ...forks].map((s) => s.kill()));
});

test('an fkd killed with its pool: the next one deletes what waited in it', async () => {
  const kept = await Sandbox.create('base', { metadata: { keep: '1' } });
  await waitFor('the pool to refill', () => allIds().length === 3);
  const orphans = allIds().filter((id) => id !== kept.sandboxId);
  const pid = fkdInfo.proc.pid;
  const done = new Promise((resolve) => fkdInfo.proc.on('exit', resolve));
  process.kill(pid, 'SIGKILL');
  await done;
  // The pool's helper follows its parent; the sandboxes it made stay until an fkd sweeps them.
  assert.equal(allIds().length, 3);
  await fkdInfo.restart();
  await waitFor('the orphans swept and a new pool filled', () => {
    const ids = allIds();
    return ids.includes(kept.sandboxId) && ids.length === 3 && !ids.some((id) => orphans.includes(id));
  });
  assert.equal((await kept.commands.run('echo alive')).stdout, 'alive\n');
  assert.deepEqual((await Sandbox.list().nextItems()).map((s) => s.sandboxId), [kept.sandboxId]);
  await kept.kill();
});
