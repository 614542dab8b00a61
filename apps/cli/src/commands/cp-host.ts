// The host side of `axo cp`, held by descriptor. A session's workdir is a host directory its
// container changes at will: it can plant a link there, or swap a directory for one between
// two of our calls. So a host path is resolved exactly once, one element at a time, each
// directory opened relative to its parent's descriptor with O_NOFOLLOW (`/proc/self/fd/N/name`
// is Node's stand-in for openat(2): the kernel resolves `name` in the directory N holds, not
// by its path). Everything after that — creating, opening, renaming — is done relative to the
// descriptor the walk ended on, so a later swap of any element cannot redirect it. A link met
// on the way is followed only when the LinkGuard allows it (cp-workdirs.ts: never one inside
// a session's workdir).
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { AxoError, InvalidInputError } from '@axo/podman-args/errors';

const { O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, S_IFMT } = constants;
/**
 * O_PATH (Linux; the same value on x86-64 and arm64): a descriptor that pins a directory for
 * lookups below it and needs no read permission on it, as path resolution needs none.
 */
export const O_PATH = 0o10000000;
/** Links followed in one path before giving up, as Linux does (ELOOP). */
const MAX_LINKS = 40;

/** The path of `name` inside the directory open as `dirFd` (the directory itself without a name). */
export const under = (dirFd: number, name = '') => `/proc/self/fd/${dirFd}/${name}`;

/**
 * Decides whether the link `name` in directory `dirFd` may be followed: resolves when it may,
 * throws (an AxoError saying why) when it may not.
 */
export type LinkGuard = (dirFd: number, name: string) => Promise<void>;

/** Where a walk stopped: directory `dirFd` (the caller closes it) and the element left in it, if any. */
interface Spot {
  readonly dirFd: number;
  readonly name?: string;
}

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;

/** A host error about `shown` (what the user typed), as fs would throw it, for `fileFailure`. */
function hostError(code: string, message: string, shown: string, syscall = 'open'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, ${syscall} '${shown}'`), { code, syscall, path: shown });
}

/** Rewrites an fs error about a `/proc/self/fd/N/…` path to name the user's path instead. */
export function shownAs(error: unknown, shown: string): unknown {
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.path === 'string' && e.path.startsWith('/proc/self/fd/')) {
    e.message = e.message.replace(`'${e.path}'`, `'${shown}'`);
    e.path = shown;
  }
  return error;
}

/** The entry `name` in `dirFd` as lstat sees it, or undefined when there is none. */
export function lstatAt(dirFd: number, name: string): Stats | undefined {
  try {
    return lstatSync(under(dirFd, name));
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** The entry was replaced between our look at it and our open of it. */
export function changedError(shown: string): AxoError {
  return new AxoError('CONFLICT', `${shown} was replaced while axo was copying it; the copy stopped there`, {
    hint: 'A session can change its workdir at any moment. Copy again once it is quiet, or from a path outside the workdir.',
  });
}

/**
 * Opens `name` in `dirFd` with `flags` and O_NOFOLLOW, and checks it is the very entry an
 * lstat of it described (same device, inode and type): never a link, never a swapped-in one.
 */
export function openSame(dirFd: number, name: string, flags: number, expected: Stats, shown: string): number {
  let fd: number;
  try {
    fd = openSync(under(dirFd, name), flags | O_NOFOLLOW);
  } catch (error) {
    // ENOTDIR/ELOOP: it is no longer what the lstat saw (a link, or no directory).
    if (['ENOTDIR', 'ELOOP', 'ENOENT'].includes(errnoOf(error) ?? '')) throw changedError(shown);
    throw shownAs(error, shown);
  }
  const st = fstatSync(fd);
  if (st.dev !== expected.dev || st.ino !== expected.ino || (st.mode & S_IFMT) !== (expected.mode & S_IFMT)) {
    closeSync(fd);
    throw changedError(shown);
  }
  return fd;
}

const openRoot = () => openSync('/', O_PATH | O_DIRECTORY);
/** A second descriptor of the directory `fd` holds. */
const dup = (fd: number) => openSync(under(fd), O_PATH | O_DIRECTORY);

/** Splits a path typed by the user; a trailing `/` (or `/.`) is remembered and dropped. */
function split(path: string): { start: number; parts: string[]; slash: boolean } {
  if (path === '') throw new InvalidInputError('path', 'a host path must not be empty');
  const parts = path.split('/');
  let slash = false;
  while (parts.length > 1 && (parts.at(-1) === '' || parts.at(-1) === '.')) {
    parts.pop();
    slash = true;
  }
  // A relative path starts at our working directory, which the kernel holds: no name to swap.
  return { start: path.startsWith('/') ? openRoot() : openSync('.', O_PATH | O_DIRECTORY), parts, slash };
}

/** Resolves host paths one element at a time, following links only where the guard allows. */
class Walker {
  private links = 0;

  constructor(
    private readonly guard: LinkGuard,
    private readonly shown: string,
  ) {}

  /**
   * The text of link `name` in `dirFd`, once the guard allowed following it. The kernel's
   * own rule for links in shared sticky directories (fs.protected_symlinks) applies too, as
   * the kernel is not the one following them here: such a link is followed only if it is
   * ours or the directory owner's.
   */
  private async follow(dirFd: number, name: string): Promise<string> {
    if (++this.links > MAX_LINKS) {
      throw hostError('ELOOP', 'too many levels of symbolic links', this.shown);
    }
    const link = lstatSync(under(dirFd, name));
    const dir = fstatSync(dirFd);
    if ((dir.mode & 0o1002) === 0o1002 && link.uid !== process.geteuid?.() && link.uid !== dir.uid) {
      throw hostError('EACCES', 'permission denied (a link of another user in a shared sticky directory)', this.shown);
    }
    await this.guard(dirFd, name);
    return readlinkSync(under(dirFd, name));
  }

  /**
   * Walks `parts` from directory `fd` (which it takes over) until one element is left:
   * every directory on the way is opened relative to the one before, never followed if it
   * is a link the guard refuses. `..` is the parent of the directory actually reached.
   */
  async walk(fd: number, parts: readonly string[]): Promise<Spot> {
    const queue = [...parts];
    try {
      for (;;) {
        const name = queue.shift();
        if (name === undefined) return { dirFd: fd };
        if (name === '' || name === '.') continue;
        if (name !== '..' && queue.length === 0) return { dirFd: fd, name };
        let next: number;
        try {
          next = openSync(under(fd, name), O_PATH | O_DIRECTORY | O_NOFOLLOW);
        } catch (error) {
          if (errnoOf(error) !== 'ENOTDIR') throw error;
          const st = lstatAt(fd, name);
          // A link then, a directory again or nothing now: something is swapping it under us.
          if (st === undefined || st.isDirectory()) throw changedError(this.shown);
          if (!st.isSymbolicLink()) throw error;
          const text = await this.follow(fd, name);
          queue.unshift(...text.split('/'));
          next = text.startsWith('/') ? openRoot() : dup(fd);
        }
        closeSync(fd);
        fd = next;
      }
    } catch (error) {
      closeSync(fd);
      throw shownAs(error, this.shown);
    }
  }

  /**
   * Follows the last element of `spot` while it is a link the guard allows. Returns a new
   * spot (the caller closes it; `spot` stays open) whose element is not a link, with its
   * lstat (undefined where nothing is), and `first`, the lstat of `spot`'s own element: one
   * look at each, so a swap between two looks cannot make them disagree.
   */
  async settle(spot: Spot): Promise<{ spot: Spot; st: Stats | undefined; first: Stats | undefined }> {
    let at: Spot = { ...spot, dirFd: dup(spot.dirFd) };
    let first: Stats | undefined;
    try {
      for (let hop = 0; ; hop++) {
        const st = at.name === undefined ? fstatSync(at.dirFd) : lstatAt(at.dirFd, at.name);
        if (hop === 0) first = st;
        if (!st?.isSymbolicLink()) return { spot: at, st, first };
        const text = await this.follow(at.dirFd, at.name as string);
        const from = text.startsWith('/') ? openRoot() : dup(at.dirFd);
        closeSync(at.dirFd);
        at = { dirFd: -1 };
        at = await this.walk(from, text.split('/'));
      }
    } catch (error) {
      if (at.dirFd >= 0) closeSync(at.dirFd);
      throw shownAs(error, this.shown);
    }
  }
}

/** Where a download goes on the host; the caller closes `dirFd`. */
export type Destination =
  /** An existing directory: the copy goes into it, under its own name. */
  | { readonly kind: 'into'; readonly dirFd: number }
  /** Entry `name` of `dirFd`: nothing yet, or a non-directory (a link's target was not one) to replace. */
  | {
      readonly kind: 'at';
      readonly dirFd: number;
      readonly name: string;
      readonly existing: Stats | undefined;
      /** The path ended in `/`. */
      readonly slash: boolean;
    };

/**
 * Resolves where a download to host path `path` goes, held by descriptor. A link on the
 * way — the last element too, when it names a directory — is followed only where `guard`
 * allows; a last element that is a link to anything else is the entry to replace.
 */
export async function resolveDestination(path: string, guard: LinkGuard): Promise<Destination> {
  const walker = new Walker(guard, path);
  const { start, parts, slash } = split(path);
  const spot = await walker.walk(start, parts);
  if (spot.name === undefined) return { kind: 'into', dirFd: spot.dirFd };
  try {
    const target = await walker.settle(spot);
    let dir: number | undefined;
    try {
      const { spot: at, st } = target;
      if (st?.isDirectory()) {
        dir = at.name === undefined ? dup(at.dirFd) : openSame(at.dirFd, at.name, O_PATH | O_DIRECTORY, st, path);
      }
    } finally {
      closeSync(target.spot.dirFd);
    }
    if (dir === undefined) return { kind: 'at', dirFd: spot.dirFd, name: spot.name, existing: target.first, slash };
    closeSync(spot.dirFd);
    return { kind: 'into', dirFd: dir };
  } catch (error) {
    closeSync(spot.dirFd);
    throw shownAs(error, path);
  }
}

/**
 * Opens host path `path` to read it: a regular file (O_NONBLOCK, so a FIFO swapped in can
 * never block us) or a directory, checked to be what its lstat said. A link on the way, the
 * last element too, is followed only where `guard` allows. The caller closes `fd`.
 */
export async function openSource(path: string, guard: LinkGuard): Promise<{ fd: number; st: Stats }> {
  const walker = new Walker(guard, path);
  const { start, parts, slash } = split(path);
  const spot = await walker.walk(start, parts);
  let found: Awaited<ReturnType<Walker['settle']>>;
  try {
    found = await walker.settle(spot);
  } finally {
    closeSync(spot.dirFd);
  }
  const { spot: at, st } = found;
  try {
    if (!st) throw hostError('ENOENT', 'no such file or directory', path);
    if (at.name === undefined) return { fd: openSync(under(at.dirFd), O_RDONLY | O_DIRECTORY), st };
    if (st.isDirectory()) return { fd: openSame(at.dirFd, at.name, O_RDONLY | O_DIRECTORY, st, path), st };
    if (slash) throw hostError('ENOTDIR', 'not a directory', path);
    if (st.isFile()) return { fd: openSame(at.dirFd, at.name, O_RDONLY | O_NONBLOCK, st, path), st };
    throw new InvalidInputError('src', `${path} is not a regular file or directory`);
  } finally {
    closeSync(at.dirFd);
  }
}
