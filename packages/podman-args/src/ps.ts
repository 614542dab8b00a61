import { z } from 'zod';
import { LABELS, NAME_PREFIX } from './constants';
import { AxoError } from './errors';
import { sessionIdSchema } from './schemas';

// Tolerant: podman versions add and rename fields; only what we read is checked.
const psPortSchema = z.looseObject({
  host_ip: z.string().optional().default(''),
  container_port: z.number(),
  host_port: z.number(),
  range: z.number().optional().default(1),
  protocol: z.string().optional().default('tcp'),
});

const psEntrySchema = z.looseObject({
  Id: z.string(),
  Names: z.array(z.string()).nullable().default([]),
  Image: z.string().optional().default(''),
  State: z.string().optional().default('unknown'),
  Labels: z.record(z.string(), z.string()).nullable().default({}),
  Created: z.number().optional(),
  Ports: z.array(psPortSchema).nullable().default([]),
});

/** One entry of `podman ps --format json`, with only the fields axo reads checked. */
export type PsEntry = z.infer<typeof psEntrySchema>;

/** Parses `podman ps --format json` output; PODMAN_FAILED when it is not what podman prints. */
export function parsePsEntries(stdout: string): PsEntry[] {
  let raw: unknown;
  try {
    raw = stdout.trim() === '' ? [] : JSON.parse(stdout);
  } catch (cause) {
    throw new AxoError('PODMAN_FAILED', 'podman ps printed output that is not JSON', { cause });
  }
  const parsed = z.array(psEntrySchema).safeParse(raw);
  if (!parsed.success) {
    throw new AxoError('PODMAN_FAILED', 'podman ps printed JSON of an unexpected shape', { cause: parsed.error });
  }
  return parsed.data;
}

/** A container axo manages, as `podman ps` reports it. */
export interface ManagedContainer {
  readonly id: string;
  readonly name: string;
  readonly sessionId: string;
  readonly owner: string;
  readonly workdir: string;
  /** The default working directory inside the container (the workdir's path unless a workspace folder was set). */
  readonly cwd: string;
  /** The host run dir of the session's agent; undefined for a container without one. */
  readonly agentRunDir: string | undefined;
  /** podman's state: `running`, `exited`, `created`, … */
  readonly state: string;
  readonly image: string;
  /** Creation time in seconds since the epoch, when podman reports it. */
  readonly createdAt: number | undefined;
  readonly ports: readonly { readonly hostIp: string; readonly hostPort: number; readonly containerPort: number }[];
}

/**
 * Parses `podman ps --format json` output into the containers that are really ours: the
 * managed label set, a valid session label, and a name that is exactly that session's.
 */
export function parseManagedContainers(stdout: string): ManagedContainer[] {
  const result: ManagedContainer[] = [];
  for (const entry of parsePsEntries(stdout)) {
    const labels = entry.Labels ?? {};
    const sessionId = labels[LABELS.session];
    if (labels[LABELS.managed] !== 'true' || !sessionIdSchema.safeParse(sessionId).success) continue;
    const name = `${NAME_PREFIX}${sessionId}`;
    if (!(entry.Names ?? []).includes(name)) continue;
    result.push({
      id: entry.Id,
      name,
      sessionId: sessionId as string,
      owner: labels[LABELS.owner] ?? '',
      workdir: labels[LABELS.workdir] ?? '',
      cwd: labels[LABELS.cwd] || labels[LABELS.workdir] || '',
      agentRunDir: labels[LABELS.agent] || undefined,
      state: entry.State,
      image: entry.Image,
      createdAt: entry.Created,
      ports: (entry.Ports ?? []).flatMap((p) =>
        Array.from({ length: Math.max(1, p.range) }, (_, i) => ({
          hostIp: p.host_ip,
          hostPort: p.host_port + i,
          containerPort: p.container_port + i,
        })),
      ),
    });
  }
  return result;
}
