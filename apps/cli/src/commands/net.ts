import { parseEgressEntry } from '@axo/podman-args';
import { AxoError, type EgressRecord, InvalidInputError, type SessionSandbox } from '@axo/runtime';
import { parseDuration } from '../args';
import { loadSettings } from '../config';
import { writeText } from '../io';
import { attachSession } from '../session';
import { color, table } from '../ui';

async function sandboxOf(id: string): Promise<{ sandbox: SessionSandbox; entries: readonly string[] }> {
  const sandbox = await attachSession(id, (await loadSettings()).owner);
  const policy = await sandbox.egressPolicy();
  if (!policy) {
    throw new AxoError('CONFLICT', `session ${id} does not run with an egress allowlist`, {
      hint: 'Its network is decided when it starts: `axo up --replace --allow-host …` (or --network allowlist).',
    });
  }
  return { sandbox, entries: policy.entries };
}

function canonical(entry: string): string {
  try {
    return parseEgressEntry(entry).canonical;
  } catch (error) {
    throw new InvalidInputError('entry', (error as Error).message);
  }
}

function printEntries(id: string, entries: readonly string[]): void {
  writeText(
    1,
    entries.length > 0
      ? `${entries.join('\n')}\n`
      : `${color.yellow(`session ${id} allows nothing: every connection is refused`)}\n`,
  );
}

/** `axo net show ID`. */
export async function show(id: string, o: { json?: boolean }): Promise<number> {
  const { entries } = await sandboxOf(id);
  if (o.json) writeText(1, `${JSON.stringify({ entries }, null, 2)}\n`);
  else printEntries(id, entries);
  return 0;
}

/** `axo net allow ID ENTRY…`: adds entries. */
export async function allow(id: string, add: readonly string[]): Promise<number> {
  const { sandbox, entries } = await sandboxOf(id);
  const next = [...entries, ...add.map(canonical).filter((e) => !entries.includes(e))];
  printEntries(id, await sandbox.setEgress(next));
  return 0;
}

/** `axo net deny ID ENTRY…`: removes entries (their open connections are closed). */
export async function deny(id: string, remove: readonly string[]): Promise<number> {
  const { sandbox, entries } = await sandboxOf(id);
  const gone = new Set(remove.map(canonical));
  for (const e of gone) {
    if (!entries.includes(e)) writeText(2, `${color.yellow('warning:')} ${e} was not in the allowlist\n`);
  }
  printEntries(id, await sandbox.setEgress(entries.filter((e) => !gone.has(e))));
  return 0;
}

/** `axo net set ID [ENTRY…]`: replaces the entries. */
export async function set(id: string, entries: readonly string[]): Promise<number> {
  const { sandbox } = await sandboxOf(id);
  printEntries(id, await sandbox.setEgress(entries));
  return 0;
}

function sinceOf(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  if (/^\d+(\.\d+)?(ms|s|m|h)$/.test(text.trim())) return new Date(Date.now() - parseDuration(text));
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new InvalidInputError('since', `--since "${text}" is neither a time nor a duration (30s, 5m, 2h)`);
  return new Date(t);
}

const bytes = (n: number) =>
  n < 1024 ? `${n}` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)}K` : `${(n / 1024 ** 2).toFixed(1)}M`;

/** `axo net log ID`: the audit trail as a table (or JSON). */
export async function log(id: string, o: { since?: string; limit?: string; json?: boolean }): Promise<number> {
  const { sandbox } = await sandboxOf(id);
  const limit = o.limit === undefined ? undefined : Number(o.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new InvalidInputError('limit', '--limit must be a positive whole number');
  }
  const since = sinceOf(o.since);
  const records: EgressRecord[] = await sandbox.egressLog({
    ...(since && { since }),
    ...(limit !== undefined && { limit }),
  });
  if (o.json) {
    writeText(1, `${JSON.stringify(records, null, 2)}\n`);
    return 0;
  }
  if (records.length === 0) {
    writeText(1, 'no connections recorded\n');
    return 0;
  }
  const rows = records.map((r) => [
    r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    r.decision.toUpperCase(),
    `${r.kind === 'http' ? (r.method ?? 'HTTP') : 'CONNECT'} ${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}`,
    r.address ?? '-',
    r.rule,
    bytes(r.bytesIn),
    bytes(r.bytesOut),
    `${Math.round(r.durationMs)}ms`,
    [r.reason, r.closed && `closed: ${r.closed}`].filter(Boolean).join('; '),
  ]);
  writeText(
    1,
    `${table(['TIME', 'DECISION', 'DESTINATION', 'ADDRESS', 'RULE', 'IN', 'OUT', 'DURATION', 'REASON'], rows)}\n`,
  );
  return 0;
}
