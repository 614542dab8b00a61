// The host's side of an allowlisted session's egress data: the policy file (written
// atomically; the gateway watches it), and the audit trail and counters the gateway keeps
// (egress-gateway.ts starts the gateway). Nothing here is in the session's reach: `gw/` is
// mounted only into the gateway.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AxoError, EGRESS_PATHS, egressListSchema, gatewayName, parseInput } from '@axo/podman-args';
import { z } from 'zod';

const stateDir = (runDir: string) => join(runDir, EGRESS_PATHS.hostState);

/** Reads a small file of the state dir without following a link; undefined when absent or unreadable. */
export async function readState(runDir: string, name: string, maxBytes = 1 << 20): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(join(stateDir(runDir), name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = await handle.stat();
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return await handle.readFile('utf8');
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

export function parseJson<T>(text: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (text === undefined) return undefined;
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

const policyDocSchema = z.looseObject({
  version: z.literal(1),
  generation: z.number().int(),
  entries: z.array(z.string()),
});

/** The allowlist in force for a session (what the host last wrote), or undefined without one. */
export async function readEgressPolicy(runDir: string): Promise<{ generation: number; entries: string[] } | undefined> {
  return parseJson(await readState(runDir, 'policy.json'), policyDocSchema);
}

/** Writes the policy atomically (a temporary file renamed over it); returns its generation. */
export async function writeEgressPolicy(runDir: string, entries: readonly string[]): Promise<number> {
  const current = await readEgressPolicy(runDir);
  const generation = (current?.generation ?? 0) + 1;
  const dir = stateDir(runDir);
  const tmp = join(dir, `.policy.json.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(tmp, `${JSON.stringify({ version: 1, generation, entries })}\n`, { mode: 0o644, flag: 'wx' });
  try {
    await rename(tmp, join(dir, 'policy.json'));
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  return generation;
}

const appliedSchema = z.looseObject({
  generation: z.number().int(),
  error: z.string().nullable().optional(),
  rejected: z.number().int().optional(),
});

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the gateway applied `generation` (it says so in applied.json). Throws when
 * it refused the file or does not answer in time.
 */
export async function waitEgressApplied(runDir: string, generation: number, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    const applied = parseJson(await readState(runDir, 'applied.json'), appliedSchema);
    if (applied && applied.generation >= generation) return;
    if (applied?.rejected !== undefined && applied.rejected >= generation) {
      throw new AxoError(
        'INVALID_INPUT',
        `the egress gateway refused the new allowlist: ${applied.error ?? 'unknown'}`,
      );
    }
    if (performance.now() > deadline) {
      throw new AxoError('TIMEOUT', `the egress gateway did not apply the new allowlist within ${timeoutMs} ms`, {
        hint: 'The allowlist file is written and applies when the gateway runs again; check `podman logs` of its gateway (axo-gw-<id>).',
      });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 25);
  }
}

/** One connection in a session's egress audit trail. */
export interface EgressRecord {
  /** When the session asked for it (ISO 8601). */
  readonly time: string;
  readonly session: string;
  /** `connect` (a CONNECT tunnel) or `http` (plain HTTP requests to one host). */
  readonly kind: 'connect' | 'http';
  readonly method?: string;
  /** The destination as asked for: a lower-case name or an address. */
  readonly host: string;
  readonly port: number;
  /** What was connected to (or what a denial was about); absent when the name was never resolved. */
  readonly address?: string;
  readonly decision: 'allow' | 'deny' | 'error';
  /** The entry that allowed it, or the denial's rule (default-deny, loopback, link-local, host-address, …). */
  readonly rule: string;
  readonly reason?: string;
  /** Bytes from the destination, and to it. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly durationMs: number;
  readonly requests?: number;
  /** Why the gateway cut it: `policy-changed` or `gateway-stopped`. */
  readonly closed?: string;
}

/** One line of a session's egress audit trail, as the gateway writes it. */
export const egressRecordSchema = z.looseObject({
  time: z.string(),
  session: z.string(),
  kind: z.enum(['connect', 'http']),
  method: z.string().optional(),
  host: z.string(),
  port: z.number().int(),
  address: z.string().optional(),
  decision: z.enum(['allow', 'deny', 'error']),
  rule: z.string(),
  reason: z.string().optional(),
  bytesIn: z.number(),
  bytesOut: z.number(),
  durationMs: z.number(),
  requests: z.number().int().optional(),
  closed: z.string().optional(),
});

export const egressLogOptionsSchema = z.strictObject({
  /** Only records at or after this time. */
  since: z.union([z.date(), z.iso.datetime({ offset: true })]).optional(),
  /** At most this many (the newest). @default all kept (the trail holds about 8 MiB) */
  limit: z.number().int().positive().optional(),
});

export type EgressLogOptions = z.input<typeof egressLogOptionsSchema>;

/** The audit trail, oldest first (the rotated file, then the current one). */
export async function readEgressLog(runDir: string, options: EgressLogOptions = {}): Promise<EgressRecord[]> {
  const o = parseInput(egressLogOptionsSchema, options, 'egress log options');
  const since = o.since === undefined ? undefined : new Date(o.since).getTime();
  const out: EgressRecord[] = [];
  for (const name of ['audit.1.jsonl', 'audit.jsonl']) {
    const text = await readState(runDir, name, 16 << 20);
    if (text === undefined) continue;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const r = parseJson(line, egressRecordSchema);
      if (!r || (since !== undefined && Date.parse(r.time) < since)) continue;
      out.push(r as EgressRecord);
    }
  }
  return o.limit === undefined ? out : out.slice(-o.limit);
}

/** The gateway's cumulative counters. */
export interface EgressStats {
  readonly connections: { readonly allow: number; readonly deny: number; readonly error: number };
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Connections open now. */
  readonly active: number;
  readonly updatedAt: string;
}

const statsSchema = z.looseObject({
  connections: z.looseObject({
    allow: z.number().default(0),
    deny: z.number().default(0),
    error: z.number().default(0),
  }),
  bytesIn: z.number().default(0),
  bytesOut: z.number().default(0),
  active: z.number().default(0),
  updatedAt: z.string().default(''),
});

/** The counters of a session's gateway (updated about once a second), or undefined. */
export async function readEgressStats(runDir: string): Promise<EgressStats | undefined> {
  return parseJson(await readState(runDir, 'stats.json'), statsSchema);
}

/** Validates entries (canonical, deduplicated). */
export function parseEgressList(entries: readonly string[]): string[] {
  return parseInput(egressListSchema, entries, 'egress entries');
}

export { gatewayName };
