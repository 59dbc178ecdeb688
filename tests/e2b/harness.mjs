// The harness of the tests/e2b suites: each test file calls useFkd(), which starts fkd on free
// loopback ports with a fresh state dir and the `base' template (template.sh) before its tests,
// and stops it, with every sandbox it made, after them whatever happens. The SDK finds fkd
// through E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY, which useFkd() sets.
import { after, before } from 'node:test';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const FK = process.env.FK;
export const FKD = process.env.FKD;
export const stateDir = mkdtempSync('/tmp/fkd-e2b.');
export const apiKey = 'e2b_' + randomBytes(16).toString('hex');
let fkd = null;

// Every sandbox of the state dir force-removed, fkd killed, the state dir gone: also when the
// process ends some other way than through after().
function cleanup() {
  if (fkd && fkd.exitCode === null) fkd.kill('SIGKILL');
  fkd = null;
  try {
    const env = { ...process.env, FIRKIN_STATE_DIR: stateDir };
    const ids = execFileSync(FK, ['ls', '-q'], { env }).toString().split('\n').filter(Boolean);
    if (ids.length) execFileSync(FK, ['rm', '-f', ...ids], { env, stdio: 'ignore' });
  } catch {}
  rmSync(stateDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// fkd's address and ports, once useFkd()'s before() ran; restart() starts fkd again on the
// same ports and state dir (after the test stopped or killed it).
export const fkdInfo = { apiPort: 0, envdPort: 0, proc: null, extraArgs: [], restart: null };

// Starts fkd on the given ports (extra arguments appended); resolves once it listens.
async function startFkd(apiPort, envdPort, extraArgs) {
  const env = { ...process.env, FIRKIN_STATE_DIR: stateDir };
  fkd = spawn(FKD, ['--listen', `127.0.0.1:${apiPort}`, '--envd-listen', `127.0.0.1:${envdPort}`,
    '--api-key', apiKey, ...extraArgs], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const proc = fkd;
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { if (d.toString().includes('listening')) resolve(); });
    proc.on('exit', (code) => reject(new Error(`fkd exited with ${code}`)));
  });
  Object.assign(fkdInfo, { apiPort, envdPort, proc, extraArgs });
}

// Starts fkd before this file's tests (extra arguments appended) and stops it after them.
export function useFkd(extraArgs = []) {
  before(async () => {
    const env = { ...process.env, FIRKIN_STATE_DIR: stateDir };
    execFileSync(join(here, 'template.sh'), [FK], { env, stdio: 'ignore' });
    const apiPort = await freePort();
    const envdPort = await freePort();
    await startFkd(apiPort, envdPort, extraArgs);
    fkdInfo.restart = () => startFkd(apiPort, envdPort, extraArgs);
    process.env.E2B_API_URL = `http://127.0.0.1:${apiPort}`;
    process.env.E2B_SANDBOX_URL = `http://127.0.0.1:${envdPort}`;
    process.env.E2B_API_KEY = apiKey;
  });

  after(async () => {
    const proc = fkd;
    let died = null;
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
      // fkd ended before the tests did (a crash, a sanitizer's abort): say so, never wait for
      // an exit that already happened.
      died = `fkd ended during the tests (exit ${proc.exitCode}, signal ${proc.signalCode})`;
    } else if (proc) {
      const done = new Promise((resolve) => proc.on('exit', () => resolve(true)));
      proc.kill('SIGTERM');
      const timer = new Promise((resolve) => setTimeout(() => resolve(false), 30000).unref());
      if (!(await Promise.race([done, timer]))) {
        proc.kill('SIGKILL');
        died = 'fkd did not end within 30 s of SIGTERM';
      }
    }
    fkd = null;
    cleanup();
    if (died) throw new Error(died);
  });
}

// Kills the running fkd with signal (SIGKILL: nothing of it runs on) and starts a new one on
// the same ports and state dir, as a crash and a restart do.
export async function restartFkd(signal = 'SIGKILL') {
  const old = fkd;
  if (old && old.exitCode === null && old.signalCode === null) {
    const done = new Promise((resolve) => old.on('exit', resolve));
    old.kill(signal);
    await done;
  }
  fkd = null;
  await startFkd(fkdInfo.apiPort, fkdInfo.envdPort, fkdInfo.extraArgs ?? []);
}
