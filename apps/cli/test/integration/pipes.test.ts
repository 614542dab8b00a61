// `axo exec` the way shell users run it: the built CLI behind real pipes (slow readers,
// `| head -1`, binary output, endless stdin) and under signals, on both exec paths.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const AXO = join(import.meta.dirname, '..', '..', 'dist', 'axo.js');
const gate = podmanGate();
const owner = uniqueOwner('pipes');
const home = tempDir('axo-pipes-home-');
const configFile = join(home.path, 'config.json');
writeFileSync(configFile, JSON.stringify({ defaultImage: TEST_IMAGE, owner }));
const env = { ...process.env, AXO_CONFIG: configFile, NO_COLOR: '1' };
afterAll(() => {
  removeContainersByLabel(`${LABELS.owner}=${owner}`);
  home[Symbol.dispose]();
});

/** Runs a bash script (pipelines, PIPESTATUS); `$AXO` runs the built CLI, also under /usr/bin/time. */
function bash(script: string, timeout = 60_000) {
  // GNU timeout signals its whole process group: a pipeline that hangs leaves no axo or
  // reader behind (spawnSync's own timeout would kill bash alone).
  const seconds = String(Math.max(1, Math.floor(timeout / 1000) - 2));
  const r = spawnSync('timeout', ['-k', '2', seconds, 'bash', '-c', `set -u; AXO="$AXO_NODE $AXO_JS"; ${script}`], {
    env: { ...env, AXO_NODE: process.execPath, AXO_JS: AXO },
    encoding: 'utf8',
    timeout,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function up(id: string, dir: string, agent: boolean) {
  const r = spawnSync(
    process.execPath,
    [AXO, 'up', dir, '--id', id, '--no-provision', '--json', ...(agent ? [] : ['--no-agent'])],
    { env, encoding: 'utf8', timeout: 120_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const countIn = (id: string, pattern: string) =>
  podman(['exec', `axo-ses-${id}`, 'sh', '-c', `ps -o args | grep -v grep | grep -c '${pattern}' || true`]).trim();

describe.skipIf(!gate.ok).each([
  ['the agent', true],
  ['podman exec', false],
] as const)('axo exec behind real pipes, via %s', (_via, agent) => {
  const dir = tempDir('axo-pipes-');
  const id = `${owner}-${agent ? 'a' : 'p'}`;
  beforeAll(() => {
    const r = up(id, dir.path, agent);
    expect(r.report.agent.status).toBe(agent ? 'running' : 'unavailable');
  });
  afterAll(() => dir[Symbol.dispose]());

  it('a reader that waits 3 s before reading still gets the last of 3,000,000 lines', () => {
    const r = bash(`$AXO exec ${id} -- seq 1 3000000 | (sleep 3; tail -1); echo "rc=\${PIPESTATUS[0]}"`);
    expect(r.stdout).toBe('3000000\nrc=0\n');
  });

  it('300 MB into a reader that sleeps 4 s: every byte arrives and the CLI stays under 100 MB', () => {
    const rss = join(dir.path, 'rss-out');
    const r = bash(
      `/usr/bin/time -o ${rss} -f %M $AXO exec ${id} -- head -c 300000000 /dev/zero | (sleep 4; wc -c); echo "rc=\${PIPESTATUS[0]}"`,
      120_000,
    );
    expect(r.stdout.trim()).toBe('300000000\nrc=0');
    const maxKb = Number(readFileSync(rss, 'utf8').trim().split('\n').at(-1));
    expect(maxKb).toBeLessThan(100 * 1024);
  });

  it('20 MB of random bytes come out unaltered, 20 times in a row', () => {
    const data = randomBytes(20 * 1024 * 1024);
    writeFileSync(join(dir.path, 'random.bin'), data);
    const want = createHash('sha256').update(data).digest('hex');
    const r = bash(
      `for i in $(seq 20); do $AXO exec ${id} -- cat random.bin | sha256sum | cut -d' ' -f1; done`,
      240_000,
    );
    expect(r.stdout.trim().split('\n')).toEqual(Array(20).fill(want));
  });

  it('| head -1 prints 1, exits 141 within 2 s, says nothing, and leaves no seq behind', () => {
    const r = bash(
      `s=$(date +%s%N); $AXO exec ${id} -- seq 1 100000000 2>${dir.path}/head-err | head -1; ` +
        `echo "rc=\${PIPESTATUS[0]} ms=$(( ($(date +%s%N) - s) / 1000000 ))"`,
    );
    const [first, status] = r.stdout.trim().split('\n');
    expect(first).toBe('1');
    const m = /rc=(\d+) ms=(\d+)/.exec(status ?? '');
    expect(Number(m?.[1])).toBe(141);
    expect(Number(m?.[2])).toBeLessThan(2000);
    expect(readFileSync(join(dir.path, 'head-err'), 'utf8')).toBe('');
    expect(countIn(id, 'seq 1 100000000')).toBe('0');
  });

  it('300 MB of stdin into a command that reads late: the count is exact and memory bounded', () => {
    const rss = join(dir.path, 'rss-in');
    const r = bash(
      `head -c 300000000 /dev/zero | /usr/bin/time -o ${rss} -f %M $AXO exec ${id} -- sh -c 'sleep 3; wc -c'`,
      120_000,
    );
    expect(r.stdout.trim()).toBe('300000000');
    expect(r.code).toBe(0);
    const maxKb = Number(readFileSync(rss, 'utf8').trim().split('\n').at(-1));
    expect(maxKb).toBeLessThan(100 * 1024);
  });

  it('stdin that never ends does not hold a command that does not read it', () => {
    const r = bash(
      `s=$(date +%s%N); $AXO exec ${id} -- sh -c 'exit 3' < /dev/zero; echo "rc=$? ms=$(( ($(date +%s%N) - s) / 1000000 ))"`,
    );
    const m = /rc=(\d+) ms=(\d+)/.exec(r.stdout);
    expect(Number(m?.[1])).toBe(3);
    expect(Number(m?.[2])).toBeLessThan(5000);
  });

  it('a command that stops reading stdin ends the copy, and axo exits with its code', () => {
    const r = bash(`yes | $AXO exec ${id} -- sh -c 'head -c 10 >/dev/null; exit 4'; echo "rc=\${PIPESTATUS[1]}"`);
    expect(r.stdout.trim()).toBe('rc=4');
  });

  it('Ctrl-C (SIGINT) stops the command in the session and exits 130', async () => {
    const child = spawn(process.execPath, [AXO, 'exec', id, '--', 'sleep', '102'], { env, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(countIn(id, 'sleep 102')).toBe('1');
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(130);
    expect(countIn(id, 'sleep 102')).toBe('0');
  });

  it.skipIf(!agent)('SIGKILL of the CLI still ends the command (the agent sees its reader go)', async () => {
    const child = spawn(process.execPath, [AXO, 'exec', id, '--', 'sleep', '103'], { env, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(countIn(id, 'sleep 103')).toBe('1');
    child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    expect(countIn(id, 'sleep 103')).toBe('0');
  });

  it('axo down from another shell ends a running exec with a clear message and exit 6', async () => {
    using other = tempDir('axo-pipes-down-');
    const doomed = `${id}-down`;
    up(doomed, other.path, agent);
    const child = spawn(process.execPath, [AXO, 'exec', doomed, '--', 'sleep', '100'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    await new Promise((r) => setTimeout(r, 1500));
    const down = spawnSync(process.execPath, [AXO, 'down', doomed], { env, encoding: 'utf8' });
    expect(down.status, down.stderr).toBe(0);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(6);
    expect(stderr).toMatch(new RegExp(`^error: session ${doomed} ended while the command ran`, 'm'));
    expect(stderr).not.toMatch(/podman|Error:/);
  });
});
