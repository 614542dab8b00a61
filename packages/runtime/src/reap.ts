import {
  buildPsArgs,
  buildRmArgs,
  DEFAULT_OWNER,
  ownerIdSchema,
  parseInput,
  parseManagedContainers,
} from '@axo/podman-args';
import { z } from 'zod';
import { assertOk, createPodman, type Podman, type PodmanOptions } from './podman';

export const reapOptionsSchema = z.strictObject({
  /** Only containers of this owner are considered. @default 'default' */
  owner: ownerIdSchema.default(DEFAULT_OWNER),
  podman: z.custom<Podman | PodmanOptions>((v) => v === undefined || typeof v === 'object').optional(),
});

export type ReapOptions = z.input<typeof reapOptionsSchema>;

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
export async function reapOrphans(knownIds: Iterable<string>, options: ReapOptions = {}): Promise<ReapResult> {
  const o = parseInput(reapOptionsSchema, options, 'reap options');
  const podman = createPodman(o.podman);
  const known = new Set(knownIds);
  const listed = await podman.run(buildPsArgs({ owner: o.owner }), { timeoutMs: 60_000 });
  assertOk(listed, 'PODMAN_FAILED', 'cannot list session containers');
  const ours = parseManagedContainers(listed.stdout).filter((c) => c.owner === o.owner);
  const orphans = ours.filter((c) => !known.has(c.sessionId)).map((c) => c.name);
  const batches: string[][] = [];
  for (let i = 0; i < orphans.length; i += BATCH) batches.push(orphans.slice(i, i + BATCH));
  await Promise.all(
    batches.map(async (names) => {
      const result = await podman.run(buildRmArgs(names, { graceSeconds: 1 }), { timeoutMs: 120_000 });
      assertOk(result, 'PODMAN_FAILED', `cannot remove orphaned containers ${names.join(', ')}`);
    }),
  );
  return { removed: orphans, kept: ours.filter((c) => known.has(c.sessionId)).map((c) => c.name) };
}
