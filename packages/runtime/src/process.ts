import type { Readable, Writable } from 'node:stream';

/** How a spawned command ended. */
export interface ExecExit {
  /** The exit code; for a command a signal ended, 128 + the signal's number; null when axo killed it. */
  readonly exitCode: number | null;
  /** The signal that ended it (`KILL`, `TERM`…), when one did. */
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly aborted: boolean;
}

/**
 * A command running in a session, with its output as streams. Output flows with
 * backpressure: a consumer that reads slowly slows the command down (its pipe fills)
 * instead of growing a buffer. Read both `stdout` and `stderr` (or destroy the one you do
 * not want): an unread stream eventually stops the command.
 */
export interface ExecProcess {
  /** Which path runs it: the session's agent, or a `podman exec` per command. */
  readonly via: 'agent' | 'podman-exec';
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** The command's stdin, when spawned with `stdin: true`; end it to send EOF. */
  readonly stdin: Writable | null;
  /** Resolves once the command has ended and all of its output was pushed. */
  readonly exited: Promise<ExecExit>;
  /** Kills the command and everything it started inside the container; resolves when it has ended. */
  kill(): Promise<void>;
}

/**
 * Receives output as it arrives, instead of the `stdout`/`stderr` streams (which then stay
 * empty). The chunk may be a view into memory that is reused once the returned promise
 * settles: write it out (or copy it) before resolving. Returning a promise pushes back:
 * nothing more is read until it settles, so the command slows to the sink's pace.
 */
export type OutputSink = (chunk: Buffer) => Promise<void> | undefined;

/** What every spawn takes, whichever path runs it. */
export interface SpawnSpec {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
  readonly user: string | undefined;
  readonly stdin: boolean;
  readonly timeoutMs: number | undefined;
  /** Deliver output to these instead of the streams (zero-copy, with backpressure). */
  readonly sinks?: { readonly stdout?: OutputSink; readonly stderr?: OutputSink };
  /** Bytes of each stream anyone will look at: a path may drop the rest at the source. */
  readonly outputLimit?: number;
}
