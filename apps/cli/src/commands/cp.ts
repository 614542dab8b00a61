import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, futimesSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { basename, posix, resolve } from 'node:path';
import { InvalidInputError } from '@axo/podman-args/errors';
import { type AgentFiles, type FileEntry, FileError } from '@axo/runtime/agent';
import { EXIT } from '../exit-codes';
import { fileFailure, type Location, parseLocation, sessionFiles } from '../files-reach';
import { ReaderGoneError, writeAll } from '../io';
import { userOf } from '../reach';
import { type Destination, openSource, resolveDestination, under } from './cp-host';
import {
  downloadInto,
  downloadTree,
  fdChunks,
  type HostPlace,
  isPlainName,
  plainMode,
  uploadFd,
  uploadTree,
} from './cp-tree';
import { workdirGuard } from './cp-workdirs';

export interface CpOptions {
  /** Act as this user inside the session. @default the session's user */
  readonly user?: string;
}

type SessionSide = Extract<Location, { kind: 'session' }>;
type OtherSide = Exclude<Location, { kind: 'session' }>;

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = constants;

/**
 * `axo cp SRC DST`, the `podman cp` convention: `ID:PATH` is the session's side, `-` is
 * stdin or stdout (a single file), files and directories both ways. Everything goes through
 * the session's agent, acting as the session's user; bytes stream with backpressure. The
 * host path is resolved once and then held by descriptor (cp-host.ts); a link on it is
 * followed only outside every session's workdir (cp-workdirs.ts).
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
  if (entry.type !== 'dir' && entry.type !== 'file') {
    throw new InvalidInputError('src', `${src.path} is ${kindOf(entry)}: only files and directories can be copied`);
  }
  const dest = await resolveDestination(dst.path, workdirGuard());
  try {
    const place = placeFor(dst.path, dest, entry);
    if (entry.type === 'dir') await downloadTree(files, entry, place, user);
    else await downloadFile(files, entry, place, user);
  } finally {
    closeSync(dest.dirFd);
  }
  return EXIT.ok;
}

/**
 * Where a download goes: into an existing host directory under the source's name, or at
 * the path named. A directory goes only where nothing is yet; a file replaces what is there
 * (a link included, which is never written through).
 */
function placeFor(shown: string, dest: Destination, entry: FileEntry): HostPlace {
  if (dest.kind === 'into') {
    if (entry.name === '/') throw new InvalidInputError('dst', 'name a new directory to copy the session’s root into');
    if (!isPlainName(entry.name)) {
      throw new InvalidInputError('src', `the session named its file ${JSON.stringify(entry.name)}, not a plain name`);
    }
    return { dirFd: dest.dirFd, name: entry.name, shown: posix.join(shown, entry.name) };
  }
  if (entry.type === 'dir' && dest.existing) {
    throw new InvalidInputError('dst', `${shown} exists and is not a directory; a directory cannot be copied over it`);
  }
  if (entry.type === 'file' && dest.slash) {
    throw new InvalidInputError('dst', `directory ${shown} ${dest.existing ? 'is not a directory' : 'does not exist'}`);
  }
  return { dirFd: dest.dirFd, name: dest.name, shown };
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

/**
 * Downloads into a fresh temporary file next to the target (O_EXCL|O_NOFOLLOW, in the
 * directory the destination resolved to, by descriptor) and renames it over the target once
 * complete: a failed copy leaves nothing half-written, and a link at the target is
 * replaced, never written through.
 */
async function downloadFile(files: AgentFiles, entry: FileEntry, place: HostPlace, user: string | undefined) {
  const temp = under(place.dirFd, `.axo-cp-${randomBytes(6).toString('hex')}`);
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
  try {
    renameSync(temp, under(place.dirFd, place.name));
  } catch (error) {
    unlinkSync(temp);
    throw error;
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
  // The path the user named is followed (a link on it only outside every session's
  // workdir); inside a directory, host links are copied as links.
  const source = await openSource(src.path, workdirGuard());
  try {
    const { fd, st } = source;
    const target = existing?.type === 'dir' ? posix.join(existing.path, basename(resolve(src.path))) : dst.path;
    if (st.isDirectory()) {
      if (existing && existing.type !== 'dir') {
        throw new InvalidInputError('dst', `${dst.path} exists in the session and is not a directory`);
      }
      await uploadTree(files, fd, st, target, src.path, user);
    } else {
      await uploadFd(files, fd, target, st.mode, user);
    }
  } finally {
    closeSync(source.fd);
  }
  return EXIT.ok;
}
