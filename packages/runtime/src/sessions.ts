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
import { removeRunDir, sessionRunDir } from './agent/paths';
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

/** Removes the run dirs of sessions whose gateway outlived their container (derived from the id alone). */
export async function removeGatewayRunDirs(sessionIds: readonly string[]): Promise<void> {
  await Promise.all(sessionIds.map((id) => removeRunDir(sessionRunDir(id))));
}
