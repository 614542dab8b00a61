// The one part of @axo/devcontainer that touches the file system, kept off the pure main entry.
import { constants } from 'node:fs';
import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidInputError } from '@axo/podman-args';
import { DevcontainerError } from './error';
import { MAX_DEVCONTAINER_BYTES, tooLargeError } from './limits';
import { findDevcontainer } from './parse';
import type { BuildRequest, DevcontainerNote, DevcontainerRequest, IgnoredSetting, LifecycleCommand } from './types';

/** True when `path` is `root` or below it; both must already be real paths. */
function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}

const isMissing = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

const OUTSIDE_HINT = 'axo reads only files inside the repository; replace the link with the file itself.';

/**
 * Reads candidate `file` of repository `root` (a real path), or undefined when it does not
 * exist. The repository may be hostile, so: the file must be a regular file (a FIFO would
 * block, /dev/zero would never end), it must resolve inside the repository (a link to
 * ~/.config/… must not feed host files into a session), and no more than
 * MAX_DEVCONTAINER_BYTES + 1 bytes are read.
 */
async function readInside(root: string, file: string): Promise<string | undefined> {
  const path = join(root, file);
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) {
      throw new DevcontainerError(file, 1, 1, 'not a regular file', { hint: 'Make it a plain JSON file.' });
    }
    const real = await realpath(path);
    if (!isInside(root, real)) {
      throw new DevcontainerError(file, 1, 1, 'resolves outside the repository (a symbolic link?)', {
        hint: OUTSIDE_HINT,
      });
    }
    // The checks above named a path; this ties them to the file actually opened, should
    // the path have been swapped in between.
    const checked = await stat(real);
    if (checked.dev !== opened.dev || checked.ino !== opened.ino) {
      throw new DevcontainerError(file, 1, 1, 'changed while it was being read', { hint: 'Try again.' });
    }
    if (opened.size > MAX_DEVCONTAINER_BYTES) throw tooLargeError(file);
    // One byte more than the limit tells a file that grew since stat() from one that fits.
    const buffer = Buffer.alloc(Math.min(opened.size, MAX_DEVCONTAINER_BYTES) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) {
        if (length > MAX_DEVCONTAINER_BYTES) throw tooLargeError(file);
        break;
      }
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}

/**
 * Reads and parses the devcontainer.json of repository `dir`, if it has one. A missing
 * file means none; any other read error (permissions, say) is thrown, not ignored, and so
 * is a file that is not regular, lies outside the repository, or is over
 * MAX_DEVCONTAINER_BYTES (a DevcontainerError).
 */
export async function readDevcontainer(dir: string): Promise<DevcontainerRequest | undefined> {
  let root: string;
  try {
    root = await realpath(dir);
  } catch (error) {
    // As before: no directory, so no devcontainer.json.
    if (isMissing(error)) return undefined;
    throw error;
  }
  return findDevcontainer((file) => readInside(root, file));
}

/** Absolute real paths for a build, both checked to lie inside the repository. */
export interface ResolvedBuildPaths {
  /** The Dockerfile (a regular file). */
  readonly dockerfile: string;
  /** The build context (a directory). */
  readonly context: string;
}

async function resolveInside(
  root: string,
  configDir: string,
  field: 'build.dockerfile' | 'build.context',
  written: string,
  kind: 'file' | 'directory',
): Promise<string> {
  const fail = (why: string) =>
    new InvalidInputError(field, `${field} "${written}" ${why}`, {
      hint: 'Keep the Dockerfile and the build context inside the repository, without links that leave it.',
    });
  let real: string;
  try {
    real = await realpath(resolve(root, configDir, written));
  } catch (error) {
    if (isMissing(error)) throw fail(`does not exist (paths are relative to ${configDir})`);
    throw error;
  }
  // Only the as-written value is named: the real path outside could tell a remote user
  // about the host.
  if (!isInside(root, real)) throw fail('resolves outside the repository');
  const info = await stat(real);
  if (kind === 'file' ? !info.isFile() : !info.isDirectory()) throw fail(`is not a ${kind}`);
  return real;
}

/**
 * Resolves a build's Dockerfile and context against repository `repoDir`, following links,
 * and throws an InvalidInputError (code INVALID_INPUT) unless both lie inside it. Build with
 * the paths returned, not the ones written: those are the paths that were checked.
 */
export async function resolveBuildPaths(
  repoDir: string,
  request: Pick<BuildRequest, 'configDir' | 'dockerfile' | 'context'>,
): Promise<ResolvedBuildPaths> {
  const root = await realpath(repoDir);
  return {
    dockerfile: await resolveInside(root, request.configDir, 'build.dockerfile', request.dockerfile, 'file'),
    context: await resolveInside(root, request.configDir, 'build.context', request.context, 'directory'),
  };
}

/** One lifecycle command in the shape @axo/runtime's `lifecycle` option takes. */
export type SessionLifecycleCommand = { name?: string; command: string } | { name?: string; argv: string[] };

/** What a repository's devcontainer.json asks of a session, ready for SessionSandbox.start. */
export interface SessionRequest {
  /** The devcontainer.json read, relative to the repository. */
  readonly file: string | undefined;
  readonly image?: string;
  /** The build, with both paths resolved and checked to lie inside the repository. */
  readonly build?: {
    readonly dockerfile: string;
    readonly context: string;
    readonly args: Readonly<Record<string, string>>;
    readonly target?: string;
  };
  readonly ports: readonly number[];
  /** containerEnv, then remoteEnv on top (a null there unsets). */
  readonly env: Readonly<Record<string, string>>;
  /** remoteUser, else containerUser: the user commands, tasks and terminals run as. */
  readonly user?: string;
  readonly workspaceFolder?: string;
  readonly lifecycle: Record<
    'onCreate' | 'updateContent' | 'postCreate' | 'postStart' | 'postAttach',
    SessionLifecycleCommand[]
  >;
  /** Acted on, but not exactly as written (with lines). */
  readonly notes: readonly DevcontainerNote[];
  /** Not acted on, with why and where (initializeCommand is here: never run). */
  readonly notApplied: readonly IgnoredSetting[];
}

const lifecycleFor = (commands: readonly LifecycleCommand[]): SessionLifecycleCommand[] =>
  commands.map((c) =>
    c.argv !== undefined
      ? { ...(c.name !== undefined && { name: c.name }), argv: [...c.argv] }
      : { ...(c.name !== undefined && { name: c.name }), command: c.command },
  );

/**
 * Reads repository `dir`'s devcontainer.json (if any) into what a session start takes:
 * build paths resolved inside the repository (an escape is an InvalidInputError), both
 * environments merged, the effective user, and every lifecycle stage.
 */
export async function readSessionRequest(dir: string): Promise<SessionRequest | undefined> {
  const request = await readDevcontainer(dir);
  if (!request) return undefined;
  const build = request.build && {
    ...(await resolveBuildPaths(dir, request.build)),
    args: { ...request.build.args },
    ...(request.build.target !== undefined && { target: request.build.target }),
  };
  const env: Record<string, string> = { ...request.containerEnv };
  for (const [key, value] of Object.entries(request.remoteEnv)) {
    if (value === null) delete env[key];
    else env[key] = value;
  }
  const user = request.remoteUser ?? request.containerUser;
  const l = request.lifecycle;
  return {
    file: request.file,
    ...(request.image !== undefined && { image: request.image }),
    ...(build && { build }),
    ports: [...request.forwardPorts],
    env,
    ...(user !== undefined && { user }),
    ...(request.workspaceFolder !== undefined && { workspaceFolder: request.workspaceFolder }),
    lifecycle: {
      onCreate: lifecycleFor(l.onCreate),
      updateContent: lifecycleFor(l.updateContent),
      postCreate: lifecycleFor(l.postCreate),
      postStart: lifecycleFor(l.postStart),
      postAttach: lifecycleFor(l.postAttach),
    },
    notes: request.notes,
    notApplied: request.ignored,
  };
}
