import { isatty } from 'node:tty';
import { AxoError } from '@axo/podman-args/errors';
import { commandArgs, parseDuration, parseEnvPairs } from '../args';
import { EXIT } from '../exit-codes';
import { copyFdTo, ReaderGoneError, writeAll } from '../io';
import { spawnInSession } from '../reach';

export interface ExecOptions {
  readonly timeout?: string;
  readonly user?: string;
  readonly cwd?: string;
  readonly env: readonly string[];
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: EXIT.interrupted, SIGTERM: 143, SIGHUP: 129 };

/**
 * `axo exec <id> -- <cmd…>`: output goes straight to descriptors 1 and 2 at the pace of
 * whoever reads them (nothing piles up here), stdin comes from a pipe or file, and axo
 * exits with the command's code — 141 when the reader of its output left, after stopping
 * the command.
 */
export async function exec(id: string, rawArgv: readonly string[], o: ExecOptions): Promise<number> {
  const argv = commandArgs(rawArgv);
  if (argv.length === 0)
    throw new AxoError('INVALID_INPUT', 'no command given', { hint: 'axo exec <id> -- <command> [args…]' });
  const timeoutMs = o.timeout === undefined ? undefined : parseDuration(o.timeout);
  // Checked on the descriptor: touching process.stdin would start reading it.
  const forwardStdin = !isatty(0);
  let readerGone = false;
  // Any other write failure (a full disk behind `>`) stops the command and is reported.
  let writeFailed: unknown;
  let stop = () => {};
  const sink = (fd: number) => (chunk: Buffer) =>
    readerGone || writeFailed !== undefined
      ? undefined
      : writeAll(fd, chunk).catch((error: unknown) => {
          if (error instanceof ReaderGoneError) readerGone = true;
          else writeFailed = error;
          stop();
        });
  const proc = await spawnInSession(id, {
    argv,
    env: parseEnvPairs(o.env),
    cwd: o.cwd,
    user: o.user,
    stdin: forwardStdin,
    timeoutMs,
    sinks: { stdout: sink(1), stderr: sink(2) },
  });
  stop = () => void proc.kill();

  let signalled: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signalled ??= signal;
    stop();
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  const input = new AbortController();
  if (proc.stdin) void copyFdTo(0, proc.stdin, input.signal);
  try {
    const exit = await proc.exited;
    if (readerGone) return EXIT.readerGone;
    if (writeFailed !== undefined) throw writeFailed;
    if (exit.timedOut) {
      await writeAll(2, Buffer.from(`axo: command timed out after ${o.timeout} and was killed\n`)).catch(() => {});
      return EXIT.timeout;
    }
    if (signalled) return SIGNAL_EXIT[signalled] ?? EXIT.interrupted;
    return exit.exitCode ?? EXIT.failed;
  } finally {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    input.abort();
  }
}
