// Shared helpers for the benchmark suite: timing, statistics, formatting, and running a
// measurement in a fresh node process (so memory readings start from a clean heap).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { SessionSandbox } from '@axo/runtime';

export const IMAGE = process.env.AXO_TEST_IMAGE ?? 'localhost/axo-test:busybox';
export const REPS = Number(process.env.AXO_BENCH_REPS) || 5;

/** One line of BENCHMARKS.md. */
export interface Row {
  readonly scenario: string;
  readonly axo: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly target: string;
  readonly met: boolean | undefined;
}

export interface Scenario {
  readonly name: string;
  /** What is compared, for the report. */
  readonly compares: string;
  run(): Promise<Row[]>;
}

export const now = () => performance.now();
export async function time(fn: () => unknown): Promise<number> {
  const t = now();
  await fn();
  return now() - t;
}

export function stats(xs: readonly number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { min: s[0] ?? 0, median: at(0.5), p95: at(0.95), max: s.at(-1) ?? 0 };
}

export const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
export const spread = (xs: readonly number[], f: (x: number) => string) => {
  const s = stats(xs);
  return `${f(s.min)} / ${f(s.median)} / ${f(s.max)}`;
};

/** A row comparing two samples by their medians. */
export function ratioRow(
  scenario: string,
  axo: readonly number[],
  baseline: readonly number[],
  f: (x: number) => string,
  target: { text: string; max?: number; min?: number },
  baselineName = '',
): Row {
  const ratio = stats(axo).median / stats(baseline).median;
  const met =
    target.max !== undefined ? ratio <= target.max : target.min !== undefined ? ratio >= target.min : undefined;
  return {
    scenario,
    axo: spread(axo, f),
    baseline: `${baselineName ? `${baselineName}: ` : ''}${spread(baseline, f)}`,
    ratio: `${ratio.toFixed(2)}×`,
    target: target.text,
    met,
  };
}

/** Runs a command to completion, its stdout read and dropped by this process; resolves with its wall time. */
export function timedProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    child.stdout.resume();
    child.once('exit', (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`)),
    );
  });
}

/** The conmons of `podman exec` sessions of a container that are still alive. */
function execConmons(id: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8') !== 'conmon\n') continue;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const c = argv[argv.indexOf('-c') + 1];
      const u = argv[argv.indexOf('-u') + 1];
      if (c === id && u !== id) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/**
 * Waits (up to 5 s) until no `podman exec` session of the container with full id
 * `containerId` is left: their conmons outlive `podman exec` by up to a second, and would
 * otherwise be measured against whatever runs next. It spawns nothing: a fork of the
 * measuring process just before a measurement makes its heap copy-on-write.
 */
export async function settle(containerId: string): Promise<void> {
  const id = containerId;
  const deadline = performance.now() + 5000;
  while (execConmons(id) > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

export const podman = (args: string[]) =>
  execFileSync('podman', args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
export const execFileAsync = promisify(execFile);

/** Removes every container of a benchmark owner. */
export function cleanup(owner: string): void {
  execFileSync('sh', [
    '-c',
    `podman ps -aq --filter label=io.axo.owner=${owner} | xargs -r podman rm -f -t 0 >/dev/null`,
  ]);
}

/** Runs bench/child/<name>.ts in a fresh node process and returns its JSON answer. */
export async function inChild<T>(name: string, args: string[] = []): Promise<T> {
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', tsx, '--conditions=@axo/source', join(import.meta.dirname, 'child', `${name}.ts`), ...args],
    { maxBuffer: 1 << 24 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as T;
}

/**
 * Starts a long-lived child script (bench/child/<name>.ts) that answers each line written
 * to it with one JSON line: work that must not fork the measuring process runs there.
 */
export function helper<T>(name: string, args: string[] = []) {
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const child = spawn(
    process.execPath,
    ['--import', tsx, '--conditions=@axo/source', join(import.meta.dirname, 'child', `${name}.ts`), ...args],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async ask(line: string): Promise<T> {
      child.stdin.write(`${line}\n`);
      const next = await lines.next();
      if (next.done) throw new Error(`bench helper ${name} ended`);
      return JSON.parse(next.value) as T;
    },
    close(): void {
      child.stdin.end();
    },
  };
}

/** Samples this process's RSS every few milliseconds until stopped; returns the peak growth. */
export function rssSampler() {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return peak - base;
    },
  };
}

/** Runs `fn` with a fresh session over a temporary directory, cleaning both up after. */
export async function withSandbox<T>(prefix: string, fn: (sandbox: SessionSandbox) => Promise<T>): Promise<T> {
  const owner = `${prefix}-${process.pid}`;
  const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-')));
  try {
    const sandbox = await SessionSandbox.start({
      sessionId: `${owner}-s`,
      owner,
      workdir,
      policy: { defaultImage: IMAGE },
      provision: false,
    });
    await sandbox.exec(['true']);
    const result = await fn(sandbox);
    await sandbox.stop();
    return result;
  } finally {
    cleanup(owner);
    rmSync(workdir, { recursive: true, force: true });
  }
}
