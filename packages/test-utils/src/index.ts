import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

/** The local image scripts/setup-podman.sh builds from the host's static busybox. */
export const TEST_IMAGE = process.env.AXO_TEST_IMAGE ?? 'localhost/axo-test:busybox';
/** The mmdebstrap-built image (`setup-podman.sh --debian`) for tests needing apt-get. */
export const DEBIAN_TEST_IMAGE = process.env.AXO_TEST_DEBIAN_IMAGE ?? 'localhost/axo-test:debian';

/** Whether this run is CI, where real-podman tests must run and may not skip. */
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

export interface PodmanGate {
  readonly ok: boolean;
  readonly reason?: string;
}

function probe(image: string): string | undefined {
  const version = spawnSync('podman', ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) {
    return `podman is not usable (${version.error?.message ?? version.stderr.trim()}); run scripts/setup-podman.sh as root`;
  }
  const exists = spawnSync('podman', ['image', 'exists', image]);
  if (exists.status !== 0) return `image ${image} is missing; run scripts/setup-podman.sh as root`;
  return undefined;
}

/**
 * Decides whether real-podman tests can run. In CI a missing podman or image throws,
 * so the suite fails loudly; elsewhere the tests skip and the reason is printed.
 */
export function podmanGate(image: string = TEST_IMAGE): PodmanGate {
  const reason = probe(image);
  if (reason === undefined) return { ok: true };
  if (IN_CI) throw new Error(`real-podman tests cannot run in CI: ${reason}`);
  // biome-ignore lint/suspicious/noConsole: a skipped test must say why, where the runner shows it
  console.warn(`[axo] skipping real-podman tests: ${reason}`);
  return { ok: false, reason };
}

/** Runs podman synchronously and returns stdout; throws with stderr on failure. */
export function podman(args: readonly string[], input?: string): string {
  return execFileSync('podman', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs podman and returns the whole outcome, never throwing. */
export function podmanResult(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A unique owner id, so a test only ever sees and cleans its own containers. */
export function uniqueOwner(prefix = 'test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Removes every container carrying `label` (`key=value`), whatever state it is in. */
export function removeContainersByLabel(label: string): void {
  const ids = podman(['ps', '-aq', '--filter', `label=${label}`])
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) podmanResult(['rm', '-f', '-t', '0', ...ids]);
}

/** Names of the containers carrying `label`, sorted. */
export function containersByLabel(label: string): string[] {
  return podman(['ps', '-a', '--filter', `label=${label}`, '--format', '{{.Names}}'])
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** A fresh temporary directory (real path), removed by the returned disposer. */
export function tempDir(prefix = 'axo-test-'): { path: string; [Symbol.dispose](): void } {
  const path = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/** Forces a full garbage collection, so memory tests measure what is retained. */
export function forceGc(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/**
 * Bytes of JS heap and native buffers this process retains. Freed Buffer memory is
 * released by a background sweeper after collection, so this collects until two
 * readings agree rather than trusting the first.
 */
export async function retainedBytes(): Promise<number> {
  let previous = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 20; i++) {
    forceGc();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const m = process.memoryUsage();
    const now = m.heapUsed + m.external;
    if (Math.abs(previous - now) < 64 * 1024) return now;
    previous = now;
  }
  return previous;
}
