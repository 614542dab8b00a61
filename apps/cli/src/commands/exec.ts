import { AxoError } from '@axo/runtime';
import { loadSettings } from '../config';
import { EXIT } from '../exit-codes';
import { attachSession, commandArgs, parseDuration } from '../session';

export interface ExecOptions {
  readonly timeout?: string;
  readonly user?: string;
  readonly cwd?: string;
  readonly env: readonly string[];
}

/** `axo exec <id> -- <cmd…>`: streams output, pipes stdin from a pipe, exits with the command's code. */
export async function exec(id: string, rawArgv: readonly string[], o: ExecOptions): Promise<number> {
  const argv = commandArgs(rawArgv);
  if (argv.length === 0)
    throw new AxoError('INVALID_INPUT', 'no command given', { hint: 'axo exec <id> -- <command> [args…]' });
  const settings = await loadSettings();
  const sandbox = await attachSession(id, settings.owner);
  const env = Object.fromEntries(
    o.env.map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new AxoError('INVALID_INPUT', `--env "${pair}" must look like NAME=value`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await sandbox.exec(argv, {
      ...(o.timeout !== undefined && { timeoutMs: parseDuration(o.timeout) }),
      ...(process.stdin.isTTY ? {} : { stdin: process.stdin }),
      ...(o.user !== undefined && { user: o.user }),
      ...(o.cwd !== undefined && { cwd: o.cwd }),
      env,
      signal: controller.signal,
      // Output goes straight through; keep none of it in memory.
      maxOutputBytes: 0,
      onStdout: (chunk) => process.stdout.write(chunk),
      onStderr: (chunk) => process.stderr.write(chunk),
    });
    if (result.timedOut) {
      process.stderr.write(`axo: command timed out after ${o.timeout} and was killed\n`);
      return EXIT.timeout;
    }
    if (interrupted) return EXIT.interrupted;
    return result.exitCode ?? EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!process.stdin.isTTY) process.stdin.destroy();
  }
}
