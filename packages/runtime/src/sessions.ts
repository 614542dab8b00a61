import { lstat, readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  buildPsArgs,
  buildRmArgs,
  containerName,
  DEFAULT_OWNER,
  type GatewayContainer,
  gatewayName,
  type ManagedContainer,
  ownerIdSchema,
  parseGatewayContainers,
  parseInput,
  parseManagedContainers,
  sessionIdSchema,
} from '@axo/podman-args';
import { z } from 'zod';
import { isOurRunDir } from './agent/endpoint';
import {
  agentRunRoot,
  agentSocketPath,
  removeRunDir,
  SOCKET_DIR_NAME,
  sessionRunDir,
  TOKEN_NAME,
  uid,
} from './agent/paths';
import { assertOk, createPodman, type Podman, podmanSeamSchema } from './podman';

export const sessionsOptionsSchema = z.strictObject({
  /** @default 'default' */
  owner: ownerIdSchema.default(DEFAULT_OWNER),
  podman: podmanSeamSchema.optional(),
});

export type SessionsOptions = z.input<typeof sessionsOptionsSchema>;

/** The one query for our containers: by label, owner (and session), exact names only. */
export async function queryContainers(podman: Podman, owner: string, sessionId?: string): Promise<ManagedContainer[]> {
  return (await queryOwned(podman, owner, sessionId)).sessions;
}

/** Sessions and their egress gateways, from one `podman ps`. */
export async function queryOwned(
  podman: Podman,
  owner: string,
  sessionId?: string,
): Promise<{ sessions: ManagedContainer[]; gateways: GatewayContainer[] }> {
  const result = await podman.run(buildPsArgs({ owner, sessionId }), { timeoutMs: 60_000 });
  assertOk(result, 'PODMAN_FAILED', 'cannot list session containers');
  return {
    sessions: parseManagedContainers(result.stdout).filter((c) => c.owner === owner),
    gateways: parseGatewayContainers(result.stdout).filter((g) => g.owner === owner),
  };
}

/** Every session container of an owner, whatever its state, newest first. */
export async function listSessions(options: SessionsOptions = {}): Promise<ManagedContainer[]> {
  const o = parseInput(sessionsOptionsSchema, options, 'session options');
  const found = await queryContainers(createPodman(o.podman), o.owner);
  return found.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
}

/**
 * Removes the named sessions of an owner, running or not, in one parallel podman call.
 * Returns the ids that existed and were removed; ids of other owners are never touched.
 */
export async function removeSessions(sessionIds: readonly string[], options: SessionsOptions = {}): Promise<string[]> {
  const ids = sessionIds.map((id) => parseInput(sessionIdSchema, id, 'session id'));
  const o = parseInput(sessionsOptionsSchema, options, 'session options');
  const podman = createPodman(o.podman);
  const owned = await queryOwned(podman, o.owner);
  const existing = new Map(owned.sessions.map((c) => [c.sessionId, c]));
  const withGateway = new Set(owned.gateways.map((g) => g.sessionId));
  const targets = ids.filter((id) => existing.has(id) || withGateway.has(id));
  if (targets.length === 0) return [];
  // Each session with its egress gateway, when it has one.
  const names = targets.flatMap((id) => [
    ...(existing.has(id) ? [containerName(id)] : []),
    ...(withGateway.has(id) ? [gatewayName(id)] : []),
  ]);
  const result = await podman.run(buildRmArgs(names), { timeoutMs: 120_000 });
  assertOk(result, 'PODMAN_FAILED', `cannot remove ${targets.join(', ')}`);
  await removeRunDirs(targets.flatMap((id) => existing.get(id) ?? []));
  await removeGatewayRunDirs(targets.filter((id) => !existing.has(id)));
  return targets;
}

/** Removes the agent run dirs of removed containers: only the ones axo derives, never a labelled path elsewhere. */
export async function removeRunDirs(containers: readonly ManagedContainer[]): Promise<void> {
  await Promise.all(
    containers.filter((c) => isOurRunDir(c.sessionId, c.agentRunDir)).map((c) => removeRunDir(c.agentRunDir as string)),
  );
}

/** A run dir whose session has no container is left alone this long: a start makes it before the container. */
const STALE_RUN_DIR_MS = 10 * 60_000;

/** Whether an agent listens on `path` (a frozen one still accepts); a link is never followed. */
async function agentListens(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isSocket()) return false;
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (alive: boolean) => {
      socket.destroy();
      resolve(alive);
    };
    socket.once('connect', () => done(true));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(error.code !== 'ECONNREFUSED' && error.code !== 'ENOENT'),
    );
    socket.setTimeout(2000, () => done(true));
  });
}

/**
 * Removes the run dirs under this process's run root whose session has no container left,
 * of any owner (say it was removed with `podman rm` directly): its token and socket dir
 * would otherwise stay in /run until reboot. Only dirs that are axo's in every respect are
 * touched (a session id for a name, owned by this user, holding the token file and socket
 * dir), only once older than ten minutes, and only when no agent answers on the socket
 * (a session of another podman storage keeps its dir while it runs). Returns the ids swept.
 */
export async function sweepStaleRunDirs(podman: Podman): Promise<string[]> {
  const root = agentRunRoot();
  const names = await readdir(root).catch(() => [] as string[]);
  const me = uid();
  const now = Date.now();
  const candidates: string[] = [];
  for (const name of names) {
    if (!sessionIdSchema.safeParse(name).success) continue; // also a start's ".new-" staging dir
    const dir = join(root, name);
    const [st, token, sock] = await Promise.all(
      [dir, join(dir, TOKEN_NAME), join(dir, SOCKET_DIR_NAME)].map((p) => lstat(p).catch(() => undefined)),
    );
    if (!st?.isDirectory() || st.uid !== me || now - st.mtimeMs < STALE_RUN_DIR_MS) continue;
    if (!token?.isFile() || !sock?.isDirectory()) continue;
    candidates.push(name);
  }
  if (candidates.length === 0) return [];
  const result = await podman.run(buildPsArgs(), { timeoutMs: 60_000 });
  assertOk(result, 'PODMAN_FAILED', 'cannot list session containers');
  const live = new Set([
    ...parseManagedContainers(result.stdout).map((c) => c.sessionId),
    ...parseGatewayContainers(result.stdout).map((g) => g.sessionId),
  ]);
  const gone = candidates.filter((id) => !live.has(id));
  const listening = await Promise.all(gone.map((id) => agentListens(agentSocketPath(sessionRunDir(id, root)))));
  const stale = gone.filter((_, i) => !listening[i]);
  await Promise.all(stale.map((id) => removeRunDir(sessionRunDir(id, root))));
  return stale;
}

/** Removes the run dirs of sessions whose gateway outlived their container (derived from the id alone). */
export async function removeGatewayRunDirs(sessionIds: readonly string[]): Promise<void> {
  await Promise.all(sessionIds.map((id) => removeRunDir(sessionRunDir(id))));
}
