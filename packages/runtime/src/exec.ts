import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { envSchema, InvalidInputError, userSchema } from '@axo/podman-args';
import { z } from 'zod';
import type { ExecProcess, OutputSink, SpawnSpec } from './process';

const writableSchema = z.custom<Writable>(
  (v) => v instanceof Writable || (typeof v === 'object' && v !== null && typeof (v as Writable).write === 'function'),
  { message: 'must be a Writable stream' },
);

export const spawnOptionsSchema = z.strictObject({
  /** Kill the command and everything it started after this many milliseconds. */
  timeoutMs: z.number().int().positive().optional(),
  /** Give the command a stdin pipe (`process.stdin` of the result). @default false */
  stdin: z.boolean().default(false),
  /** Extra environment. @default {} */
  env: envSchema.default({}),
  /** Working directory inside the container. @default the session's workdir */
  cwd: z.string().optional(),
  /** User to run as (`name`, `uid` or `uid:gid`). @default the session's user */
  user: userSchema.optional(),
  /**
   * Take output through these instead of the streams: each gets a chunk that stays valid
   * until the promise it returns settles, and nothing more is read meanwhile (zero-copy
   * backpressure). See OutputSink.
   */
  sinks: z
    .strictObject({
      stdout: z.custom<OutputSink>((v) => typeof v === 'function').optional(),
      stderr: z.custom<OutputSink>((v) => typeof v === 'function').optional(),
    })
    .optional(),
});

export type SpawnOptions = z.input<typeof spawnOptionsSchema>;

export const execOptionsSchema = z.strictObject({
  /** Kill the command (inside the container too, with everything it started) after this many milliseconds. */
  timeoutMs: z.number().int().positive().optional(),
  /** Data for the command's stdin, streamed with backpressure. Without it, stdin is closed. */
  stdin: z.union([z.string(), z.instanceof(Buffer), z.instanceof(Uint8Array), z.instanceof(Readable)]).optional(),
  /** Extra environment. @default {} */
  env: envSchema.default({}),
  /** Working directory inside the container. */
  cwd: z.string().optional(),
  /** User to run as (`name`, `uid` or `uid:gid`). */
  user: userSchema.optional(),
  /**
   * Keep at most this many bytes of each of stdout and stderr; the rest is read and dropped.
   * 0 keeps nothing (with `onStdout`/`onStderr`, to only stream).
   */
  maxOutputBytes: z.number().int().min(0).optional(),
  /** `utf8` gives strings, `buffer` gives Buffers (binary-safe). @default 'utf8' */
  encoding: z.enum(['utf8', 'buffer']).default('utf8'),
  /** Aborting kills the command like a timeout does. */
  signal: z.instanceof(AbortSignal).optional(),
  /**
   * Write stdout here instead of collecting it, with backpressure: a slow Writable slows the
   * command. The Writable is not ended. If it fails (EPIPE), the command is killed.
   */
  stdout: writableSchema.optional(),
  /** Write stderr here instead of collecting it, likewise. */
  stderr: writableSchema.optional(),
  /**
   * Called with each stdout chunk as it arrives (output is still collected up to the cap).
   * A callback cannot push back: for large output, prefer `stdout`.
   */
  onStdout: z.custom<(chunk: Buffer) => void>((v) => typeof v === 'function').optional(),
  /** Called with each stderr chunk as it arrives. */
  onStderr: z.custom<(chunk: Buffer) => void>((v) => typeof v === 'function').optional(),
});

export type ExecOptions = z.input<typeof execOptionsSchema>;

/** What a command did. A non-zero exit code is a result, not an error. */
export interface ExecResult<T extends string | Buffer = string> {
  /** What the command printed (empty when it went to a `stdout` Writable). */
  readonly stdout: T;
  readonly stderr: T;
  /** The command's exit code; `null` when axo killed it (timeout or abort). */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** Output went past `maxOutputBytes` and was cut. */
  readonly truncated: boolean;
  readonly durationMs: number;
  /** Which path ran it. */
  readonly via: ExecProcess['via'];
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
    chunk.copy(this.#buf, this.size, 0, n);
    this.size += n;
  }
  value(): Buffer {
    return this.#buf.subarray(0, this.size);
  }
}

/** Turns validated spawn options into the spec both paths take. */
export function toSpawnSpec(
  argv: readonly string[],
  o: {
    env: Record<string, string>;
    cwd?: string | undefined;
    user?: string | undefined;
    timeoutMs?: number | undefined;
    sinks?: SpawnSpec['sinks'];
  },
  stdin: boolean,
  defaults: { cwd: string; user: string | undefined },
): SpawnSpec {
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new InvalidInputError('argv', 'Invalid argv: command must not be empty');
  }
  if (argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new InvalidInputError('argv', 'Invalid argv: command arguments must be strings without NUL characters');
  }
  return {
    argv,
    env: o.env,
    cwd: o.cwd ?? defaults.cwd,
    user: o.user ?? defaults.user,
    stdin,
    timeoutMs: o.timeoutMs,
    ...(o.sinks && { sinks: o.sinks }),
  };
}

/** Copies `from` into `to` with backpressure, without ending `to`; rejects when `to` fails. */
async function copyInto(from: Readable, to: Writable): Promise<void> {
  const failed = new Promise<never>((_, reject) => to.once('error', reject));
  failed.catch(() => undefined);
  for await (const chunk of from) {
    if (!to.write(chunk)) await Promise.race([once(to, 'drain'), failed]);
  }
}

/** Feeds the command's stdin; a command that stops reading is not an error. */
function feedStdin(proc: ExecProcess, input: NonNullable<z.output<typeof execOptionsSchema>['stdin']>): void {
  if (!proc.stdin) return;
  const source = input instanceof Readable ? input : Readable.from([Buffer.from(input)]);
  pipeline(source, proc.stdin).catch(() => undefined);
}

/** Runs a spawned command to completion: collects (or forwards) its output, handles abort. */
export async function collect(
  spawn: () => Promise<ExecProcess>,
  options: z.output<typeof execOptionsSchema>,
): Promise<ExecResult<string | Buffer>> {
  const o = options;
  const started = performance.now();
  const proc = await spawn();
  if (o.stdin !== undefined) feedStdin(proc, o.stdin);
  const onAbort = () => void proc.kill();
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const cap = o.maxOutputBytes ?? Number.POSITIVE_INFINITY;
  const out = new CappedSink(cap);
  const err = new CappedSink(cap);
  const drain = (stream: Readable, sink: CappedSink, to: Writable | undefined, cb?: (chunk: Buffer) => void) => {
    if (to) {
      return copyInto(stream, to).catch((error: unknown) => {
        // The destination failed (a closed pipe): stop the command, then report.
        stream.destroy();
        void proc.kill();
        throw error;
      });
    }
    return new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        sink.push(chunk);
        cb?.(chunk);
      });
      stream.once('end', resolve);
      stream.once('error', reject);
    });
  };
  try {
    const [exit] = await Promise.all([
      proc.exited,
      drain(proc.stdout, out, o.stdout, o.onStdout),
      drain(proc.stderr, err, o.stderr, o.onStderr),
    ]);
    const decode = (b: Buffer) => (o.encoding === 'buffer' ? b : b.toString('utf8'));
    return {
      stdout: decode(out.value()),
      stderr: decode(err.value()),
      exitCode: exit.exitCode,
      timedOut: exit.timedOut,
      aborted: exit.aborted,
      truncated: out.truncated || err.truncated,
      durationMs: Math.round(performance.now() - started),
      via: proc.via,
    };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
