import type { Readable, Writable } from 'node:stream';
import { AxoError } from '@axo/podman-args';
import { execa } from 'execa';
import { INSTALL_HINT, PodmanError } from './errors';

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
}

/** How a spawned podman process ended. */
export interface PodmanExit {
  readonly exitCode?: number | undefined;
  readonly signal?: string | undefined;
  /** Why it could not run or was killed (ENOENT when the binary is missing). */
  readonly cause?: unknown;
}

/** A running podman process: streams plus a promise of its end (never rejects). */
export interface PodmanProcess extends PromiseLike<PodmanExit> {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals): boolean;
}

/** The seam between axo and podman: tests swap the binary for a fault-injecting fake. */
export interface Podman {
  /** The binary that is run. */
  readonly binary: string;
  /** Runs podman to completion. Throws only when podman cannot be started at all. */
  run(args: readonly string[], options?: PodmanRunOptions): Promise<PodmanResult>;
  /** Starts podman with streamed, unbuffered output. */
  spawn(args: readonly string[], options?: PodmanSpawnOptions): PodmanProcess;
}

export interface PodmanOptions {
  /** Path or name of the podman binary. @default 'podman' */
  readonly binary?: string;
}

function commandLine(binary: string, args: readonly string[]): string {
  return [binary, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

function isMissingBinary(cause: unknown): boolean {
  return typeof cause === 'object' && cause !== null && (cause as { code?: unknown }).code === 'ENOENT';
}

/** Throws PODMAN_MISSING when `cause` says the binary does not exist. */
export function rethrowIfMissing(binary: string, cause: unknown): void {
  if (isMissingBinary(cause)) {
    throw new AxoError('PODMAN_MISSING', `podman was not found (tried "${binary}")`, { cause, hint: INSTALL_HINT });
  }
}

/** Creates the default podman seam (execa), or returns `podman` when one is given. */
export function createPodman(podman: Podman | PodmanOptions = {}): Podman {
  if ('run' in podman) return podman;
  const binary = podman.binary ?? 'podman';
  return {
    binary,
    async run(args, options = {}) {
      const result = await execa(binary, args, {
        reject: false,
        stripFinalNewline: false,
        input: options.input,
        stdin: options.input === undefined ? 'ignore' : undefined,
        timeout: options.timeoutMs,
        forceKillAfterDelay: 1000,
      });
      rethrowIfMissing(binary, result.cause);
      return {
        command: commandLine(binary, args),
        exitCode: result.exitCode,
        signal: result.signal,
        stdout: result.stdout,
        stderr: result.stderr,
        timedOut: result.timedOut,
      };
    },
    spawn(args, options = {}) {
      return execa(binary, args, {
        buffer: false,
        reject: false,
        stdin: options.stdin ?? 'ignore',
        encoding: 'buffer',
      });
    },
  };
}

/** Throws a PodmanError with `code` unless `result` is a success. */
export function assertOk(result: PodmanResult, code: PodmanError['code'], message: string, hint?: string): void {
  if (result.exitCode === 0) return;
  throw new PodmanError(code, message, { ...result, hint });
}
