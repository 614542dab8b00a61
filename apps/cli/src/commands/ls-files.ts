import { InvalidInputError } from '@axo/podman-args/errors';
import type { FileEntry } from '@axo/runtime/agent';
import { EXIT } from '../exit-codes';
import { fileFailure, sessionFiles } from '../files-reach';
import { ReaderGoneError, writeAll, writeText } from '../io';
import { userOf } from '../reach';

export interface LsFilesOptions {
  readonly depth?: string;
  readonly json?: boolean;
  readonly user?: string;
}

/** The depth flag: 1 to 32 levels, as the agent lists. */
export function parseDepth(text: string | undefined): number {
  if (text === undefined) return 1;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new InvalidInputError('depth', '--depth is a number from 1 to 32');
  return n;
}

/** One `ls -l`-like line per entry, columns aligned; names relative to the listed directory. */
export function formatEntries(entries: readonly FileEntry[], base: string): string {
  const prefix = base === '/' ? '/' : `${base}/`;
  const rows = entries.map((e) => [
    e.permissions,
    e.owner || String(e.uid),
    e.group || String(e.gid),
    String(e.size),
    // RFC 3339 in UTC, as the agent reports it: date and minutes.
    e.mtime.slice(0, 16).replace('T', ' '),
    (e.path.startsWith(prefix) ? e.path.slice(prefix.length) : e.path) +
      (e.symlinkTarget === undefined ? '' : ` -> ${e.symlinkTarget}`),
  ]);
  const widths = [1, 2, 3].map((i) => Math.max(0, ...rows.map((r) => (r[i] as string).length)));
  return rows
    .map(([perm, owner, group, size, time, name]) =>
      [
        perm,
        (owner as string).padEnd(widths[0] as number),
        (group as string).padEnd(widths[1] as number),
        (size as string).padStart(widths[2] as number),
        time,
        name,
      ].join(' '),
    )
    .join('\n');
}

/**
 * `axo ls-files ID [PATH]`: a session's directory (or one file) like `ls -l`, through its
 * agent as the session's user; `--depth` descends (links are listed, never followed).
 */
export async function lsFiles(id: string, path: string | undefined, o: LsFilesOptions): Promise<number> {
  const depth = parseDepth(o.depth);
  const as = userOf(o.user);
  try {
    const { files, first } = await sessionFiles(id);
    const target = await first(() => files.stat(path ?? '.', { follow: true, ...as }));
    const listing =
      target.type === 'dir' ? await files.list(target.path, { depth, ...as }) : { entries: [target], truncated: false };
    const out = o.json
      ? `${JSON.stringify({ path: target.path, entries: listing.entries, truncated: listing.truncated }, null, 2)}\n`
      : listing.entries.length === 0
        ? ''
        : `${formatEntries(listing.entries, target.type === 'dir' ? target.path : posixDir(target.path))}\n`;
    try {
      await writeAll(1, Buffer.from(out));
    } catch (error) {
      if (error instanceof ReaderGoneError) return EXIT.readerGone;
      throw error;
    }
    if (listing.truncated) {
      writeText(2, `axo: the listing stopped at 100 000 entries; list a subdirectory or a smaller --depth\n`);
    }
    return EXIT.ok;
  } catch (error) {
    return fileFailure(error);
  }
}

const posixDir = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';
