// Terminal benchmarks: an axo PtyTerminal against node-pty driving `podman exec -it`
// directly, interleaved in one run. Run: pnpm --filter @axo/pty bench [-- --reps N]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunArgs, containerName } from '@axo/podman-args';
import { loadNodePty, PtyTerminal } from '@axo/pty';

const IMAGE = process.env.AXO_TEST_IMAGE ?? 'localhost/axo-test:busybox';
const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 5;
const FLOOD_BYTES = 50_000_000;
const FLOOD = `head -c ${FLOOD_BYTES} /dev/zero | tr '\\0' x`;
const KEYS = 40;
const sessionId = `bench-pty-${process.pid}`;
const container = containerName(sessionId);
const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-')));
const nodePty = await loadNodePty();

interface Pty {
  onData(listener: (data: string) => void): unknown;
  write(data: string): void;
  readonly exited: Promise<unknown>;
  kill(): unknown;
}

const spawnAxo = async (command: string): Promise<Pty> => PtyTerminal.spawn({ container, command });
const spawnRaw = async (command: string): Promise<Pty> => {
  const p = nodePty.spawn('podman', ['exec', '-it', '--detach-keys=', container, 'sh', '-c', command], {
    name: 'xterm-256color',
    cols: 80,
    rows: 24,
  });
  const exited = new Promise((resolve) => p.onExit(resolve));
  return { onData: (l) => p.onData(l), write: (d) => p.write(d), exited, kill: () => p.kill() };
};

async function flood(spawn: (c: string) => Promise<Pty>): Promise<number> {
  const started = performance.now();
  const t = await spawn(FLOOD);
  let bytes = 0;
  t.onData((d) => {
    bytes += d.length;
  });
  await t.exited;
  if (bytes < FLOOD_BYTES) throw new Error(`flood delivered only ${bytes} bytes`);
  return FLOOD_BYTES / 1e6 / ((performance.now() - started) / 1000);
}

async function keystrokes(spawn: (c: string) => Promise<Pty>): Promise<number[]> {
  const t = await spawn('cat');
  let seen = '';
  let waiter: (() => void) | undefined;
  t.onData((d) => {
    seen += d;
    waiter?.();
  });
  await new Promise((r) => setTimeout(r, 300));
  const latencies: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    seen = '';
    const echoed = new Promise<void>((resolve) => {
      waiter = () => seen.includes(key) && resolve();
    });
    const t0 = performance.now();
    t.write(key);
    await echoed;
    latencies.push(performance.now() - t0);
  }
  t.kill();
  return latencies;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0] ?? 0, median: s[Math.floor(s.length / 2)] ?? 0, max: s.at(-1) ?? 0 };
};
const median = (xs: number[]) => stats(xs).median;

execFileSync('podman', buildRunArgs({ sessionId, owner: `bench-${process.pid}`, workdir, image: IMAGE }));
try {
  const axoRate: number[] = [];
  const rawRate: number[] = [];
  const axoKeys: number[] = [];
  const rawKeys: number[] = [];
  for (let i = 0; i < reps; i++) {
    axoRate.push(await flood(spawnAxo));
    rawRate.push(await flood(spawnRaw));
    axoKeys.push(median(await keystrokes(spawnAxo)));
    rawKeys.push(median(await keystrokes(spawnRaw)));
  }
  const a = stats(axoRate);
  const r = stats(rawRate);
  const ak = stats(axoKeys);
  const rk = stats(rawKeys);
  const f = (n: number, unit: string) => `${n.toFixed(1)} ${unit}`;
  process.stdout.write(
    `\n${reps} reps, interleaved; min / median / max\n\n| scenario | axo | node-pty + \`podman exec -it\` | ratio (median) | target |\n| --- | --- | --- | --- | --- |\n` +
      `| 50 MB flood throughput | ${f(a.min, 'MB/s')} / ${f(a.median, 'MB/s')} / ${f(a.max, 'MB/s')} | ${f(r.min, 'MB/s')} / ${f(r.median, 'MB/s')} / ${f(r.max, 'MB/s')} | ${(a.median / r.median).toFixed(2)}× | ≥ 0.8× |\n` +
      `| keystroke → echo p50 (${KEYS} keys) | ${f(ak.min, 'ms')} / ${f(ak.median, 'ms')} / ${f(ak.max, 'ms')} | ${f(rk.min, 'ms')} / ${f(rk.median, 'ms')} / ${f(rk.max, 'ms')} | ${(ak.median / rk.median).toFixed(2)}× | ≤ 1.2× |\n`,
  );
} finally {
  execFileSync('podman', ['rm', '-f', '-t', '0', container]);
  rmSync(workdir, { recursive: true, force: true });
}
