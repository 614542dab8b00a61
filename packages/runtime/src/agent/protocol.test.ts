import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  authMac,
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  MAX_PAYLOAD,
  ProtocolError,
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

  it('reassembles frames split at every byte boundary', () => {
    const frames = golden.valid.map((f) => Buffer.from(f.hex, 'hex'));
    const all = Buffer.concat(frames);
    const decoder = new FrameDecoder();
    const seen: string[] = [];
    for (let i = 0; i < all.length; i++) {
      decoder.push(all.subarray(i, i + 1));
      for (let raw = decoder.nextRaw(); raw; raw = decoder.nextRaw()) seen.push(raw.payload.toString('hex'));
    }
    expect(seen).toEqual(frames.map((f) => f.subarray(5).toString('hex')));
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
