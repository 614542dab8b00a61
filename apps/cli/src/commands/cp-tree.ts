// Directory copies for `axo cp`, both directions, and the host-side file plumbing they share.
//
// Every host entry is reached through a descriptor of its parent (`/proc/self/fd/N/name`,
// see cp-host.ts), never by its path: a session's workdir is a host directory the container
// changes at will, so a name resolved twice may mean two different things.
//
// Downloading a tree must never write outside its destination, whatever the session put in
// it: entries come from the agent's listing (links listed, never followed), every name is
// checked to be one plain path element, the destination is a directory this process created
// (checked new and empty before anything is written into it or its mode is set), and
// everything below it is created relative to a descriptor of its parent with
// O_CREAT|O_EXCL|O_NOFOLLOW. A link in the tree is recreated as a link with its text;
// nothing is ever written through one.
//
// Uploading a tree reads only what it pinned: each directory is opened (O_NOFOLLOW) before
// the session can see anything of it, listed through that descriptor, and each entry is
// opened relative to it and checked to be the very one its lstat described. Host links are
// sent as links (their text), never followed.
import {
  closeSync,
  constants,
  fchmodSync,
  futimesSync,
  mkdirSync,
  openSync,
  read,
  readdirSync,
  readlinkSync,
  type Stats,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import { AxoError } from '@axo/podman-args/errors';
import type { AgentFiles, FileEntry } from '@axo/runtime/agent';
import { writeText } from '../io';
import { userOf } from '../reach';
import { changedError, lstatAt, openSame, shownAs, under } from './cp-host';

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;
/** Bytes per read from a host file: one agent frame. */
const CHUNK = 1024 * 1024;
/** The agent's listing depth limit. */
const MAX_DEPTH = 32;

const warn = (message: string) => writeText(2, `axo: ${message}\n`);

/** Permission bits that are safe to give a copy: never setuid, setgid or sticky. */
export const plainMode = (mode: number) => mode & 0o777;

/** A path element the host may create: not empty, `.`, `..`, and without `/` or NUL. */
export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** A host entry to create: `name` in the directory open as `dirFd`; `shown` names it in messages. */
export interface HostPlace {
  readonly dirFd: number;
  readonly name: string;
  readonly shown: string;
}

/** The entries of the directory open as `dirFd` (listed through the descriptor, not a path). */
const entriesOf = (dirFd: number) => readdirSync(under(dirFd));

/** One read(2) of `fd` into `buffer`; EAGAIN (a non-blocking stdin someone shares) waits as a blocking read would. */
async function readSome(fd: number, buffer: Buffer): Promise<number> {
  for (;;) {
    try {
      return await new Promise<number>((resolve, reject) =>
        read(fd, buffer, 0, buffer.length, null, (error, bytes) => (error ? reject(error) : resolve(bytes))),
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/**
 * Chunks of descriptor `fd` through two reused buffers: the next chunk is read while the
 * last one is being sent. AgentFiles.write hands a chunk to the kernel before it asks for
 * the next, so a buffer is refilled only once its bytes are gone; nothing piles up.
 */
export async function* fdChunks(fd: number): AsyncGenerator<Uint8Array> {
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)] as const;
  let pending = readSome(fd, buffers[0]);
  for (let i = 0; ; i++) {
    const n = await pending;
    if (n === 0) return;
    const current = buffers[i % 2] as Buffer;
    // Read ahead into the other buffer, whose chunk (i - 1) was already sent.
    pending = readSome(fd, buffers[(i + 1) % 2] as Buffer);
    // Awaited on the next turn; a consumer that stops first must not leave it unhandled.
    pending.catch(() => undefined);
    yield current.subarray(0, n);
  }
}

/** Streams a session file into host descriptor `fd`, at the disk's pace. */
export async function downloadInto(files: AgentFiles, path: string, fd: number, user?: string): Promise<FileEntry> {
  const { entry, stream } = await files.read(path, userOf(user));
  // `fd` is a regular file we just created: a synchronous write lands in the page cache at
  // once, where an asynchronous one per 64 KiB chunk cost a thread-pool round trip each
  // (1,600 of them for 100 MB) with the socket left unread meanwhile.
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    for (let at = 0; at < b.length; ) at += writeSync(fd, b, at, b.length - at);
  }
  return entry;
}

const mtimeOf = (entry: FileEntry) => new Date(entry.mtime);

/** Splits `entry.path` below `root` into plain names, or refuses an entry outside it. */
function relativeParts(root: string, entry: FileEntry): string[] {
  const prefix = root === '/' ? '/' : `${root}/`;
  const parts = entry.path.startsWith(prefix) ? entry.path.slice(prefix.length).split('/') : [];
  if (parts.length === 0 || !parts.every(isPlainName) || parts.at(-1) !== entry.name) {
    throw new AxoError(
      'AGENT_FAILED',
      `the session listed ${JSON.stringify(entry.path)}, which is not a plain path below ${root}`,
      {
        hint: 'Nothing was written for it. Container root can replace the agent; if nobody did, this is a bug.',
      },
    );
  }
  return parts;
}

const compareParts = (a: readonly string[], b: readonly string[]) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
};

interface OpenDir {
  readonly parts: readonly string[];
  readonly fd: number;
  readonly entry: FileEntry;
}

/** Gives a finished directory its mode and time, and closes it. */
function finishDir(dir: OpenDir): void {
  try {
    futimesSync(dir.fd, mtimeOf(dir.entry), mtimeOf(dir.entry));
    fchmodSync(dir.fd, plainMode(dir.entry.mode));
  } finally {
    closeSync(dir.fd);
  }
}

/**
 * Creates directory `name` in `dirFd` and opens it. What is then found at that name must be
 * a directory (not a link) and empty, or nothing is written into it and its mode and time
 * are never set: a session that swaps in a link, or a directory of its own, stops the copy.
 * (`dirFd` is pinned, so what can be found there is at worst another directory of the same
 * parent: inside the session's own workdir, never elsewhere on the host.)
 */
function makeDir(place: HostPlace): number {
  const at = under(place.dirFd, place.name);
  mkdirSync(at, { mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch {
    throw changedError(place.shown);
  }
  if (entriesOf(fd).length > 0) {
    closeSync(fd);
    throw changedError(place.shown);
  }
  return fd;
}

/**
 * Copies the session directory `root` (its entry, from a stat) to `dest`, which must not
 * exist yet: it is created here, so everything below it is ours. Returns the count of
 * entries written.
 */
export async function downloadTree(
  files: AgentFiles,
  root: FileEntry,
  dest: HostPlace,
  user?: string,
): Promise<number> {
  const as = userOf(user);
  const listing = await files.list(root.path, { depth: MAX_DEPTH, ...as });
  if (listing.truncated) {
    throw new AxoError('LIMIT', `${root.path} holds more than 100 000 entries; nothing was copied`, {
      hint: 'Copy its subdirectories one by one, or use `axo exec ID -- tar c DIR | tar x`.',
    });
  }
  const entries = listing.entries
    .map((entry) => ({ entry, parts: relativeParts(root.path, entry) }))
    .sort((a, b) => compareParts(a.parts, b.parts));
  let rootFd: number;
  try {
    rootFd = makeDir(dest);
  } catch (cause) {
    if (AxoError.isInstance(cause)) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    throw new AxoError(code === 'EEXIST' ? 'CONFLICT' : 'INVALID_INPUT', `cannot create ${dest.shown}: ${code}`, {
      cause,
      hint:
        code === 'EEXIST'
          ? 'A directory is copied only into a new destination (never merged into an existing one): remove it or name another.'
          : 'Its parent directory must exist.',
    });
  }
  const stack: OpenDir[] = [{ parts: [], fd: rootFd, entry: root }];
  let written = 0;
  try {
    for (const { entry, parts } of entries) {
      // Entries come sorted, so a directory's contents follow it: close what is finished.
      while (stack.length > 1 && compareParts((stack.at(-1) as OpenDir).parts, parts.slice(0, -1)) !== 0) {
        finishDir(stack.pop() as OpenDir);
      }
      const parent = stack.at(-1) as OpenDir;
      if (parent.parts.length !== parts.length - 1) {
        warn(`skipping ${entry.path}: its directory was not copied`);
        continue;
      }
      const at = under(parent.fd, entry.name);
      const shown = posix.join(dest.shown, ...parts);
      try {
        if (entry.type === 'dir') {
          stack.push({ parts, fd: makeDir({ dirFd: parent.fd, name: entry.name, shown }), entry });
          if (parts.length === MAX_DEPTH)
            warn(`${entry.path} is ${MAX_DEPTH} levels deep: what is below it was not copied`);
        } else if (entry.type === 'file') {
          const fd = openSync(at, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
          try {
            await downloadInto(files, entry.path, fd, user);
            futimesSync(fd, mtimeOf(entry), mtimeOf(entry));
            fchmodSync(fd, plainMode(entry.mode));
          } finally {
            closeSync(fd);
          }
        } else if (entry.type === 'symlink' && entry.symlinkTarget !== undefined) {
          // The link's text, as it was: it is never resolved here.
          symlinkSync(entry.symlinkTarget, at);
        } else {
          warn(
            `skipping ${entry.path}: ${entry.type === 'symlink' ? 'its link text cannot be read' : 'not a file, directory or link'}`,
          );
          continue;
        }
      } catch (error) {
        // EEXIST and the like: the session put something in a directory axo just made.
        throw shownAs(error, shown);
      }
      written++;
    }
  } finally {
    while (stack.length > 0) finishDir(stack.pop() as OpenDir);
  }
  return written;
}

/** Uploads the host file open as `fd` to `target`, with `mode`, at the session's pace. */
export async function uploadFd(
  files: AgentFiles,
  fd: number,
  target: string,
  mode: number,
  user?: string,
): Promise<void> {
  await files.write(target, fdChunks(fd), { mode: plainMode(mode), ...userOf(user) });
}

/**
 * Copies the host directory open as `rootFd` (`rootSt` its stat; `shown` its path, for
 * messages) to `target` in the session: host links are recreated as links (their text),
 * never followed. `target` is created, or merged into when it is already a directory.
 * Returns the count of entries written.
 */
export async function uploadTree(
  files: AgentFiles,
  rootFd: number,
  rootSt: Stats,
  target: string,
  shown: string,
  user?: string,
): Promise<number> {
  const as = userOf(user);
  const mkdir = async (path: string, mode: number) => {
    try {
      // Owner rwx while copying, so a read-only directory can still be filled.
      await files.mkdir(path, { mode: plainMode(mode) | 0o700, ...as });
    } catch (error) {
      if (!(AxoError.isInstance(error) && (error as { agentCode?: string }).agentCode === 'EXISTS')) throw error;
      const existing = await files.stat(path, as);
      if (existing.type !== 'dir') {
        throw new AxoError('CONFLICT', `${path} exists in the session and is not a directory (${existing.type})`);
      }
    }
  };
  let written = 0;
  const walk = async (dirFd: number, remote: string, shownDir: string): Promise<void> => {
    for (const name of entriesOf(dirFd).sort()) {
      const path = posix.join(shownDir, name);
      const to = posix.join(remote, name);
      const st = lstatAt(dirFd, name);
      if (!st) {
        warn(`skipping ${path}: it is gone`);
      } else if (st.isDirectory()) {
        // Pinned before the session hears of it: a swap after this cannot redirect the walk.
        const fd = openSame(dirFd, name, O_RDONLY | O_DIRECTORY, st, path);
        try {
          await mkdir(to, st.mode);
          written++;
          await walk(fd, to, path);
        } finally {
          closeSync(fd);
        }
      } else if (st.isFile()) {
        const fd = openSame(dirFd, name, O_RDONLY | O_NONBLOCK, st, path);
        try {
          await uploadFd(files, fd, to, st.mode, user);
        } finally {
          closeSync(fd);
        }
        written++;
      } else if (st.isSymbolicLink()) {
        let text: string;
        try {
          text = readlinkSync(under(dirFd, name));
        } catch {
          // EINVAL or ENOENT: no longer the link lstat saw.
          throw changedError(path);
        }
        await files.symlink(to, text, as);
        written++;
      } else warn(`skipping ${path}: not a file, directory or link`);
    }
  };
  await mkdir(target, rootSt.mode);
  await walk(rootFd, target, shown);
  return written;
}
