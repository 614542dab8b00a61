import { describe, expect, it } from 'vitest';
import {
  decodeEnvelopes,
  decodeStreamRequest,
  ENVELOPE_COMPRESSED,
  ENVELOPE_END_STREAM,
  encodeEnvelope,
  endStreamEnvelope,
  HTTP_STATUS_BY_RPC_CODE,
  MAX_REQUEST_MESSAGE_BYTES,
  messageEnvelope,
  parseJsonMessage,
  RpcError,
  requestKind,
  timeoutFromHeader,
} from './connect';

describe('Connect envelopes', () => {
  it('frames a message as flags, big-endian length, data', () => {
    const e = encodeEnvelope(0, Buffer.from('{"a":1}'));
    expect([...e.subarray(0, 5)]).toEqual([0, 0, 0, 0, 7]);
    expect(e.subarray(5).toString()).toBe('{"a":1}');
    const big = encodeEnvelope(0, Buffer.alloc(0x01_02_03));
    expect([...big.subarray(0, 5)]).toEqual([0, 0, 1, 2, 3]);
  });

  it('ends a stream with flag 0x02 and {} or the error', () => {
    const ok = endStreamEnvelope();
    expect(ok[0]).toBe(ENVELOPE_END_STREAM);
    expect(JSON.parse(ok.subarray(5).toString())).toEqual({});
    const failed = endStreamEnvelope(new RpcError('not_found', 'process with pid 7 not found'));
    expect(failed[0]).toBe(ENVELOPE_END_STREAM);
    expect(JSON.parse(failed.subarray(5).toString())).toEqual({
      error: { code: 'not_found', message: 'process with pid 7 not found' },
    });
  });

  it('decodes what it encodes, several envelopes in one body', () => {
    const body = Buffer.concat([messageEnvelope({ n: 1 }), messageEnvelope({ n: 2 }), endStreamEnvelope()]);
    const envelopes = decodeEnvelopes(body);
    expect(envelopes.map((e) => e.flags)).toEqual([0, 0, ENVELOPE_END_STREAM]);
    expect(envelopes.map((e) => JSON.parse(e.data.toString()))).toEqual([{ n: 1 }, { n: 2 }, {}]);
  });

  it('refuses truncated, oversized and compressed requests, and more than one message', () => {
    const whole = messageEnvelope({ path: '/x' });
    expect(() => decodeEnvelopes(whole.subarray(0, 3))).toThrow(/incomplete envelope/);
    expect(() => decodeEnvelopes(whole.subarray(0, whole.length - 1))).toThrow(/truncated envelope/);
    const huge = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    expect(() => decodeEnvelopes(huge)).toThrow(new RegExp(`exceeds ${MAX_REQUEST_MESSAGE_BYTES}`));
    expect(() => decodeStreamRequest(encodeEnvelope(ENVELOPE_COMPRESSED, Buffer.from('{}')))).toThrow(/compressed/);
    expect(() => decodeStreamRequest(Buffer.concat([whole, whole]))).toThrow(/one message, not 2/);
    expect(() => decodeStreamRequest(Buffer.alloc(0))).toThrow(/one message, not 0/);
    expect(decodeStreamRequest(whole)).toEqual({ path: '/x' });
    expect(() => decodeStreamRequest(encodeEnvelope(0, Buffer.from('{nope')))).toThrow(RpcError);
  });

  it('treats an empty unary body as the empty message', () => {
    expect(parseJsonMessage('')).toEqual({});
    expect(parseJsonMessage(Buffer.from(' '))).toEqual({});
    expect(parseJsonMessage('{"depth":2}')).toEqual({ depth: 2 });
  });

  it('reads the deadline from Connect-Timeout-Ms', () => {
    expect(timeoutFromHeader(undefined)).toBeUndefined();
    expect(timeoutFromHeader('60000')).toBe(60_000);
    expect(timeoutFromHeader('0')).toBeUndefined();
    expect(() => timeoutFromHeader('1.5')).toThrow(/1 to 10 digits/);
    expect(() => timeoutFromHeader('12345678901')).toThrow(RpcError);
  });

  it('tells unary from streaming JSON requests by content type, and names binary ones', () => {
    expect(requestKind('application/json')).toBe('unary');
    expect(requestKind('application/json; charset=utf-8')).toBe('unary');
    expect(requestKind('application/connect+json')).toBe('stream');
    expect(requestKind('application/proto')).toBe('binary');
    expect(requestKind('text/plain')).toBeUndefined();
    expect(requestKind(undefined)).toBeUndefined();
  });

  it('maps codes to the HTTP statuses of the protocol', () => {
    expect(HTTP_STATUS_BY_RPC_CODE.not_found).toBe(404);
    expect(HTTP_STATUS_BY_RPC_CODE.unauthenticated).toBe(401);
    expect(HTTP_STATUS_BY_RPC_CODE.invalid_argument).toBe(400);
    expect(HTTP_STATUS_BY_RPC_CODE.already_exists).toBe(409);
    expect(HTTP_STATUS_BY_RPC_CODE.unavailable).toBe(503);
    expect(new RpcError('unavailable', 'gone', 502).httpStatus).toBe(502);
  });
});
