// The official E2B SDK against fkd's snapshots and forks (harness.mjs starts fkd):
// createSnapshot, a sandbox created from it, listSnapshots, deleteSnapshot, and fork: each fork
// starts from the parent's files, diverges on its own, and has a token of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { useFkd, apiKey, fkdInfo } from './harness.mjs';

useFkd();

function api(path, init = {}) {
  return fetch(`http://127.0.0.1:${fkdInfo.apiPort}${path}`, {
    ...init,
    headers: { 'X-API-Key': apiKey, ...(init.headers ?? {}) },
  });
}

async function snapshotIds(opts) {
  const p = Sandbox.listSnapshots(opts);
  const out = [];
  while (p.hasNext) out.push(...(await p.nextItems()).map((s) => s.snapshotId));
  return out;
}

test('createSnapshot: a template a new sandbox starts from; listed, then deleted', async () => {
  const sbx = await Sandbox.create('base', { timeoutMs: 120_000 });
  await sbx.commands.run('mkdir -p /opt/app && echo "from the snapshot" > /opt/app/state');
  const snap = await sbx.createSnapshot({ name: 'e2b-test-snap' });
  assert.equal(snap.snapshotId, 'e2b-test-snap');
  assert.deepEqual(snap.names, ['e2b-test-snap']);
  // The sandbox goes on running after the capture.
  assert.equal((await sbx.commands.run('echo running')).stdout, 'running\n');
  // The same name again: the snapshot is replaced (E2B assigns a new build to it).
  await sbx.commands.run('echo "second" > /opt/app/second');
  const again = await sbx.createSnapshot({ name: 'e2b-test-snap' });
  assert.equal(again.snapshotId, 'e2b-test-snap');

  const child = await Sandbox.create(snap.snapshotId, { timeoutMs: 60_000 });
  assert.equal((await child.commands.run('cat /opt/app/state /opt/app/second')).stdout,
    'from the snapshot\nsecond\n');
  // Not while a sandbox runs on it (its next snapshot would stack on another image): 409.
  const busy = await api(`/sandboxes/${sbx.sandboxId}/snapshots`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: '{"name": "e2b-test-snap"}',
  });
  assert.equal(busy.status, 409, await busy.text());
  // Nor over a template the host prepared: 409.
  const host = await api(`/sandboxes/${sbx.sandboxId}/snapshots`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name": "base"}',
  });
  assert.equal(host.status, 409, await host.text());
  await child.kill();

  assert.ok((await snapshotIds()).includes('e2b-test-snap'));
  assert.deepEqual(await snapshotIds({ sandboxId: sbx.sandboxId }), ['e2b-test-snap']);
  assert.deepEqual(await snapshotIds({ sandboxId: 'aaaaaaaaaaaa' }), []);
  // Only snapshots are listed and deleted: the host's templates are not the API's to remove.
  assert.ok(!(await snapshotIds()).includes('base'));
  assert.equal(await Sandbox.deleteSnapshot('base'), false);
  assert.equal(await Sandbox.deleteSnapshot('e2b-test-snap'), true);
  assert.equal(await Sandbox.deleteSnapshot('e2b-test-snap'), false);
  assert.ok(!(await snapshotIds()).includes('e2b-test-snap'));
  await sbx.kill();
});

test('bad snapshot requests: a name with a slash, an unknown sandbox', async () => {
  const sbx = await Sandbox.create('base', { timeoutMs: 60_000 });
  const bad = await api(`/sandboxes/${sbx.sandboxId}/snapshots`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name": "../x"}',
  });
  assert.equal(bad.status, 400);
  const unknown = await api('/sandboxes/aaaaaaaaaaaa/snapshots', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
  });
  assert.equal(unknown.status, 404);
  const many = await api(`/sandboxes/${sbx.sandboxId}/fork`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"count": 101}',
  });
  assert.equal(many.status, 400);
  await sbx.kill();
});

test('fork: 3 copies from the parent\'s files, each its own, each with its own token', async () => {
  const parent = await Sandbox.create('base', { timeoutMs: 120_000 });
  await parent.commands.run('echo parent > /root/who');
  const forks = await Sandbox.fork(parent.sandboxId, { count: 3, timeoutMs: 60_000 });
  assert.equal(forks.length, 3);
  for (const f of forks) assert.ok(f instanceof Sandbox, String(f));
  const ids = new Set([parent.sandboxId, ...forks.map((f) => f.sandboxId)]);
  assert.equal(ids.size, 4);
  const tokens = new Set([parent.envdAccessToken, ...forks.map((f) => f.envdAccessToken)]);
  assert.equal(tokens.size, 4, 'every fork has a token of its own');
  await Promise.all(forks.map(async (f, i) => {
    assert.equal((await f.commands.run('cat /root/who')).stdout, 'parent\n');
    await f.commands.run(`echo fork${i} > /root/who`);
    const info = await f.getInfo();
    const left = info.endAt.getTime() - Date.now();
    assert.ok(left > 30_000 && left <= 61_000, `fork ends in ${left} ms`);
  }));
  assert.equal((await parent.commands.run('cat /root/who')).stdout, 'parent\n');
  // A fork's token does not open the parent's envd.
  const res = await fetch(`http://127.0.0.1:${fkdInfo.envdPort}/process.Process/List`, {
    method: 'POST',
    headers: { 'E2b-Sandbox-Id': parent.sandboxId, 'X-Access-Token': forks[0].envdAccessToken,
      'Content-Type': 'application/json' },
    body: '{}',
  });
  assert.equal(res.status, 401);
  await Promise.all([parent, ...forks].map((s) => s.kill()));
});
