// envd's messages (process/process.proto, filesystem/filesystem.proto) in proto3 JSON:
// camelCase fields, bytes as base64, int64 as strings, enums by name, Timestamps as RFC 3339
// in UTC. Requests are checked with zod at the boundary (tolerantly: unknown fields are
// dropped, as a proto3 JSON parser ignoring unknown fields would); answers are built from
// axo's own types here. Pure: no I/O.
import type { AgentExit, FileEntry, FileEventOp } from '@axo/runtime';
import { z } from 'zod';
import { RpcError } from './connect';

/** A 32-bit unsigned integer: proto3 JSON allows a number or a decimal string. */
const uint32 = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(
  z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
);
/** Bytes: base64, standard or URL-safe, padded or not. */
const bytes = z
  .string()
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'bytes must be base64')
  .transform((s) => Buffer.from(s, 'base64'));
const size = z.strictObject({
  cols: uint32.pipe(z.number().min(1).max(1000)),
  rows: uint32.pipe(z.number().min(1).max(500)),
});
const pty = z.object({ size: size.optional() });

/** process.ProcessSelector: by pid or by tag. */
export const processSelectorSchema = z
  .object({ pid: uint32.optional(), tag: z.string().max(4096).optional() })
  .refine((s) => (s.pid === undefined) !== (s.tag === undefined), { message: 'select a process by pid or by tag' });
export type ProcessSelector = z.output<typeof processSelectorSchema>;

export const startRequestSchema = z.object({
  process: z.object({
    cmd: z.string().min(1).max(4096),
    args: z.array(z.string().max(100_000)).max(1000).default([]),
    envs: z.record(z.string().regex(/^[^=\0]+$/, 'environment names have no "=" or NUL'), z.string()).default({}),
    cwd: z.string().max(4096).optional(),
  }),
  pty: pty.optional(),
  tag: z.string().max(4096).optional(),
  /** envd's default when absent: a stdin pipe (kept for older SDKs, which never say). */
  stdin: z.boolean().optional(),
});
export const connectRequestSchema = z.object({ process: processSelectorSchema });
export const listRequestSchema = z.object({});
export const sendInputRequestSchema = z.object({
  process: processSelectorSchema,
  input: z.object({ stdin: bytes.optional(), pty: bytes.optional() }).default({}),
});
export const closeStdinRequestSchema = z.object({ process: processSelectorSchema });
export const sendSignalRequestSchema = z.object({
  process: processSelectorSchema,
  signal: z.union([z.string(), z.number().int()]).default('SIGNAL_UNSPECIFIED'),
});
export const updateRequestSchema = z.object({ process: processSelectorSchema, pty: pty.optional() });

const path = z
  .string()
  .max(4096)
  .refine((p) => !p.includes('\0'), 'a path has no NUL');
export const statRequestSchema = z.object({ path });
export const makeDirRequestSchema = z.object({ path });
export const removeRequestSchema = z.object({ path });
export const moveRequestSchema = z.object({ source: path, destination: path });
export const listDirRequestSchema = z.object({ path, depth: uint32.default(1) });
export const watchDirRequestSchema = z.object({
  path,
  recursive: z.boolean().default(false),
  includeEntry: z.boolean().default(false),
  allowNetworkMounts: z.boolean().default(false),
});
export const createWatcherRequestSchema = watchDirRequestSchema;
export const watcherIdRequestSchema = z.object({ watcherId: z.string().min(1).max(200) });

/** Parses a request message; a mismatch is `invalid_argument`, naming the field. */
export function parseRequest<S extends z.ZodType>(schema: S, message: unknown): z.output<S> {
  const parsed = schema.safeParse(message ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  throw new RpcError('invalid_argument', `${where}${issue?.message ?? 'invalid request'}`);
}

/** envd's signals (process.Signal): by name or number. */
export function signalFromJson(value: string | number): 'KILL' | 'TERM' | undefined {
  if (value === 'SIGNAL_SIGKILL' || value === 9 || value === '9') return 'KILL';
  if (value === 'SIGNAL_SIGTERM' || value === 15 || value === '15') return 'TERM';
  return undefined;
}

/**
 * An RFC 3339 time as a google.protobuf.Timestamp in JSON: UTC, `Z`, and 0, 3, 6 or 9
 * fractional digits (what protobuf's JSON parsers accept); undefined when unparsable.
 */
export function timestampJson(rfc3339: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$/.exec(rfc3339);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  let seconds = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    seconds -= sign * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60);
  }
  if (!Number.isFinite(seconds)) return undefined;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  const nanos = frac.padEnd(9, '0');
  return /^0+$/.test(nanos) ? `${base}Z` : `${base}.${nanos}Z`;
}

const FILE_TYPES: Readonly<Record<FileEntry['type'], string>> = {
  file: 'FILE_TYPE_FILE',
  dir: 'FILE_TYPE_DIRECTORY',
  symlink: 'FILE_TYPE_SYMLINK',
  other: 'FILE_TYPE_UNSPECIFIED',
};

/** filesystem.EntryInfo: envd's names, its owner fallback (the numeric id), and permission bits only. */
export function entryInfoJson(entry: FileEntry): Record<string, unknown> {
  const modifiedTime = timestampJson(entry.mtime);
  return {
    name: entry.name,
    type: FILE_TYPES[entry.type],
    path: entry.path,
    size: String(entry.size),
    mode: entry.mode & 0o777,
    permissions: entry.permissions,
    owner: entry.owner || String(entry.uid),
    group: entry.group || String(entry.gid),
    ...(modifiedTime !== undefined && { modifiedTime }),
    ...(entry.symlinkTarget !== undefined && { symlinkTarget: entry.symlinkTarget }),
  };
}

const EVENT_TYPES: Readonly<Partial<Record<FileEventOp, string>>> = {
  create: 'EVENT_TYPE_CREATE',
  write: 'EVENT_TYPE_WRITE',
  remove: 'EVENT_TYPE_REMOVE',
  rename: 'EVENT_TYPE_RENAME',
  chmod: 'EVENT_TYPE_CHMOD',
};

/** filesystem.EventType of a watch event; undefined for `overflow`, which envd has no name for. */
export function eventTypeJson(op: FileEventOp): string | undefined {
  return EVENT_TYPES[op];
}

/** What Go's os.ProcessState.String() calls a signal (envd's `status` and `error` come from it). */
const GO_SIGNAL_NAMES: Readonly<Record<string, string>> = {
  HUP: 'hangup',
  INT: 'interrupt',
  QUIT: 'quit',
  ILL: 'illegal instruction',
  TRAP: 'trace/breakpoint trap',
  ABRT: 'aborted',
  BUS: 'bus error',
  FPE: 'floating point exception',
  KILL: 'killed',
  USR1: 'user defined signal 1',
  SEGV: 'segmentation fault',
  USR2: 'user defined signal 2',
  PIPE: 'broken pipe',
  ALRM: 'alarm clock',
  TERM: 'terminated',
};

/**
 * process.ProcessEvent.EndEvent as envd builds it from Go's ProcessState: a normal exit is
 * `exited` with its code (`error` only when non-zero); a signal is code -1, not `exited`.
 */
export function endEventJson(exit: Pick<AgentExit, 'exitCode' | 'signal'>): Record<string, unknown> {
  if (exit.exitCode !== null && exit.signal === null) {
    const status = `exit status ${exit.exitCode}`;
    return { exitCode: exit.exitCode, exited: true, status, ...(exit.exitCode !== 0 && { error: status }) };
  }
  const name = (exit.signal ?? 'KILL').toUpperCase().replace(/^SIG/, '');
  const status = `signal: ${GO_SIGNAL_NAMES[name] ?? name.toLowerCase()}`;
  return { exitCode: -1, exited: false, status, error: status };
}

/** Splits bytes into pieces of at most `max` (envd sends stdout in 32 KiB events, a PTY in 16 KiB). */
export function* chunks(data: Buffer, max: number): Generator<Buffer> {
  for (let at = 0; at < data.length; at += max) yield data.subarray(at, at + max);
}
