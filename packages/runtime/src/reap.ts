import { buildRmArgs, parseInput } from '@axo/podman-args';
import { assertOk, createPodman } from './podman';
import { queryContainers, removeRunDirs, type SessionsOptions, sessionsOptionsSchema } from './sessions';

export interface ReapResult {
  /** Container names removed. */
  readonly removed: readonly string[];
  /** Container names kept because their session is known. */
  readonly kept: readonly string[];
}

const BATCH = 64;

/**
 * Removes this owner's session containers whose session id is not in `knownIds`. Only
 * containers carrying our labels (and named exactly for their session) are considered;
 * podman removes each batch in parallel.
 */
export async function reapOrphans(knownIds: Iterable<string>, options: SessionsOptions = {}): Promise<ReapResult> {
  const o = parseInput(sessionsOptionsSchema, options, 'reap options');
  const podman = createPodman(o.podman);
  const known = new Set(knownIds);
  const ours = await queryContainers(podman, o.owner);
  const orphanContainers = ours.filter((c) => !known.has(c.sessionId));
  const orphans = orphanContainers.map((c) => c.name);
  const batches: string[][] = [];
  for (let i = 0; i < orphans.length; i += BATCH) batches.push(orphans.slice(i, i + BATCH));
  await Promise.all(
    batches.map(async (names) => {
      const result = await podman.run(buildRmArgs(names, { graceSeconds: 1 }), { timeoutMs: 120_000 });
      assertOk(result, 'PODMAN_FAILED', `cannot remove orphaned containers ${names.join(', ')}`);
    }),
  );
  await removeRunDirs(orphanContainers);
  return { removed: orphans, kept: ours.filter((c) => known.has(c.sessionId)).map((c) => c.name) };
}
