// The official E2B SDK against fkd's control plane beyond create and list (harness.mjs starts
// fkd): pause and connect (a file and a running process survive), the state filter, metrics,
// logs, auto-pause at the deadline, and fkd SIGKILLed under load and started again (every
// sandbox still listed and usable with its token, timers set before still fire).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, SandboxNotFoundError } from 'e2b';
import { useFkd, restartFkd, apiKey, fkdInfo } from './harness.mjs';

useFkd();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls f until it returns a truthy value, every 200 ms, for ms at most.
async function until(what, ms, f) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(200);
  }
}

// A sandbox's state as the control plane reports it, or 'gone'.
async function stateOf(id) {
  try {
    return (await Sandbox.getInfo(id)).state;
  } catch (e) {
    if (e instanceof SandboxNotFoundError) return 'gone';
    throw e;
  }
}

async function ids(state) {
  const p = Sandbox.list(state ? { query: { state } } : undefined);
  const out = [];
  while (p.hasNext) out.push(...(await p.nextItems()).map((s) => s.sandboxId));
  return out;
}

function api(path, init = {}) {
  return fetch(`http://127.0.0.1:${fkdInfo.apiPort}${path}`, {
    ...init,
    headers: { 'X-API-Key': apiKey, ...(init.headers ?? {}) },
  });
}

// A process that appends a line every 100 ms: frozen while paused, going again after.
async function ticker(sbx) {
  const h = await sbx.commands.run('while :; do echo t >> /tmp/ticks; sleep 0.1; done', {
    background: true,
  });
  await until('first tick', 5000, async () => (await lines(sbx)) > 0);
  return h.pid;
}
async function lines(sbx) {
  const r = await sbx.commands.run('cat /tmp/ticks 2>/dev/null | wc -l');
  return Number(r.stdout.trim());
}

let sbx;
test('pause, then Sandbox.connect and sbx.connect: the file and the process survive', async () => {
  sbx = await Sandbox.create('base', { timeoutMs: 120_000 });
  await sbx.files.write('/tmp/keep.txt', 'kept across a pause\n');
  const pid = await ticker(sbx);

  assert.equal(await sbx.pause(), true);
  assert.equal(await sbx.pause(), false, 'a second pause is a 409, which the SDK reads as false');
  assert.equal((await sbx.getInfo()).state, 'paused');
  assert.equal(await sbx.isRunning(), false, 'envd of a paused sandbox answers 502');

  // The state filter sees it as paused only.
  assert.ok((await ids(['paused'])).includes(sbx.sandboxId));
  assert.ok(!(await ids(['running'])).includes(sbx.sandboxId));
  assert.ok((await ids()).includes(sbx.sandboxId));
  await sleep(1000);

  const again = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 60_000 });
  assert.equal((await again.getInfo()).state, 'running');
  assert.equal(await again.files.read('/tmp/keep.txt'), 'kept across a pause\n');
  const r = await again.commands.run(`kill -0 ${pid} && echo alive`);
  assert.equal(r.stdout, 'alive\n');
  // Frozen means no tick while paused: the count goes on from where it stopped.
  const n0 = await lines(again);
  await until('ticks again after connect', 5000, async () => (await lines(again)) > n0);

  // The instance method, and connect of a running sandbox (200) changes nothing.
  assert.equal(await sbx.pause(), true);
  await sbx.connect();
  assert.equal((await sbx.getInfo()).state, 'running');
  await sbx.connect();
  assert.equal((await sbx.commands.run(`kill -0 ${pid} && echo alive`)).stdout, 'alive\n');
});

test('pause with memory: false goes to disk; connect makes it again with its files and token', async () => {
  const box = await Sandbox.create('base', { timeoutMs: 120_000, metadata: { disk: 'yes' } });
  // Outside /dev/shm, which is not in a snapshot (docs/snapshots.md).
  await box.files.write('/root/on-disk.txt', 'kept on disk\n');
  await box.commands.run('rm -f /etc/motd; mkdir -p /opt/made && echo x > /opt/made/f');
  const bg = await box.commands.run('sleep 600', { background: true });
  const res = await api(`/sandboxes/${box.sandboxId}/pause`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"memory": false}',
  });
  assert.equal(res.status, 204, await res.text());
  assert.equal((await Sandbox.getInfo(box.sandboxId)).state, 'paused');
  assert.ok((await ids(['paused'])).includes(box.sandboxId));
  assert.equal(await box.isRunning(), false);
  // Paused again (to disk or not): a conflict.
  const twice = await api(`/sandboxes/${box.sandboxId}/pause`, { method: 'POST' });
  assert.equal(twice.status, 409);

  const back = await Sandbox.connect(box.sandboxId, { timeoutMs: 60_000 });
  assert.equal((await back.getInfo()).state, 'running');
  assert.deepEqual((await back.getInfo()).metadata, { disk: 'yes' });
  assert.equal(await back.files.read('/root/on-disk.txt'), 'kept on disk\n');
  assert.equal((await back.commands.run('cat /opt/made/f; test -e /etc/motd || echo gone')).stdout,
    'x\ngone\n');
  // Its processes did not come back (a cold start), and the old handle's token still works.
  assert.ok(!(await back.commands.list()).some((p) => p.pid === bg.pid && p.args.includes('600')));
  assert.equal((await box.commands.run('echo same token')).stdout, 'same token\n');
  await back.kill();
});

test('connect answers 201 when it resumed, 200 when running, with the envd token', async () => {
  const res = await api(`/v2/sandboxes/${sbx.sandboxId}/connect`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ timeout: 60 }),
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.sandboxID, sbx.sandboxId);
  assert.match(body.envdAccessToken, /^[0-9a-f]{48}$/);
  await sbx.pause();
  const res2 = await api(`/sandboxes/${sbx.sandboxId}/resume`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ timeout: 60 }),
  });
  assert.equal(res2.status, 201);
  assert.equal((await res2.json()).envdAccessToken, body.envdAccessToken);
  const res3 = await api(`/sandboxes/${sbx.sandboxId}/resume`, { method: 'POST' });
  assert.equal(res3.status, 409, 'resume of a running sandbox is a conflict');
  // Connect only extends: a shorter timeout leaves the later deadline.
  const end = (await sbx.getInfo()).endAt.getTime();
  await api(`/sandboxes/${sbx.sandboxId}/connect`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ timeout: 1 }),
  });
  assert.equal((await sbx.getInfo()).endAt.getTime(), end);
  // Refresh extends too.
  const ref = await api(`/sandboxes/${sbx.sandboxId}/refreshes`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ duration: 600 }),
  });
  assert.equal(ref.status, 204);
  const after = (await sbx.getInfo()).endAt.getTime();
  assert.ok(after > Date.now() + 590_000, `refresh moved the end to ${new Date(after)}`);
});

test('getMetrics: plausible CPU, memory and disk from the sandbox cgroup', async () => {
  await sbx.files.write('/tmp/blob', new Blob([new Uint8Array(4 << 20)]));
  await sbx.commands.run("timeout 5 sh -c 'while :; do :; done' >/dev/null 2>&1 &");
  const m = await sbx.getMetrics();
  assert.equal(m.length, 1);
  const x = m[0];
  assert.ok(x.timestamp instanceof Date && Math.abs(x.timestamp.getTime() - Date.now()) < 10_000);
  assert.ok(x.cpuCount > 0, `cpuCount ${x.cpuCount}`);
  assert.ok(x.cpuUsedPct > 0 && x.cpuUsedPct <= 100, `cpuUsedPct ${x.cpuUsedPct} (a busy loop runs)`);
  assert.ok(x.memUsed > 0 && x.memUsed <= x.memTotal, `memUsed ${x.memUsed} of ${x.memTotal}`);
  assert.ok(x.diskTotal > 0 && x.diskUsed >= 4 << 20 && x.diskUsed <= x.diskTotal,
    `diskUsed ${x.diskUsed} of ${x.diskTotal}`);
  // A range that holds now gives the sample, one in the past none.
  const now = Date.now();
  assert.equal((await sbx.getMetrics({ start: new Date(now - 60_000), end: new Date(now + 60_000) })).length, 1);
  assert.equal((await sbx.getMetrics({ start: new Date(now - 120_000), end: new Date(now - 60_000) })).length, 0);

  // The map form, and envd's own /metrics with the sandbox's token.
  const many = await (await api(`/sandboxes/metrics?sandbox_ids=${sbx.sandboxId},nosuchsandbox`)).json();
  assert.deepEqual(Object.keys(many.sandboxes), [sbx.sandboxId]);
  assert.ok(many.sandboxes[sbx.sandboxId].memTotal > 0);
  const info = await sbx.getInfo();
  const envd = await fetch(`http://127.0.0.1:${fkdInfo.envdPort}/metrics`, {
    headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49983' },
  });
  assert.equal(envd.status, 401, 'envd /metrics wants the access token');
  const detail = await (await api(`/sandboxes/${info.sandboxId}`)).json();
  const envd2 = await fetch(`http://127.0.0.1:${fkdInfo.envdPort}/metrics`, {
    headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': detail.envdAccessToken },
  });
  assert.equal(envd2.status, 200);
  const em = await envd2.json();
  assert.ok(em.mem_used > 0 && em.cpu_count > 0 && em.disk_total > 0);
});

test('logs: the lifecycle events, v1 and v2', async () => {
  const v1 = await (await api(`/sandboxes/${sbx.sandboxId}/logs`)).json();
  const events = v1.logEntries.map((e) => e.fields.event);
  for (const want of ['created', 'paused', 'resumed', 'timeout'])
    assert.ok(events.includes(want), `${want} in ${events}`);
  assert.equal(v1.logs.length, v1.logEntries.length);
  assert.ok(v1.logEntries.every((e) => !Number.isNaN(Date.parse(e.timestamp)) && e.level));
  const v2 = await (await api(`/v2/sandboxes/${sbx.sandboxId}/logs?direction=backward&limit=1`)).json();
  assert.equal(v2.logs.length, 1);
  assert.equal(v2.logs[0].message, v1.logEntries.at(-1).message);
  const later = await (await api(`/sandboxes/${sbx.sandboxId}/logs?start=${Date.now() + 60_000}`)).json();
  assert.equal(later.logEntries.length, 0);
  await sbx.kill();
});

test('autoPause: a short timeout pauses the sandbox; without it the sandbox is gone', async () => {
  const ap = await Sandbox.create('base', { lifecycle: { onTimeout: 'pause' } });
  const plain = await Sandbox.create('base');
  assert.equal((await ap.getInfo()).lifecycle?.onTimeout, 'pause');
  await ap.files.write('/tmp/keep.txt', 'still here');
  const pid = await ticker(ap);
  // The deadline moves earlier: the watchdog takes it at once.
  await ap.setTimeout(2000);
  await plain.setTimeout(2000);
  await until('auto-paused', 15_000, async () => (await stateOf(ap.sandboxId)) === 'paused');
  await until('killed', 15_000, async () => (await stateOf(plain.sandboxId)) === 'gone');
  // Paused past its deadline, it does not expire.
  await sleep(2500);
  assert.equal(await stateOf(ap.sandboxId), 'paused');
  const back = await Sandbox.connect(ap.sandboxId, { timeoutMs: 60_000 });
  assert.equal(await back.files.read('/tmp/keep.txt'), 'still here');
  assert.equal((await back.commands.run(`kill -0 ${pid} && echo alive`)).stdout, 'alive\n');
  const logs = await (await api(`/sandboxes/${ap.sandboxId}/logs`)).json();
  assert.ok(logs.logEntries.some((e) => e.fields.event === 'expired' && e.level === 'warn'));
  await back.kill();
});

test('fkd SIGKILLed under load and started again: sandboxes, tokens and timers survive', async () => {
  const boxes = await Promise.all(Array.from({ length: 6 }, () => Sandbox.create('base', { timeoutMs: 300_000 })));
  await Promise.all(boxes.map((b, i) => b.files.write('/tmp/mine', `box ${i}`)));
  // Timers set before the kill: one auto-pauses, one is killed, 4 s from now.
  const ap = await Sandbox.create('base', { lifecycle: { onTimeout: 'pause' } });
  const plain = await Sandbox.create('base');
  await ap.setTimeout(4000);
  await plain.setTimeout(4000);
  const setAt = Date.now();

  // Work in flight when fkd dies: commands and file writes; they may fail, fkd must not care.
  // Settled as they go: a call that fails before the restart is over is no unhandled rejection.
  const inflight = Promise.allSettled(boxes.flatMap((b, i) => [
    b.commands.run('sleep 1; echo done', { timeoutMs: 10_000 }),
    b.files.write(`/tmp/flight-${i}`, new Blob([new Uint8Array(1 << 20)])),
    b.commands.run(`for j in $(seq 50); do echo $j >> /tmp/count; done`),
  ]));
  await sleep(150);
  await restartFkd('SIGKILL');
  await inflight;

  // The timers have not fired yet: they fire after the restart.
  assert.equal(await stateOf(ap.sandboxId), 'running');
  assert.equal(await stateOf(plain.sandboxId), 'running');
  const listed = await ids();
  for (const b of [...boxes, ap]) assert.ok(listed.includes(b.sandboxId), `${b.sandboxId} listed`);
  // Usable with their tokens: the handles from before the restart, and new ones by connect.
  await Promise.all(boxes.map(async (b, i) => {
    assert.equal(await b.files.read('/tmp/mine'), `box ${i}`);
    assert.equal((await b.commands.run('echo ok')).stdout, 'ok\n');
    const c = await Sandbox.connect(b.sandboxId);
    assert.equal((await c.commands.run('cat /tmp/mine')).stdout, `box ${i}`);
  }));
  // A token is still asked for.
  const res = await fetch(`http://127.0.0.1:${fkdInfo.envdPort}/health`, {
    headers: { 'E2b-Sandbox-Id': boxes[0].sandboxId },
  });
  assert.equal(res.status, 204);
  const bad = await fetch(`http://127.0.0.1:${fkdInfo.envdPort}/metrics`, {
    headers: { 'E2b-Sandbox-Id': boxes[0].sandboxId, 'X-Access-Token': 'wrong' },
  });
  assert.equal(bad.status, 401);

  // The timers set before the kill fire after it.
  await until('auto-paused after the restart', 20_000, async () => (await stateOf(ap.sandboxId)) === 'paused');
  await until('killed after the restart', 20_000, async () => (await stateOf(plain.sandboxId)) === 'gone');
  // Deadlines are whole seconds: 4 s from now is at most 1 s less.
  assert.ok(Date.now() - setAt >= 2900, 'not before the deadline');
  await Promise.all([...boxes, ap].map((b) => b.kill()));
});
