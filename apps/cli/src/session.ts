import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { AxoError, InvalidInputError, SessionSandbox } from '@axo/runtime';

/**
 * The session id `axo up` uses for a directory when none is given: its name plus a hash
 * of its real path, so two checkouts named alike never share a session.
 */
export function sessionIdFor(realDir: string): string {
  const name = (
    basename(realDir)
      .replace(/[^a-zA-Z0-9_.-]+/g, '-')
      .replace(/^[^a-zA-Z0-9]+/, '') || 'session'
  ).slice(0, 40);
  return `${name}-${createHash('sha256').update(realDir).digest('hex').slice(0, 6)}`;
}

/** Resolves a directory argument to its real path, with a clear error if it is not one. */
export async function realDirectory(dir: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch (cause) {
    throw new InvalidInputError('dir', `${dir} does not exist`, { cause });
  }
}

/** Parses durations like `500ms`, `30s`, `2m`, `1h` or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new InvalidInputError('timeout', `"${text}" is not a duration (try 500ms, 30s, 2m)`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const ms = value * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  if (ms < 1) throw new InvalidInputError('timeout', 'timeout must be at least 1ms');
  return Math.round(ms);
}

/** Drops the `--` that separates a command from axo's own options. */
export function commandArgs(argv: readonly string[]): string[] {
  return argv[0] === '--' ? argv.slice(1) : [...argv];
}

/** Attaches to a running session of this CLI's owner, with a hint in CLI terms. */
export async function attachSession(sessionId: string, owner: string): Promise<SessionSandbox> {
  try {
    return await SessionSandbox.attach({ sessionId, owner });
  } catch (error) {
    if (AxoError.isInstance(error) && error.code === 'NOT_FOUND') {
      throw new AxoError('NOT_FOUND', `no running session "${sessionId}"`, {
        cause: error,
        hint: '`axo ls` lists sessions; `axo up` starts one.',
      });
    }
    throw error;
  }
}
