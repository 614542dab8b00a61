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
