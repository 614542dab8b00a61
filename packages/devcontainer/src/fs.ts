// The one part of @axo/devcontainer that touches the file system, kept off the pure main entry.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DevcontainerRequest, findDevcontainer } from './parse';

/**
 * Reads and parses the devcontainer.json of repository `dir`, if it has one. A missing
 * file means none; any other read error (permissions, say) is thrown, not ignored.
 */
export function readDevcontainer(dir: string): Promise<DevcontainerRequest | undefined> {
  return findDevcontainer((path) =>
    readFile(join(dir, path), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw error;
    }),
  );
}
