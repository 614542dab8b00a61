import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  authMac,
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  FrameKind,
  MAX_PAYLOAD,
  ProtocolError,
  parseAgentMessage,
  parseMessagePayload,
  signalExitCode,
} from './protocol';

interface Golden {
  maxPayload: number;
  valid: { name: string; kind: number; hex: string; message?: Record<string, unknown>; dataHex?: string }[];
  invalid: { name: string; hex: string; error: string }[];
  truncated: { name: string; hex: string }[];
  auth: { token: string; nonce: string; mac: string };
}
const golden = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve('@axo/agent/golden-frames.json'), 'utf8'),
) as Golden;

describe('agent protocol (golden frames shared with the Go agent)', () => {
  it('agrees on the payload bound', () => {
    expect(golden.maxPayload).toBe(MAX_PAYLOAD);
  });

  it.each(golden.valid.map((f) => [f.name, f] as const))('decodes and encodes %s', (_name, f) => {
    const bytes = Buffer.from(f.hex, 'hex');
    const decoder = new FrameDecoder();
    decoder.push(bytes);
    const raw = decoder.nextRaw();
    expect(raw?.kind).toBe(f.kind);
    expect(decoder.nextRaw()).toBeUndefined();
    if (f.message) {
      expect(parseMessagePayload(raw?.payload ?? Buffer.alloc(0))).toEqual(f.message);
      expect(parseMessagePayload(encodeMessage(f.message as { type: string }).subarray(5))).toEqual(f.message);
    } else {
      expect(raw?.payload.toString('hex')).toBe(f.dataHex);
      expect(encodeFrame(f.kind as 2, Buffer.from(f.dataHex ?? '', 'hex')).toString('hex')).toBe(f.hex);
    }
  });

  it.each(golden.invalid.map((f) => [f.name, f] as const))('refuses %s', (_name, f) => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.from(f.hex, 'hex'));
    let fault: string | undefined;
    try {
      const raw = decoder.nextRaw();
      if (raw) parseMessagePayload(raw.payload);
    } catch (error) {
      expect(error).toBeInstanceOf(ProtocolError);
      fault = (error as ProtocolError).fault;
    }
    expect(fault).toBe(f.error);
  });

  it.each(golden.truncated.map((f) => [f.name, f] as const))('waits for more bytes on %s', (_name, f) => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.from(f.hex, 'hex'));
    expect(decoder.nextRaw()).toBeUndefined();
  });

  it('refuses an oversized length from the header alone, before the payload arrives', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.from('03ffffffff', 'hex'));
    expect(() => decoder.nextRaw()).toThrow(/exceeds 1 MiB/);
  });

  it('reassembles frames split at every byte boundary (output frames as their pieces)', () => {
    const frames = golden.valid.map((f) => Buffer.from(f.hex, 'hex'));
    const all = Buffer.concat(frames);
    const decoder = new FrameDecoder();
    const pieces: { kind: number; payload: Buffer }[] = [];
    for (let i = 0; i < all.length; i++) {
      decoder.push(all.subarray(i, i + 1));
      for (let raw = decoder.nextRaw(); raw; raw = decoder.nextRaw()) pieces.push(raw);
    }
    expect(decoder.atBoundary).toBe(true);
    for (const frame of frames) {
      const length = frame.readUInt32BE(1);
      const parts: Buffer[] = [];
      do {
        const piece = pieces.shift();
        expect(piece?.kind).toBe(frame[0]);
        parts.push(piece?.payload ?? Buffer.alloc(0));
      } while (Buffer.concat(parts).length < length);
      expect(Buffer.concat(parts).toString('hex')).toBe(frame.subarray(5).toString('hex'));
    }
    expect(pieces).toEqual([]);
  });

  it('hands a megabyte of output on as the reads brought it, without copying it together', () => {
    const payload = Buffer.alloc(MAX_PAYLOAD, 7);
    const wire = Buffer.concat([encodeFrame(FrameKind.out, payload), encodeMessage({ type: 'keepalive' })]);
    const chunks = Array.from({ length: Math.ceil(wire.length / 65536) }, (_, i) =>
      Buffer.from(wire.subarray(i * 65536, (i + 1) * 65536)),
    );
    const decoder = new FrameDecoder();
    const out: Buffer[] = [];
    const kinds: number[] = [];
    for (const chunk of chunks) {
      decoder.push(chunk);
      for (let raw = decoder.nextRaw(); raw; raw = decoder.nextRaw()) {
        kinds.push(raw.kind);
        if (raw.kind === FrameKind.out) {
          out.push(raw.payload);
          // A view of a chunk as it arrived, not a copy.
          expect(chunks.some((c) => c.buffer === raw.payload.buffer)).toBe(true);
        }
      }
    }
    expect(Buffer.concat(out).equals(payload)).toBe(true);
    expect(out.length).toBeGreaterThan(15);
    expect(kinds.at(-1)).toBe(FrameKind.msg);
    expect(decoder.atBoundary).toBe(true);
  });

  // Messages only the agent sends are validated field by field; each golden one must pass
  // unchanged (the host keeps every field the agent documents).
  const fromAgent = new Set([
    'hello',
    'started',
    'exit',
    'attached',
    'lost',
    'end',
    'error',
    'entry',
    'entries',
    'ready',
    'watching',
    'event',
  ]);
  it.each(
    golden.valid.filter((f) => f.message && fromAgent.has(String(f.message.type))).map((f) => [f.name, f] as const),
  )('validates the agent message %s', (_name, f) => {
    expect(parseAgentMessage(Buffer.from(f.hex, 'hex').subarray(5))).toEqual(f.message);
  });

  const entry = {
    name: 'a.txt',
    path: '/work/a.txt',
    type: 'file',
    size: 3,
    mode: 420,
    permissions: '-rw-r--r--',
    uid: 0,
    gid: 0,
    owner: 'root',
    group: 'root',
    mtime: '2024-05-06T07:08:09.123456789Z',
  };
  const parse = (m: Record<string, unknown>) => parseAgentMessage(Buffer.from(JSON.stringify(m)));

  it('tells the three ends apart by their fields', () => {
    expect(parse({ type: 'end', bytes: 5 })).toEqual({ type: 'end', bytes: 5 });
    expect(parse({ type: 'end', truncated: false })).toEqual({ type: 'end', truncated: false });
    expect(parse({ type: 'end', stdout: 1, stderr: 2 })).toEqual({ type: 'end', stdout: 1, stderr: 2 });
    expect(() => parse({ type: 'end', bytes: -1 })).toThrow(ProtocolError);
    expect(() => parse({ type: 'end', truncated: 'yes' })).toThrow(ProtocolError);
  });

  it.each([
    ['a name with a slash', { name: 'a/b' }],
    ['a name that climbs', { name: '..' }],
    ['an empty name', { name: '' }],
    ['a name with NUL', { name: 'a\0' }],
    ['a name over 255', { name: 'x'.repeat(256) }],
    ['a relative path', { path: 'work/a.txt' }],
    ['a path with NUL', { path: '/work/a\0' }],
    ['an unknown type', { type: 'door' }],
    ['a negative size', { size: -1 }],
    ['a fractional size', { size: 1.5 }],
    ['a mode past 0o7777', { mode: 0o10000 }],
    ['garbled permissions', { permissions: 'rwxrwxrwx' }],
    ['a uid past 32 bits', { uid: 2 ** 32 }],
    ['an mtime that is not RFC 3339', { mtime: 'yesterday' }],
    ['a link target on a file', { symlinkTarget: '/etc' }],
    ['an owner that is not a string', { owner: 7 }],
  ])('refuses an entry with %s', (_name, change) => {
    expect(() => parse({ type: 'entry', entry: { ...entry, ...change } })).toThrow(ProtocolError);
  });

  it('accepts a link with its text, the root, and far-off mtimes', () => {
    const link = { ...entry, type: 'symlink', permissions: 'lrwxrwxrwx', mode: 511, symlinkTarget: '../../..' };
    expect(parse({ type: 'entry', entry: link })).toEqual({ type: 'entry', entry: link });
    const root = { ...entry, name: '/', path: '/', type: 'dir', permissions: 'drwxrwxrwt', mode: 0o1777 };
    expect(parse({ type: 'entry', entry: root })).toEqual({ type: 'entry', entry: root });
    const future = { ...entry, mtime: '12345-01-01T00:00:00.000000000+02:00' };
    expect(parse({ type: 'entry', entry: future })).toEqual({ type: 'entry', entry: future });
  });

  it('bounds listing batches and validates watch events', () => {
    expect(() => parse({ type: 'entries', entries: Array(1001).fill(entry) })).toThrow(ProtocolError);
    expect(parse({ type: 'entries', entries: [] })).toEqual({ type: 'entries', entries: [] });
    expect(() => parse({ type: 'event', op: 'explode', path: '/w', dir: false })).toThrow(ProtocolError);
    expect(() => parse({ type: 'event', op: 'create', path: 'w', dir: false })).toThrow(ProtocolError);
    expect(() => parse({ type: 'event', op: 'create', path: '/w', dir: 'no' })).toThrow(ProtocolError);
    expect(parse({ type: 'event', op: 'overflow', path: '/w', dir: true })).toEqual({
      type: 'event',
      op: 'overflow',
      path: '/w',
      dir: true,
    });
  });

  it('computes the handshake MAC the agent expects', () => {
    expect(authMac(golden.auth.token, golden.auth.nonce)).toBe(golden.auth.mac);
  });

  it('maps signals to shell exit codes', () => {
    expect(signalExitCode('KILL')).toBe(137);
    expect(signalExitCode('SIGTERM')).toBe(143);
    expect(signalExitCode(null)).toBeUndefined();
  });
});
