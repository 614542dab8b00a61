import { buildRmArgs, parseInput } from '@axo/podman-args';
import { assertOk, createPodman } from './podman';
import {
  queryOwned,
  removeGatewayRunDirs,
  removeRunDirs,
  type SessionsOptions,
  sessionsOptionsSchema,
  sweepStaleRunDirs,
} from './sessions';

export interface ReapResult {
  /** Container names removed. */
  readonly removed: readonly string[];
  /** Container names kept because their session is known. */
  readonly kept: readonly string[];
}

const BATCH = 64;

/** A gateway whose session container does not exist is an orphan once it is this old (a start makes the gateway first). */
const LONE_GATEWAY_GRACE_S = 120;

/**
 * Removes this owner's session containers whose session id is not in `knownIds`, with
 * their egress gateways (and gateways whose session container is gone). Only containers
 * carrying our labels (and named exactly for their session) are considered; podman
 * removes each batch in parallel.
 */
export async function reapOrphans(knownIds: Iterable<string>, options: SessionsOptions = {}): Promise<ReapResult> {
  const o = parseInput(sessionsOptionsSchema, options, 'reap options');
  const podman = createPodman(o.podman);
  const known = new Set(knownIds);
  const { sessions: ours, gateways } = await queryOwned(podman, o.owner);
  const orphanContainers = ours.filter((c) => !known.has(c.sessionId));
  const withSession = new Set(ours.map((c) => c.sessionId));
  const now = Date.now() / 1000;
  // A gateway goes with its orphaned session; one without a session container only once it
  // is past the grace (a session being started right now has its gateway first).
  const orphanGateways = gateways.filter((g) =>
    withSession.has(g.sessionId) ? !known.has(g.sessionId) : now - (g.createdAt ?? now) > LONE_GATEWAY_GRACE_S,
  );
  const orphans = [...orphanContainers.map((c) => c.name), ...orphanGateways.map((g) => g.name)];
  const batches: string[][] = [];
  for (let i = 0; i < orphans.length; i += BATCH) batches.push(orphans.slice(i, i + BATCH));
  await Promise.all(
    batches.map(async (names) => {
      const result = await podman.run(buildRmArgs(names, { graceSeconds: 1 }), { timeoutMs: 120_000 });
      assertOk(result, 'PODMAN_FAILED', `cannot remove orphaned containers ${names.join(', ')}`);
    }),
  );
  await removeRunDirs(orphanContainers);
  await removeGatewayRunDirs(orphanGateways.filter((g) => !withSession.has(g.sessionId)).map((g) => g.sessionId));
  await sweepStaleRunDirs(podman);
  return { removed: orphans, kept: ours.filter((c) => known.has(c.sessionId)).map((c) => c.name) };
}
