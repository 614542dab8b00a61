import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The token in use, and whether it was created just now (it is printed only then). */
export interface ResolvedToken {
  readonly token: string;
  readonly created: boolean;
  readonly file: string | undefined;
}

/** Uses the configured token, else the stored one, else generates one into a 0600 file. */
export async function resolveToken(configured: string | undefined, stateDir: string): Promise<ResolvedToken> {
  if (configured) return { token: configured, created: false, file: undefined };
  const file = join(stateDir, 'token');
  try {
    const stored = (await readFile(file, 'utf8')).trim();
    if (stored.length >= 16) return { token: stored, created: false, file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await chmod(file, 0o600);
  return { token: (await readFile(file, 'utf8')).trim(), created: true, file };
}

/**
 * Compares a presented secret with the real one in constant time: the operator token, and
 * the E2B façade's access tokens and file-URL signatures.
 */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  // Hashing first gives equal lengths, so timingSafeEqual never leaks the length.
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
