import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  futimesSync,
  openSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { InvalidInputError } from '@axo/podman-args/errors';
import { type AgentFiles, type FileEntry, FileError } from '@axo/runtime/agent';
import { EXIT } from '../exit-codes';
import { fileFailure, type Location, parseLocation, sessionFiles } from '../files-reach';
import { ReaderGoneError, writeAll } from '../io';
import { downloadInto, downloadTree, fdChunks, plainMode, under, uploadFile, uploadTree } from './cp-tree';

export interface CpOptions {
  /** Act as this user inside the session. @default the session's user */
  readonly user?: string;
}

type SessionSide = Extract<Location, { kind: 'session' }>;
type OtherSide = Exclude<Location, { kind: 'session' }>;

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;

/**
 * `axo cp SRC DST`, the `podman cp` convention: `ID:PATH` is the session's side, `-` is
 * stdin or stdout (a single file), files and directories both ways. Everything goes through
 * the session's agent, acting as the session's user; bytes stream with backpressure.
 */
export async function cp(srcArg: string, dstArg: string, o: CpOptions): Promise<number> {
  const src = parseLocation(srcArg);
  const dst = parseLocation(dstArg);
  if (src.kind === 'session' && dst.kind === 'session') {
    throw new InvalidInputError('dst', 'both sides are in sessions; copy through the host instead');
  }
  try {
    if (src.kind === 'session') return await download(src, dst as OtherSide, o.user);
    if (dst.kind === 'session') return await upload(src as OtherSide, dst, o.user);
  } catch (error) {
    return fileFailure(error);
  }
  throw new InvalidInputError('dst', 'one side must be a path in a session, written ID:PATH', {
    hint: 'axo cp ./notes.txt my-app-1a2b3c:/tmp/   or   axo cp my-app-1a2b3c:out.log -',
  });
}

/** What an entry is, in words ("a directory", "a FIFO"). */
function kindOf(entry: FileEntry): string {
  if (entry.type === 'dir') return 'a directory';
  if (entry.type !== 'other') return `a ${entry.type}`;
  const kinds: Record<string, string> = { p: 'a FIFO', s: 'a socket', c: 'a character device', b: 'a block device' };
  return kinds[entry.permissions[0] ?? ''] ?? 'not a regular file';
}

const userOf = (user: string | undefined) => (user === undefined ? {} : { user });

async function download(src: SessionSide, dst: OtherSide, user: string | undefined): Promise<number> {
  const { files, first } = await sessionFiles(src.session);
  // A link the user names is followed (inside the session, as that user); inside a
  // directory tree, links are copied as links.
  const entry = await first(() => files.stat(src.path, { follow: true, ...userOf(user) }));
  if (dst.kind === 'stdio') {
    if (entry.type !== 'file') {
      throw new InvalidInputError(
        'src',
        `${src.path} is ${kindOf(entry)}: only a single regular file can go to stdout`,
        {
          hint: `Copy it to a host directory instead, or: axo exec ${src.session} -- tar c ${src.path} | tar x`,
        },
      );
    }
    return toStdout(files, entry.path, user);
  }
  if (entry.type === 'dir') {
    await downloadTree(files, entry, treeDestination(dst.path, entry), user);
    return EXIT.ok;
  }
  if (entry.type !== 'file') {
    throw new InvalidInputError('src', `${src.path} is ${kindOf(entry)}: only files and directories can be copied`);
  }
  await downloadFile(files, entry, fileDestination(dst.path, entry.name), user);
  return EXIT.ok;
}

/** A file to stdout at the reader's pace; a reader that leaves stops the read in the session. */
async function toStdout(files: AgentFiles, path: string, user: string | undefined): Promise<number> {
  const { stream } = await files.read(path, userOf(user));
  try {
    // Leaving the loop (EPIPE) destroys the stream, which closes the agent's connection.
    for await (const chunk of stream) await writeAll(1, chunk as Buffer);
  } catch (error) {
    if (error instanceof ReaderGoneError) return EXIT.readerGone;
    throw error;
  }
  return EXIT.ok;
}

/** Where a downloaded directory goes: into an existing host directory, or as a new one. */
function treeDestination(dst: string, entry: FileEntry): string {
  const st = statSync(dst, { throwIfNoEntry: false });
  if (!st) return dst;
  if (!st.isDirectory()) {
    throw new InvalidInputError('dst', `${dst} exists and is not a directory; a directory cannot be copied over it`);
  }
  if (entry.name === '/') throw new InvalidInputError('dst', 'name a new directory to copy the session’s root into');
  return join(dst, entry.name);
}

/** Where a downloaded file goes: into an existing host directory, or at `dst`. */
function fileDestination(dst: string, name: string): string {
  const st = statSync(dst, { throwIfNoEntry: false });
  if (st?.isDirectory()) return join(dst, name);
  if (!st && dst.endsWith('/')) throw new InvalidInputError('dst', `directory ${dst} does not exist`);
  return dst;
}

/**
 * Downloads into a fresh temporary file next to `target` (O_EXCL|O_NOFOLLOW) and renames
 * it over `target` once complete: a failed copy leaves nothing half-written, and a link at
 * `target` is replaced, never written through.
 */
async function downloadFile(files: AgentFiles, entry: FileEntry, target: string, user: string | undefined) {
  const dirFd = openSync(dirname(target), O_RDONLY | O_DIRECTORY);
  const temp = under(dirFd, `.axo-cp-${randomBytes(6).toString('hex')}`);
  try {
    const fd = openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      const read = await downloadInto(files, entry.path, fd, user);
      futimesSync(fd, new Date(read.mtime), new Date(read.mtime));
      fchmodSync(fd, plainMode(read.mode));
    } catch (error) {
      unlinkSync(temp);
      throw error;
    } finally {
      closeSync(fd);
    }
    renameSync(temp, under(dirFd, basename(target)));
  } finally {
    closeSync(dirFd);
  }
}

const isNotFound = (error: unknown) => FileError.isInstance(error) && error.agentCode === 'NOT_FOUND';

async function upload(src: OtherSide, dst: SessionSide, user: string | undefined): Promise<number> {
  const { files, first } = await sessionFiles(dst.session);
  const as = userOf(user);
  const existing = await first(() =>
    files.stat(dst.path, { follow: true, ...as }).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    }),
  );
  if (!existing && dst.path.endsWith('/')) {
    throw new InvalidInputError('dst', `directory ${dst.path} does not exist in session ${dst.session}`);
  }
  if (src.kind === 'stdio') {
    if (existing?.type === 'dir') {
      throw new InvalidInputError('dst', `${dst.path} is a directory: name the file to write stdin to`);
    }
    await files.write(dst.path, fdChunks(0), as);
    return EXIT.ok;
  }
  // The path the user named is followed; inside a directory, host links are copied as links.
  const real = realpathSync(src.path);
  const st = statSync(real);
  const target = existing?.type === 'dir' ? posix.join(existing.path, basename(resolve(src.path))) : dst.path;
  if (st.isDirectory()) {
    if (existing && existing.type !== 'dir') {
      throw new InvalidInputError('dst', `${dst.path} exists in the session and is not a directory`);
    }
    await uploadTree(files, real, target, user);
  } else if (st.isFile()) {
    await uploadFile(files, real, target, st.mode, user);
  } else {
    throw new InvalidInputError('src', `${src.path} is not a regular file or directory`);
  }
  return EXIT.ok;
}
