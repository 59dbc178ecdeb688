// bench/fkd_sdk.mjs: the SDK side of `fk bench fkd' (bench/fkdbench.h): the official E2B SDK
// drives fkd on loopback (E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY set by the caller) and this
// prints one JSON array of trace samples on stdout, each {metric, kind, unit, value, tags}.
//
//   node fkd_sdk.mjs SDK_DIR PHASE TEMPLATE ITERATIONS CREATES LEVELS REPEATS FKD_PID
//
// SDK_DIR holds node_modules/e2b (tests/e2b: the pinned version). PHASE is `warm' (fkd runs with
// a warm pool: creates only) or `cold' (no pool: creates, commands, files, density, fkd's
// memory with 100 sandboxes). Every sandbox made here is killed before the script ends.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const [sdkDir, phase, template, iterArg, createsArg, levelsArg, repeatsArg, fkdPidArg] =
  process.argv.slice(2);
const { Sandbox } = createRequire(join(sdkDir, 'package.json'))('e2b');
const iterations = Number(iterArg);
const creates = Number(createsArg);
const levels = levelsArg.split(',').map(Number);
const repeats = Number(repeatsArg);
const fkdPid = Number(fkdPidArg);

const samples = [];
const made = [];
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function push(metric, value, unit, tags, side = 'sdk') {
  samples.push({ metric: `fkd.${side}.${metric}`, kind: 'LifecycleLatency', unit, value,
    tags: { side, ...tags } });
}

const ms = (metric, value, i, n, extra = {}, side = 'sdk') =>
  push(metric, value, 'Milliseconds', { repeat_index: String(i), repeat_count: String(n), ...extra },
    side);

// commands.run('true') without the SDK: the same Start request (one Connect envelope, the
// SDK's headers) with fetch, its response read to the end-of-stream message. What it takes
// beside the SDK's figure is the SDK's own work; beside the library's, fkd's and HTTP's.
async function rawRunTrue(sbx) {
  const body = Buffer.from(JSON.stringify({ process: { cmd: '/bin/bash', args: ['-l', '-c', 'true'] },
    stdin: false }));
  const env = Buffer.alloc(5 + body.length);
  env.writeUInt32BE(body.length, 1);
  body.copy(env, 5);
  const res = await fetch(`${process.env.E2B_SANDBOX_URL}/process.Process/Start`, {
    method: 'POST', body: env,
    headers: { 'Content-Type': 'application/connect+json', 'Connect-Protocol-Version': '1',
      'Connect-Timeout-Ms': '60000', 'Keepalive-Ping-Interval': '50',
      'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49983',
      'X-Access-Token': sbx.envdAccessToken },
  });
  const all = Buffer.from(await res.arrayBuffer()).toString();
  if (res.status !== 200 || !all.includes('"exited":true') || all.includes('"error"'))
    throw new Error(`raw Start: ${res.status} ${all}`);
}

// What fkd's create is asked in every sample: labels and a variable, as agent code sends them.
const createOpts = { metadata: { bench: 'fkd' }, envs: { BENCH: '1' }, timeoutMs: 300_000 };

async function timedCreates(label) {
  for (let i = 0; i < creates; i++) {
    // The pool refills within its refill delay and one create: let it, as between an agent's
    // creates, so each sample is one lease.
    await sleep(150);
    const t0 = now();
    const sbx = await Sandbox.create(template, createOpts);
    ms(label, now() - t0, i, creates);
    await sbx.kill();
  }
}

function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = status.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : NaN;
}

// fkd's share of the pages it maps (shared libraries' pages split among their users): PSS.
function pssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main() {
  if (phase === 'warm') {
    await timedCreates('create_warm_ms');
    return;
  }
  await timedCreates('create_cold_ms');

  const sbx = await Sandbox.create(template, createOpts);
  made.push(sbx);
  for (let i = 0; i < 3; i++) await sbx.commands.run('true');
  for (let i = 0; i < iterations; i++) {
    const t0 = now();
    const r = await sbx.commands.run('true');
    ms('run_true_ms', now() - t0, i, iterations);
    if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
  }
  for (let i = 0; i < iterations; i++) {
    const t0 = now();
    await rawRunTrue(sbx);
    ms('run_true_ms', now() - t0, i, iterations, {}, 'http');
  }

  const mib = randomBytes(1 << 20);
  for (let i = 0; i < Math.max(1, Math.floor(iterations / 4)); i++) {
    const t0 = now();
    await sbx.files.write('/tmp/bench-1mib', mib);
    const back = await sbx.files.read('/tmp/bench-1mib', { format: 'bytes' });
    ms('file_1mib_write_read_ms', now() - t0, i, Math.max(1, Math.floor(iterations / 4)));
    if (back.length !== mib.length) throw new Error(`read ${back.length} bytes back`);
  }

  // The reference's density pattern through the API: per level N commands begun at once in one
  // sandbox, each checked byte for byte, the slowest kept per repeat.
  for (const n of levels) {
    for (let i = 0; i < n; i++) await sbx.commands.run(`printf shell-pool-warm-c${n}-${i}`);
    for (let r = 0; r < repeats; r++) {
      const t0 = now();
      const ends = await Promise.all(Array.from({ length: n }, async (_, i) => {
        const want = `shell-pool-c${n}-r${r}-${i}`;
        const res = await sbx.commands.run(`printf ${want}`);
        if (res.stdout !== want) throw new Error(`stdout ${JSON.stringify(res.stdout)}, want ${want}`);
        return now() - t0;
      }));
      ms(`shell_pool_density_c${n}_ms`, Math.max(...ends), r, repeats, { level: String(n) });
    }
  }

  // fkd's own memory, idle and with 100 sandboxes it made.
  push('fkd_rss_idle_mib', rssMiB(fkdPid), 'Mebibytes', { sandboxes: String(made.length) });
  while (made.length < 100) {
    const batch = Math.min(10, 100 - made.length);
    made.push(...await Promise.all(Array.from({ length: batch }, () => Sandbox.create(template, createOpts))));
  }
  // Each one used once through envd, so fkd has served every one of them.
  await Promise.all(made.map((s) => s.commands.run('true')));
  push('fkd_rss_100_sandboxes_mib', rssMiB(fkdPid), 'Mebibytes', { sandboxes: String(made.length) });
  push('fkd_pss_100_sandboxes_mib', pssMiB(fkdPid), 'Mebibytes', { sandboxes: String(made.length) });
}

let failed = null;
try {
  await main();
} catch (e) {
  failed = e;
}
await Promise.all(made.map((s) => s.kill().catch(() => {})));
if (failed) {
  console.error(`fkd_sdk: ${failed.stack || failed}`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(samples) + '\n');
