// Pausing a session freezes its container (podman pause: the cgroup freezer). Whether it is
// paused is kept where every axo process can read it for the cost of one stat, and where
// the container cannot touch it: a marker file in the session's host run dir. Any call
// that finds the marker resumes the session first, whichever process makes it.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AxoError } from '@axo/podman-args/errors';

const MARKER = 'paused';
const LOCK = 'pause.lock';

/** Runs podman with `args`; what pausing needs to know of the outcome. */
export type PodmanRun = (args: readonly string[]) => Promise<{ exitCode: number | undefined; stderr: string }>;

/** The default runner: the podman binary on PATH, no execa (this module is on `axo exec`'s path). */
export function runPodman(binary = 'podman'): PodmanRun {
  return (args) =>
    new Promise((resolve) => {
      execFile(binary, [...args], { timeout: 60_000 }, (error, _stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ exitCode: code, stderr: String(stderr) });
      });
    });
}

/** True when the session of `runDir` is marked paused. */
export function isPaused(runDir: string): boolean {
  return existsSync(join(runDir, MARKER));
}

/** When the session was paused (epoch ms), or undefined. */
export function pausedSince(runDir: string): number | undefined {
  try {
    const since = Number(JSON.parse(readFileSync(join(runDir, MARKER), 'utf8')).since);
    return Number.isFinite(since) ? since : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the session's pause lock (an atomic mkdir) while `fn` runs; a stale lock is broken. */
async function withLock<T>(runDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(runDir, LOCK);
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A holder that died (kill -9 mid-pause) leaves the lock: older than 30 s is stale.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 30_000) rmSync(lock, { recursive: true, force: true });
      if (i > 400) throw new AxoError('TIMEOUT', `session pause lock ${lock} is held for too long`);
      await sleep(25);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Freezes `container` and marks it paused (the marker first, so no call races into a frozen agent unwarned). */
export function pauseSession(runDir: string, container: string, run: PodmanRun): Promise<void> {
  return withLock(runDir, async () => {
    if (isPaused(runDir)) return;
    writeFileSync(join(runDir, MARKER), JSON.stringify({ since: Date.now() }), { mode: 0o600 });
    const r = await run(['pause', container]);
    if (r.exitCode !== 0) {
      rmSync(join(runDir, MARKER), { force: true });
      throw new AxoError('PODMAN_FAILED', `cannot pause ${container}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`, {
        hint: 'Rootless podman on cgroup v1 cannot pause (no freezer); see `axo doctor`.',
      });
    }
  });
}

/**
 * Thaws the session if it is marked paused; resolves with how long it was paused (0 when
 * it was not). Safe to call from several processes at once: one resumes, the others wait.
 */
export async function resumeIfPaused(runDir: string, container: string, run: PodmanRun): Promise<number> {
  if (!isPaused(runDir)) return 0;
  return withLock(runDir, async () => {
    if (!isPaused(runDir)) return 0;
    const since = pausedSince(runDir);
    const r = await run(['unpause', container]);
    // "not paused": someone unpaused it by hand; the marker is what was stale.
    if (r.exitCode !== 0 && !/not paused|state improper/i.test(r.stderr)) {
      const gone = /no such container|no container with/i.test(r.stderr);
      throw new AxoError(
        gone ? 'SESSION_ENDED' : 'PODMAN_FAILED',
        gone ? `session container ${container} is gone` : `cannot resume ${container}: ${r.stderr.trim()}`,
      );
    }
    rmSync(join(runDir, MARKER), { force: true });
    return since === undefined ? 0 : Date.now() - since;
  });
}

/**
 * Whether this process's podman can hold a container to cgroup limits and freeze it: root
 * can; rootless needs cgroup v2 (with delegation, which the in-force check then confirms).
 */
export function cgroupsDelegated(): boolean {
  return process.getuid?.() === 0 || existsSync('/sys/fs/cgroup/cgroup.controllers');
}

/**
 * Whether this host lets this user pause containers: root can, and rootless podman with
 * cgroup v2; rootless on cgroup v1 has no freezer for its containers.
 */
export function pauseSupport(): { readonly supported: boolean; readonly reason?: string } {
  if (cgroupsDelegated()) return { supported: true };
  return {
    supported: false,
    reason: 'rootless podman on a cgroup v1 host has no freezer for its containers (podman pause refuses)',
  };
}
