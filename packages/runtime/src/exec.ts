import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buildExecArgs, EXEC_TAG_ENV, envSchema, isContainerGone, parseInput, shellJoin } from '@axo/podman-args';
import { z } from 'zod';
import { PodmanError } from './errors';
import { newId } from './ids';
import { killTaggedUntilExit } from './kill';
import { type Podman, rethrowIfMissing } from './podman';

export const execOptionsSchema = z.strictObject({
  /** Kill the command (inside the container too) after this many milliseconds. */
  timeoutMs: z.number().int().positive().optional(),
  /** Data for the command's stdin. Without it, stdin is closed. */
  stdin: z.union([z.string(), z.instanceof(Buffer), z.instanceof(Uint8Array), z.instanceof(Readable)]).optional(),
  /** Extra environment. @default {} */
  env: envSchema.default({}),
  /** Working directory inside the container. @default the session's workdir */
  cwd: z.string().optional(),
  /** User to run as (`name`, `uid` or `uid:gid`). */
  user: z.string().optional(),
  /**
   * Keep at most this many bytes of each of stdout and stderr; the rest is read and dropped.
   * 0 keeps nothing (with `onStdout`/`onStderr`, to only stream).
   */
  maxOutputBytes: z.number().int().min(0).optional(),
  /** `utf8` gives strings, `buffer` gives Buffers (binary-safe). @default 'utf8' */
  encoding: z.enum(['utf8', 'buffer']).default('utf8'),
  /** Aborting kills the command like a timeout does. */
  signal: z.instanceof(AbortSignal).optional(),
  /** Called with each stdout chunk as it arrives (output is still collected up to the cap). */
  onStdout: z.custom<(chunk: Buffer) => void>((v) => typeof v === 'function').optional(),
  /** Called with each stderr chunk as it arrives. */
  onStderr: z.custom<(chunk: Buffer) => void>((v) => typeof v === 'function').optional(),
});

export type ExecOptions = z.input<typeof execOptionsSchema>;

/** What a command did. A non-zero exit code is a result, not an error. */
export interface ExecResult<T extends string | Buffer = string> {
  readonly stdout: T;
  readonly stderr: T;
  /** The command's exit code; `null` when axo killed it (timeout or abort). */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** Output went past `maxOutputBytes` and was cut. */
  readonly truncated: boolean;
  readonly durationMs: number;
}

/**
 * Collects output up to `cap` bytes in one buffer grown by doubling (never past the cap),
 * so the result is a view with no final copy: peak memory stays near 1.5x what is kept.
 */
class CappedSink {
  #buf = Buffer.alloc(0);
  size = 0;
  truncated = false;
  constructor(readonly cap: number) {}
  push(chunk: Buffer): void {
    const n = Math.min(this.cap - this.size, chunk.length);
    if (n < chunk.length) this.truncated = true;
    if (n <= 0) return;
    if (this.size + n > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.cap, Math.max(this.size + n, 64 * 1024, this.#buf.length * 2)));
      this.#buf.copy(grown, 0, 0, this.size);
      this.#buf = grown;
    }
    // Copy: the chunk is a view into a buffer the next read overwrites.
    chunk.copy(this.#buf, this.size, 0, n);
    this.size += n;
  }
  value(): Buffer {
    return this.#buf.subarray(0, this.size);
  }
}

/** Runs `argv` in `container` and collects its output. */
export async function execInContainer(
  podman: Podman,
  container: string,
  argv: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult<string | Buffer>> {
  const o = parseInput(execOptionsSchema, options, 'exec options');
  const started = performance.now();
  const tag = newId('x');
  const args = buildExecArgs(container, argv, {
    interactive: o.stdin !== undefined,
    env: { ...o.env, [EXEC_TAG_ENV]: tag },
    workdir: o.cwd,
    user: o.user,
  });
  const cap = o.maxOutputBytes ?? Number.POSITIVE_INFINITY;
  const out = new CappedSink(cap);
  const err = new CappedSink(cap);
  const child = await podman.spawn(args, {
    stdin: o.stdin === undefined ? 'ignore' : 'pipe',
    onStdout: (chunk) => {
      out.push(chunk);
      o.onStdout?.(Buffer.from(chunk));
    },
    onStderr: (chunk) => {
      err.push(chunk);
      o.onStderr?.(Buffer.from(chunk));
    },
  });

  if (o.stdin !== undefined && child.stdin) {
    const source = o.stdin instanceof Readable ? o.stdin : Readable.from([Buffer.from(o.stdin)]);
    // A command that exits without reading all of stdin closes the pipe: that is not an error.
    pipeline(source, child.stdin).catch(() => undefined);
  }

  let killedBy: 'timeout' | 'abort' | undefined;
  const finished = child.exited.then(() => undefined);
  const kill = async (reason: 'timeout' | 'abort') => {
    if (killedBy) return;
    killedBy = reason;
    await killTaggedUntilExit(podman, container, tag, finished, {
      user: o.user,
      killClient: () => child.kill('SIGKILL'),
    });
  };
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => void kill('timeout'), o.timeoutMs);
  const onAbort = () => void kill('abort');
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const result = await child.exited;
  if (timer) clearTimeout(timer);
  o.signal?.removeEventListener('abort', onAbort);
  rethrowIfMissing(podman.binary, result.cause);

  const stderr = err.value();
  if (!killedBy && result.exitCode === 125 && isContainerGone(stderr.toString('utf8'))) {
    throw new PodmanError('NOT_FOUND', `session container ${container} is not running`, {
      command: shellJoin(['podman', ...args]),
      exitCode: 125,
      signal: undefined,
      stderr: stderr.toString('utf8'),
      timedOut: false,
      hint: 'Start the session again (SessionSandbox.start) or check `podman ps -a`.',
    });
  }
  const decode = (b: Buffer) => (o.encoding === 'buffer' ? b : b.toString('utf8'));
  return {
    stdout: decode(out.value()),
    stderr: decode(stderr),
    exitCode: killedBy ? null : (result.exitCode ?? null),
    timedOut: killedBy === 'timeout',
    aborted: killedBy === 'abort',
    truncated: out.truncated || err.truncated,
    durationMs: Math.round(performance.now() - started),
  };
}
