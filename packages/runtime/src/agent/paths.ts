// Where a session's agent socket and token live on the host. The layout (packages/agent
// README): <run root>/<session id>/token (host only) and …/s/ (mounted into the container,
// where the agent creates agent.sock). The path is derived from the session id alone, so a
// new `axo exec` process finds the socket without asking podman.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AxoError } from '@axo/podman-args/errors';

/** Name of the directory under a session's run dir that the container sees. */
export const SOCKET_DIR_NAME = 's';
export const SOCKET_NAME = 'agent.sock';
export const TOKEN_NAME = 'token';

/** This process's uid (0 where there is none). */
export function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/**
 * The directory that holds every session's run dir: `$AXO_RUN_DIR`, else `/run/axo` for
 * root, `$XDG_RUNTIME_DIR/axo` for other users, else `/tmp/axo-run-<uid>`.
 */
export function agentRunRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AXO_RUN_DIR) return env.AXO_RUN_DIR;
  const me = uid();
  if (me === 0) return '/run/axo';
  if (env.XDG_RUNTIME_DIR?.startsWith('/')) return join(env.XDG_RUNTIME_DIR, 'axo');
  return `/tmp/axo-run-${me}`;
}

/** The run dir of one session. */
export function sessionRunDir(sessionId: string, root: string = agentRunRoot()): string {
  return join(root, sessionId);
}

/** The host path of a session's agent socket. */
export function agentSocketPath(runDir: string): string {
  return join(runDir, SOCKET_DIR_NAME, SOCKET_NAME);
}

/**
 * Checks that `dir` is a real directory of ours that nobody else can enter; a shared
 * parent such as /tmp could otherwise hold a look-alike planted by another user.
 */
function assertPrivateDir(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.isSymbolicLink()) {
    throw new AxoError('START_FAILED', `${dir} is not a directory (a link or a file is in its place)`, {
      hint: 'Remove it, or point AXO_RUN_DIR at a private directory.',
    });
  }
  if (st.uid !== uid()) {
    throw new AxoError('START_FAILED', `${dir} belongs to uid ${st.uid}, not to this user`, {
      hint: 'Remove it, or point AXO_RUN_DIR at a private directory.',
    });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new AxoError('START_FAILED', `${dir} can be entered by other users (mode ${(st.mode & 0o777).toString(8)})`, {
      hint: `chmod 700 ${dir}, or point AXO_RUN_DIR at a private directory.`,
    });
  }
}

/** A session's fresh run dir, with its token; what `podman run` mounts. */
export interface PreparedRunDir {
  readonly dir: string;
  readonly socketDir: string;
  readonly tokenFile: string;
  readonly token: string;
}

/**
 * Creates a session's run dir from scratch (0700, a new 0600 token, an empty socket dir).
 * Any earlier dir of that session is replaced: call this only once no container of the
 * session exists, since a running one would lose its socket.
 */
export async function prepareRunDir(sessionId: string, root: string = agentRunRoot()): Promise<PreparedRunDir> {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  assertPrivateDir(root);
  const dir = sessionRunDir(sessionId, root);
  // Build beside the final name and rename into place, so the dir is never half made.
  const staging = `${dir}.new-${randomBytes(4).toString('hex')}`;
  await mkdir(join(staging, SOCKET_DIR_NAME), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('hex');
  await writeFile(join(staging, TOKEN_NAME), token, { mode: 0o600, flag: 'wx' });
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  return { dir, socketDir: join(dir, SOCKET_DIR_NAME), tokenFile: join(dir, TOKEN_NAME), token };
}

/** Reads a session's token; undefined when the session has no run dir. */
export async function readToken(runDir: string): Promise<string | undefined> {
  try {
    if (!(await lstat(join(runDir, TOKEN_NAME))).isFile()) return undefined;
  } catch {
    return undefined;
  }
  return readTokenSync(runDir);
}

/** Synchronous twin of readToken, for the CLI's fast path. */
export function readTokenSync(runDir: string): string | undefined {
  try {
    const fd = openSync(join(runDir, TOKEN_NAME), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const token = readFileSync(fd, 'utf8').trim();
      return /^[0-9a-f]{64}$/.test(token) ? token : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** Removes a session's run dir (links inside are removed, never followed). */
export async function removeRunDir(runDir: string): Promise<void> {
  await rm(runDir, { recursive: true, force: true }).catch(() => undefined);
}
