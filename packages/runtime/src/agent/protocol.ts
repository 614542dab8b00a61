// The host side of the axo-agent wire protocol (packages/agent/README.md), defined once.
// Everything the agent sends is hostile until checked: lengths are bounded before any
// allocation and every message is validated field by field. Validation is written out
// here rather than with zod because every `axo exec` loads this module and zod alone
// costs ~35 ms to import; the checks are small and tested against the shared golden frames.
import { createHmac } from 'node:crypto';

/** Largest payload of any frame, both directions. */
export const MAX_PAYLOAD = 1024 * 1024;
/** Protocol versions this host speaks. */
export const HOST_PROTOCOL = Object.freeze({ min: 1, max: 1 });
export const AUTH_PREFIX = 'axo-agent-auth-v1\n';

export const FrameKind = Object.freeze({ msg: 1, in: 2, out: 3, err: 4 } as const);
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Why a byte stream is not protocol: the classes the golden frames name. */
export type ProtocolFault = 'kind' | 'length' | 'json' | 'object' | 'type' | 'message';

/** The peer broke the protocol; the connection cannot be used further. */
export class ProtocolError extends Error {
  constructor(
    readonly fault: ProtocolFault,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export type Frame =
  | { readonly kind: typeof FrameKind.msg; readonly message: AgentMessage }
  | { readonly kind: typeof FrameKind.in | typeof FrameKind.out | typeof FrameKind.err; readonly data: Buffer };

/** One frame's bytes: header and payload. */
export function encodeFrame(kind: FrameKind, payload: Uint8Array): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes exceeds 1 MiB`);
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = kind;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

/** A MSG frame carrying `message` as JSON. */
export function encodeMessage(message: { readonly type: string } & Record<string, unknown>): Buffer {
  return encodeFrame(FrameKind.msg, Buffer.from(JSON.stringify(message), 'utf8'));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a MSG payload into an object with a string `type`, or throws ProtocolError. */
export function parseMessagePayload(payload: Uint8Array): Record<string, unknown> & { type: string } {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch {
    throw new ProtocolError('json', 'message is not valid UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('object', 'message is not a JSON object');
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') throw new ProtocolError('type', 'message has no string "type"');
  return value as Record<string, unknown> & { type: string };
}

/**
 * Incremental frame decoder. `push` bytes as they arrive, then take frames with `next()`
 * until it returns undefined. It never holds more than one frame's payload (≤ 1 MiB)
 * plus the unread remainder of the last chunk pushed.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #size = 0;
  /** An output frame being handed on piece by piece: its kind and the bytes still to come. */
  #partial: { readonly kind: FrameKind; left: number } | undefined;

  /** Bytes buffered and not yet decoded. */
  get buffered(): number {
    return this.#size;
  }

  /** Nothing buffered and no frame begun: the next byte starts a frame. */
  get atBoundary(): boolean {
    return this.#size === 0 && this.#partial === undefined;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /**
   * The next frame (raw payload), or undefined when more bytes are needed. Output frames
   * (stdout, stderr) come as the bytes arrive, in pieces of what one read brought: they are
   * byte streams, and a megabyte frame is then never copied together.
   */
  nextRaw(): { kind: FrameKind; payload: Buffer } | undefined {
    if (this.#partial) return this.#piece(this.#partial);
    if (this.#size < 5) return undefined;
    const header = this.#peek(5);
    const kind = header[0] as number;
    if (kind < 1 || kind > 4) throw new ProtocolError('kind', `unknown frame kind ${kind}`);
    const length = header.readUInt32BE(1);
    if (length > MAX_PAYLOAD) throw new ProtocolError('length', `frame of ${length} bytes exceeds 1 MiB`);
    if ((kind === FrameKind.out || kind === FrameKind.err) && length > 0) {
      this.#take(5);
      this.#partial = { kind, left: length };
      return this.#piece(this.#partial);
    }
    if (this.#size < 5 + length) return undefined;
    this.#take(5);
    return { kind: kind as FrameKind, payload: this.#take(length) };
  }

  /** The next whole frame, validated, or undefined when more bytes are needed. */
  next(): Frame | undefined {
    const raw = this.nextRaw();
    if (!raw) return undefined;
    if (raw.kind === FrameKind.msg) return { kind: raw.kind, message: parseAgentMessage(raw.payload) };
    return { kind: raw.kind, data: raw.payload };
  }

  /** What is here of a partial frame, from the first buffered chunk only (no copy). */
  #piece(partial: { readonly kind: FrameKind; left: number }): { kind: FrameKind; payload: Buffer } | undefined {
    const first = this.#chunks[0];
    if (!first) return undefined;
    const payload = this.#take(Math.min(first.length, partial.left));
    partial.left -= payload.length;
    if (partial.left === 0) this.#partial = undefined;
    return { kind: partial.kind, payload };
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.#chunks, Math.min(this.#size, 64)).subarray(0, n);
  }

  #take(n: number): Buffer {
    this.#size -= n;
    const first = this.#chunks[0];
    if (first && first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first && first.length === n) {
      this.#chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0] as Buffer;
      const part = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}

/** HMAC that proves knowledge of the session token for the agent's nonce. */
export function authMac(token: string, nonce: string): string {
  // The token is 64 hex characters, so the string key is its ASCII bytes (and cheaper
  // for node to prepare than a Buffer key).
  return createHmac('sha256', token).update(`${AUTH_PREFIX}${nonce}`).digest('hex');
}

// --- messages from the agent -------------------------------------------------------

export interface HelloMessage {
  readonly type: 'hello';
  readonly protocol: { readonly min: number; readonly max: number };
  readonly agent: string;
  readonly nonce: string;
  readonly features: readonly string[];
}
export interface ErrorMessage {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
}
export interface StartedMessage {
  readonly type: 'started';
  readonly id: string;
  readonly pid: number;
}
export interface ExitMessage {
  readonly type: 'exit';
  readonly id: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly killed: boolean;
  readonly stdout: number;
  readonly stderr: number;
}
export interface AttachedMessage {
  readonly type: 'attached';
  readonly id: string;
  readonly pid: number;
  readonly running: boolean;
  readonly stdout: number;
  readonly stderr: number;
}
export interface LostMessage {
  readonly type: 'lost';
  readonly stream: 'stdout' | 'stderr';
  readonly from: number;
  readonly to: number;
}
/** Ends a snapshot `attach`: the offsets to continue from. */
export interface EndMessage {
  readonly type: 'end';
  readonly stdout: number;
  readonly stderr: number;
}
/** Ends an `fs.list` answer; `truncated` when the agent's entry cap was reached. */
export interface ListEndMessage {
  readonly type: 'end';
  readonly truncated: boolean;
}
/** Ends an `fs.read` answer with the number of bytes sent. */
export interface ReadEndMessage {
  readonly type: 'end';
  readonly bytes: number;
}
export interface StreamStats {
  readonly total: number;
  readonly dropped: number;
}
/** One process as the agent's `list` describes it. */
export interface ProcInfo {
  readonly id: string;
  readonly pid: number;
  readonly tag: string;
  readonly argv: readonly string[];
  readonly user: string;
  readonly cwd: string;
  readonly pty: boolean;
  readonly keep: boolean;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly running: boolean;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly killed: boolean;
  readonly stdout: StreamStats;
  readonly stderr: StreamStats;
}
export interface ListMessage {
  readonly type: 'list';
  readonly procs: readonly ProcInfo[];
}
export interface PongMessage {
  readonly type: 'pong';
  readonly agent: string;
  readonly protocol: number;
  readonly procs: number;
  readonly uptimeMs: number;
  /** Since the last request other than ping; 0 while anything is attached. */
  readonly idleMs: number;
  /** Streams attached right now (output readers, terminals). */
  readonly attached: number;
}
export interface SimpleMessage {
  readonly type: 'ok' | 'stdinClosed' | 'keepalive' | 'ready' | 'watching';
}

/** What a file system entry is. */
export type FileType = 'file' | 'dir' | 'symlink' | 'other';

/** One file system entry as the agent describes it (packages/agent/README.md, "Files"). */
export interface FileEntry {
  /** The last path element (`/` for the root). */
  readonly name: string;
  /** Absolute, clean path inside the container. */
  readonly path: string;
  readonly type: FileType;
  /** Bytes (for a link: the length of its text). */
  readonly size: number;
  /** Permission bits with setuid, setgid and sticky, e.g. `0o644` (420). */
  readonly mode: number;
  /** As `ls -l` shows them, e.g. `-rw-r--r--`. */
  readonly permissions: string;
  readonly uid: number;
  readonly gid: number;
  /** User name from the container's passwd file; empty when unknown. */
  readonly owner: string;
  /** Group name from the container's group file; empty when unknown. */
  readonly group: string;
  /** Modification time, RFC 3339 with nanoseconds. */
  readonly mtime: string;
  /** A link's text, never followed; only for links. */
  readonly symlinkTarget?: string;
}

/** What a watch saw change. `overflow`: events were lost; look again. */
export type FileEventOp = 'create' | 'write' | 'remove' | 'rename' | 'chmod' | 'overflow';

/** One change a watch reports. */
export interface FileEvent {
  readonly op: FileEventOp;
  /** Absolute path of what changed (for `overflow`, the watched path, or a directory that could not be watched). */
  readonly path: string;
  /** Whether it is a directory. */
  readonly dir: boolean;
}

export interface EntryMessage {
  readonly type: 'entry';
  readonly entry: FileEntry;
}
export interface EntriesMessage {
  readonly type: 'entries';
  readonly entries: readonly FileEntry[];
}
export interface EventMessage extends FileEvent {
  readonly type: 'event';
}

/** Every message an agent may send. */
export type AgentMessage =
  | HelloMessage
  | ErrorMessage
  | StartedMessage
  | ExitMessage
  | AttachedMessage
  | LostMessage
  | EndMessage
  | ListEndMessage
  | ReadEndMessage
  | ListMessage
  | PongMessage
  | SimpleMessage
  | EntryMessage
  | EntriesMessage
  | EventMessage;

// Small field checkers: each throws ProtocolError('message') naming the field.
type Obj = Record<string, unknown>;
const bad = (type: string, field: string): never => {
  throw new ProtocolError('message', `agent message "${type}" has an invalid "${field}"`);
};
const str = (o: Obj, k: string, max = 4096): string => {
  const v = o[k];
  return typeof v === 'string' && v.length <= max ? v : bad(String(o.type), k);
};
const optStr = (o: Obj, k: string, max = 4096): string => (o[k] === undefined || o[k] === null ? '' : str(o, k, max));
const count = (o: Obj, k: string): number => {
  const v = o[k];
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : bad(String(o.type), k);
};
const bool = (o: Obj, k: string): boolean => {
  const v = o[k];
  return v === undefined ? false : typeof v === 'boolean' ? v : bad(String(o.type), k);
};
const intOrNull = (o: Obj, k: string): number | null => {
  const v = o[k];
  if (v === null || v === undefined) return null;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= -1 && v <= 255 ? v : bad(String(o.type), k);
};
const strOrNull = (o: Obj, k: string, max = 32): string | null =>
  o[k] === null || o[k] === undefined ? null : str(o, k, max);
const obj = (o: Obj, k: string): Obj => {
  const v = o[k];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : bad(String(o.type), k);
};
const strArray = (o: Obj, k: string, maxItems: number, maxLen: number): string[] => {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > maxItems) return bad(String(o.type), k);
  return v.map((x) => (typeof x === 'string' && x.length <= maxLen ? x : bad(String(o.type), k)));
};
const ID = /^[A-Za-z0-9_.-]{1,100}$/;
const id = (o: Obj): string => {
  const v = str(o, 'id', 100);
  return ID.test(v) ? v : bad(String(o.type), 'id');
};

function procInfo(raw: unknown): ProcInfo {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('list', 'procs');
  const p: Obj = { type: 'list', ...(raw as Obj) };
  const stats = (k: string): StreamStats => {
    const s = p[k] === undefined ? { total: 0, dropped: 0 } : obj(p, k);
    return { total: count({ type: 'list', ...s }, 'total'), dropped: count({ type: 'list', ...s }, 'dropped') };
  };
  return {
    id: id(p),
    pid: count(p, 'pid'),
    tag: optStr(p, 'tag'),
    argv: strArray(p, 'argv', 4096, 128 * 1024),
    user: optStr(p, 'user', 256),
    cwd: optStr(p, 'cwd'),
    pty: bool(p, 'pty'),
    keep: bool(p, 'keep'),
    startedAt: str(p, 'startedAt', 64),
    endedAt: strOrNull(p, 'endedAt', 64),
    running: bool(p, 'running'),
    exitCode: intOrNull(p, 'exitCode'),
    signal: strOrNull(p, 'signal'),
    timedOut: bool(p, 'timedOut'),
    killed: bool(p, 'killed'),
    stdout: stats('stdout'),
    stderr: stats('stderr'),
  };
}

// Bounds of file entries. A path the agent reports may be longer than the 4096 bytes a
// request may name (a listing 32 levels deep), never more than 32 names of 255 bytes more.
const MAX_ENTRY_PATH = 4096 + 32 * 256;
const MAX_LINK_TARGET = 4096;
/** Entries per `entries` message (the agent sends at most 1000). */
export const MAX_LIST_BATCH = 1000;
const FILE_TYPES: readonly string[] = ['file', 'dir', 'symlink', 'other'];
const EVENT_OPS: readonly string[] = ['create', 'write', 'remove', 'rename', 'chmod', 'overflow'];
const PERMISSIONS = /^[-dlpscb][-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT]$/;
// RFC 3339 as Go formats it; years beyond 9999 (or before 0) are possible mtimes.
const RFC3339 = /^-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

const absPath = (o: Obj, k: string, max = MAX_ENTRY_PATH): string => {
  const v = str(o, k, max);
  return v.startsWith('/') && !v.includes('\0') ? v : bad(String(o.type), k);
};
const uint32 = (o: Obj, k: string): number => {
  const v = count(o, k);
  return v <= 0xffff_ffff ? v : bad(String(o.type), k);
};

/** Validates one entry; `type` names the message it came in, for errors. */
function fileEntry(raw: unknown, type: string): FileEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad(type, 'entry');
  const e: Obj = { ...(raw as Obj), type };
  const kind = (raw as Obj).type;
  if (typeof kind !== 'string' || !FILE_TYPES.includes(kind)) return bad(type, 'entry.type');
  const path = absPath(e, 'path');
  // A name is one path element: never empty, never with a slash, NUL, "." or ".." (only
  // the root is called "/").
  const name = str(e, 'name', 255);
  if (path === '/' ? name !== '/' : name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
    bad(type, 'entry.name');
  }
  const mode = count(e, 'mode');
  if (mode > 0o7777) bad(type, 'entry.mode');
  const permissions = str(e, 'permissions', 10);
  if (!PERMISSIONS.test(permissions)) bad(type, 'entry.permissions');
  const mtime = str(e, 'mtime', 64);
  if (!RFC3339.test(mtime)) bad(type, 'entry.mtime');
  const entry: FileEntry = {
    name,
    path,
    type: kind as FileType,
    size: count(e, 'size'),
    mode,
    permissions,
    uid: uint32(e, 'uid'),
    gid: uint32(e, 'gid'),
    owner: optStr(e, 'owner', 256),
    group: optStr(e, 'group', 256),
    mtime,
  };
  if (e.symlinkTarget === undefined || e.symlinkTarget === null) return entry;
  // Only links have a target; an empty one cannot exist.
  if (kind !== 'symlink') return bad(type, 'entry.symlinkTarget');
  const target = str(e, 'symlinkTarget', MAX_LINK_TARGET);
  if (target === '' || target.includes('\0')) bad(type, 'entry.symlinkTarget');
  return { ...entry, symlinkTarget: target };
}

/** Validates one message from the agent; unknown fields are dropped, unknown types refused. */
export function parseAgentMessage(payload: Uint8Array): AgentMessage {
  const o = parseMessagePayload(payload);
  switch (o.type) {
    case 'hello': {
      const p = obj(o, 'protocol');
      const range = { type: 'hello', ...p };
      const nonce = str(o, 'nonce', 64);
      if (!/^[0-9a-f]{64}$/.test(nonce)) bad('hello', 'nonce');
      return {
        type: 'hello',
        protocol: { min: count(range, 'min'), max: count(range, 'max') },
        agent: str(o, 'agent', 64),
        nonce,
        features: strArray(o, 'features', 64, 64),
      };
    }
    case 'error':
      return { type: 'error', code: str(o, 'code', 64), message: optStr(o, 'message', 8192) };
    case 'started':
      return { type: 'started', id: id(o), pid: count(o, 'pid') };
    case 'exit':
      return {
        type: 'exit',
        id: id(o),
        exitCode: intOrNull(o, 'exitCode'),
        signal: strOrNull(o, 'signal'),
        timedOut: bool(o, 'timedOut'),
        killed: bool(o, 'killed'),
        stdout: count(o, 'stdout'),
        stderr: count(o, 'stderr'),
      };
    case 'attached':
      return {
        type: 'attached',
        id: id(o),
        pid: count(o, 'pid'),
        running: bool(o, 'running'),
        stdout: count(o, 'stdout'),
        stderr: count(o, 'stderr'),
      };
    case 'lost': {
      const stream = o.stream === 'stdout' || o.stream === 'stderr' ? o.stream : bad('lost', 'stream');
      return { type: 'lost', stream, from: count(o, 'from'), to: count(o, 'to') };
    }
    case 'end':
      // One type ends three answers; its fields say which (the request decides which is valid).
      if (o.bytes !== undefined) return { type: 'end', bytes: count(o, 'bytes') };
      if (o.truncated !== undefined) return { type: 'end', truncated: bool(o, 'truncated') };
      return { type: 'end', stdout: count(o, 'stdout'), stderr: count(o, 'stderr') };
    case 'entry':
      return { type: 'entry', entry: fileEntry(o.entry, 'entry') };
    case 'entries': {
      const entries = o.entries;
      if (!Array.isArray(entries) || entries.length > MAX_LIST_BATCH) bad('entries', 'entries');
      return { type: 'entries', entries: (entries as unknown[]).map((e) => fileEntry(e, 'entries')) };
    }
    case 'event': {
      const op = typeof o.op === 'string' && EVENT_OPS.includes(o.op) ? (o.op as FileEventOp) : bad('event', 'op');
      return { type: 'event', op, path: absPath(o, 'path'), dir: bool(o, 'dir') };
    }
    case 'list': {
      const procs = o.procs;
      if (!Array.isArray(procs) || procs.length > 100_000) bad('list', 'procs');
      return { type: 'list', procs: (procs as unknown[]).map(procInfo) };
    }
    case 'pong':
      return {
        type: 'pong',
        agent: str(o, 'agent', 64),
        protocol: count(o, 'protocol'),
        procs: count(o, 'procs'),
        uptimeMs: count(o, 'uptimeMs'),
        idleMs: count(o, 'idleMs'),
        attached: o.attached === undefined ? 0 : count(o, 'attached'),
      };
    case 'ok':
    case 'stdinClosed':
    case 'keepalive':
    case 'ready':
    case 'watching':
      return { type: o.type };
    default:
      throw new ProtocolError('type', `unknown agent message type "${o.type.slice(0, 40)}"`);
  }
}

/** Signal names the agent accepts. */
export const AGENT_SIGNALS = Object.freeze([
  'HUP',
  'INT',
  'QUIT',
  'KILL',
  'TERM',
  'USR1',
  'USR2',
  'STOP',
  'CONT',
  'WINCH',
] as const);
export type AgentSignal = (typeof AGENT_SIGNALS)[number];

/** Linux signal numbers by name (without SIG). */
export const SIGNAL_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
});

/** The shell's exit status for a process a signal ended (128 + its number), or undefined. */
export function signalExitCode(signal: string | null | undefined): number | undefined {
  if (!signal) return undefined;
  const n = SIGNAL_NUMBERS[signal.replace(/^SIG/, '')];
  return n === undefined ? undefined : 128 + n;
}
