import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { AxoError, shellJoin } from '@axo/podman-args';
import { execa } from 'execa';
import { z } from 'zod';
import { agentRunRoot } from './agent/paths';
import { INSTALL_HINT, PodmanError } from './errors';
import { openOutputSocket } from './output-socket';

/** The outcome of one podman invocation; a non-zero exit is data, not an exception. */
export interface PodmanResult {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface PodmanRunOptions {
  /** Kill the podman client after this long. */
  readonly timeoutMs?: number;
  readonly input?: string | Buffer;
}

export interface PodmanSpawnOptions {
  /** Pipe stdin (for input) or leave it closed. @default 'ignore' */
  readonly stdin?: 'pipe' | 'ignore';
  /**
   * Receives stdout as it arrives. The chunk is a view into a reused buffer: copy
   * what you keep. Return false to stop reading until `resume()` (backpressure).
   * Without it, stdout is discarded.
   */
  readonly onStdout?: (chunk: Buffer) => boolean | undefined;
  /** Receives stderr likewise; with `combined`, stderr goes to `onStdout` instead. */
  readonly onStderr?: (chunk: Buffer) => boolean | undefined;
  /** Send stderr to the same place as stdout (in arrival order). @default false */
  readonly combined?: boolean;
}

/** How a spawned podman process ended. */
export interface PodmanExit {
  readonly exitCode?: number | undefined;
  readonly signal?: string | undefined;
  /** Why it could not run or was killed (ENOENT when the binary is missing). */
  readonly cause?: unknown;
}

/** A running podman process: its stdin, a kill switch, and how it ends. */
export interface PodmanProcess {
  readonly stdin: Writable | null;
  /** Resolves (never rejects) once it has exited and all of its output was delivered. */
  readonly exited: Promise<PodmanExit>;
  kill(signal?: NodeJS.Signals): void;
  /** Reads output again after a callback returned false (one stream, or both). */
  resume(stream?: 'stdout' | 'stderr'): void;
}

/** The seam between axo and podman: tests swap the binary for a fault-injecting fake. */
export interface Podman {
  /** The binary that is run. */
  readonly binary: string;
  /** Runs podman to completion. Throws only when podman cannot be started at all. */
  run(args: readonly string[], options?: PodmanRunOptions): Promise<PodmanResult>;
  /** Starts podman with its output delivered to callbacks as it arrives. */
  spawn(args: readonly string[], options?: PodmanSpawnOptions): Promise<PodmanProcess>;
}

export interface PodmanOptions {
  /** Path or name of the podman binary. @default 'podman' */
  readonly binary?: string;
}

/** Validates the `podman` option every runtime function takes. */
export const podmanSeamSchema = z.custom<Podman | PodmanOptions>((v) => v === undefined || typeof v === 'object', {
  message: 'podman must be a Podman seam or { binary }',
});

/** True when `cause` says the podman binary does not exist. */
export function isMissingBinary(cause: unknown): boolean {
  return typeof cause === 'object' && cause !== null && (cause as { code?: unknown }).code === 'ENOENT';
}

/** Throws PODMAN_MISSING when `cause` says the binary does not exist. */
export function rethrowIfMissing(binary: string, cause: unknown): void {
  if (isMissingBinary(cause)) {
    throw new AxoError('PODMAN_MISSING', `podman was not found (tried "${binary}")`, { cause, hint: INSTALL_HINT });
  }
}

/**
 * The directory podman runs in: conmon creates a file named `oom` in its working directory
 * when a command in the container is OOM-killed, which would otherwise appear in the
 * user's current directory (their project). A private directory of ours under the run root
 * instead, checked on every call (the run root may be cleaned while a server runs); when it
 * cannot be had, podman runs where axo does, as before.
 */
function podmanCwd(): string | undefined {
  try {
    const dir = join(agentRunRoot(), '.podman');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const mine = st.isDirectory() && st.uid === (process.getuid?.() ?? st.uid);
    return mine ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a container runs: true or false, undefined when podman knows no such container. */
export async function containerRunning(podman: Podman, name: string): Promise<boolean | undefined> {
  const r = await podman.run(['container', 'inspect', '--format', '{{.State.Running}}', name], { timeoutMs: 30_000 });
  return r.exitCode === 0 ? r.stdout.trim() === 'true' : undefined;
}

/** Creates the default podman seam (execa), or returns `podman` when one is given. */
export function createPodman(podman: Podman | PodmanOptions = {}): Podman {
  if ('run' in podman) return podman;
  const binary = podman.binary ?? 'podman';
  return {
    binary,
    async run(args, options = {}) {
      const result = await execa(binary, args, {
        cwd: podmanCwd(),
        reject: false,
        stripFinalNewline: false,
        input: options.input,
        stdin: options.input === undefined ? 'ignore' : undefined,
        timeout: options.timeoutMs,
        forceKillAfterDelay: 1000,
      });
      rethrowIfMissing(binary, result.cause);
      return {
        command: shellJoin([binary, ...args]),
        exitCode: result.exitCode,
        signal: result.signal,
        stdout: result.stdout,
        stderr: result.stderr,
        timedOut: result.timedOut,
      };
    },
    async spawn(args, options = {}) {
      // node's spawn, not execa: the child's stdout and stderr are sockets we created.
      const out = await openOutputSocket((chunk) => options.onStdout?.(chunk));
      const err = options.combined ? out : await openOutputSocket((chunk) => options.onStderr?.(chunk));
      const child = spawn(binary, args, {
        cwd: podmanCwd(),
        stdio: [options.stdin ?? 'ignore', out.childEnd, err.childEnd],
      });
      // Our copies of the child's ends must close, or the readers never see the end.
      out.childEnd.destroy();
      err.childEnd.destroy();
      const exited = new Promise<PodmanExit>((resolve) => {
        child.once('error', (cause) => resolve({ exitCode: undefined, signal: undefined, cause }));
        child.once('exit', (code, signal) => resolve({ exitCode: code ?? undefined, signal: signal ?? undefined }));
      });
      const drained = Promise.all([out.drained, err.drained]).catch(() => undefined);
      // Output normally ends with the process; a stray grandchild holding the socket
      // open must not hold the caller forever. Only silence counts: a consumer that is
      // still reading slowly (backpressure) gets every byte.
      const done = exited.then(async (exit) => {
        let timer: NodeJS.Timeout | undefined;
        const stray = new Promise<void>((resolve) => {
          timer = setInterval(() => {
            if (Math.min(out.idleMs(), err.idleMs()) > 2000) resolve();
          }, 250);
        });
        await Promise.race([drained, stray]);
        clearInterval(timer);
        return exit;
      });
      return {
        stdin: child.stdin,
        exited: done,
        kill: (signal: NodeJS.Signals = 'SIGTERM') => {
          child.kill(signal);
        },
        resume: (stream?: 'stdout' | 'stderr') => {
          if (stream !== 'stderr') out.resume();
          if (stream !== 'stdout') err.resume();
        },
      };
    },
  };
}

/** Throws a PodmanError with `code` unless `result` is a success. */
export function assertOk(result: PodmanResult, code: PodmanError['code'], message: string, hint?: string): void {
  if (result.exitCode === 0) return;
  throw new PodmanError(code, message, { ...result, hint });
}
