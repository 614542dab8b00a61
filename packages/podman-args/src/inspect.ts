import { z } from 'zod';
import { AxoError } from './errors';

// Tolerant: podman versions add and rename fields; only what we read is checked.
const inspectSchema = z.looseObject({
  Id: z.string(),
  State: z.looseObject({ Pid: z.number().optional().default(0), Running: z.boolean().optional().default(false) }),
  HostConfig: z
    .looseObject({
      Memory: z.number().nullable().optional(),
      NanoCpus: z.number().nullable().optional(),
      CpuQuota: z.number().nullable().optional(),
      CpuPeriod: z.number().nullable().optional(),
      PidsLimit: z.number().nullable().optional(),
      Ulimits: z
        .array(z.looseObject({ Name: z.string(), Soft: z.number(), Hard: z.number() }))
        .nullable()
        .optional(),
      ReadonlyRootfs: z.boolean().nullable().optional(),
      UsernsMode: z.string().nullable().optional(),
      NetworkMode: z.string().nullable().optional(),
    })
    .optional()
    .default({}),
  NetworkSettings: z
    .looseObject({
      Ports: z
        .record(z.string(), z.array(z.looseObject({ HostIp: z.string(), HostPort: z.string() })).nullable())
        .nullable()
        .optional(),
    })
    .optional()
    .default({}),
});

/** What podman says is configured for a container (its own bookkeeping; the cgroup is read elsewhere). */
export interface InspectFacts {
  readonly id: string;
  /** The init's pid on the host (0 when not running). */
  readonly pid: number;
  readonly running: boolean;
  /** Memory limit in bytes; null when none. */
  readonly memoryBytes: number | null;
  /** CPU limit in CPUs; null when none. */
  readonly cpus: number | null;
  /** Pids limit; null when none. */
  readonly pids: number | null;
  /** The nproc rlimit; null when not set. */
  readonly nproc: number | null;
  readonly readOnlyRoot: boolean;
  readonly usernsMode: string;
  readonly networkMode: string;
  readonly ports: readonly { readonly hostIp: string; readonly port: number; readonly containerPort: number }[];
}

const positive = (n: number | null | undefined) => (n !== null && n !== undefined && n > 0 ? n : null);

/** Parses `podman container inspect --format json` of one container. */
export function parseInspect(stdout: string): InspectFacts {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch (cause) {
    throw new AxoError('PODMAN_FAILED', 'podman inspect printed output that is not JSON', { cause });
  }
  const parsed = z.array(inspectSchema).min(1).safeParse(raw);
  if (!parsed.success) {
    throw new AxoError('PODMAN_FAILED', 'podman inspect printed JSON of an unexpected shape', { cause: parsed.error });
  }
  const c = parsed.data[0] as z.output<typeof inspectSchema>;
  const h = c.HostConfig;
  const quota = positive(h.CpuQuota);
  const period = positive(h.CpuPeriod);
  const nano = positive(h.NanoCpus);
  const nproc = (h.Ulimits ?? []).find((u) => u.Name === 'RLIMIT_NPROC' || u.Name === 'nproc');
  return {
    id: c.Id,
    pid: c.State.Pid,
    running: c.State.Running,
    memoryBytes: positive(h.Memory),
    cpus: nano ? nano / 1e9 : quota && period ? quota / period : null,
    pids: positive(h.PidsLimit),
    nproc: nproc ? nproc.Soft : null,
    readOnlyRoot: h.ReadonlyRootfs === true,
    usernsMode: h.UsernsMode ?? '',
    networkMode: h.NetworkMode ?? '',
    ports: Object.entries(c.NetworkSettings.Ports ?? {}).flatMap(([key, bindings]) =>
      (bindings ?? []).map((b) => ({
        hostIp: b.HostIp,
        port: Number(b.HostPort),
        containerPort: Number(key.split('/')[0]),
      })),
    ),
  };
}

/** Parses a memory size in podman's syntax (`512m`, `2g`, `1048576`) into bytes. */
export function memoryBytes(size: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([bkmg]?)$/i.exec(size.trim());
  if (!m) throw new RangeError(`not a memory size: ${size}`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as '' | 'b'];
  return Math.round(Number(m[1]) * unit);
}
