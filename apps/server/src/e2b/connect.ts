// The Connect protocol (connectrpc.com/docs/protocol) as E2B's SDK speaks it to envd: the
// JSON codec over HTTP/1.1. Unary calls are a POST of one JSON message answered by one JSON
// message (errors: an HTTP status plus {code, message}). Server-streaming calls send and
// answer `application/connect+json` envelopes: one flags byte, a 4-byte big-endian length,
// the JSON; the answer ends with an end-of-stream envelope (flag 0x02) that carries the
// error, if any. Pure: no I/O here.

/** Flags of an envelope. */
export const ENVELOPE_COMPRESSED = 0x01;
export const ENVELOPE_END_STREAM = 0x02;
/** Largest request message this server decodes (a Start request with its environment fits easily). */
export const MAX_REQUEST_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Connect error codes, as they travel in JSON. */
export type RpcCode =
  | 'canceled'
  | 'unknown'
  | 'invalid_argument'
  | 'deadline_exceeded'
  | 'not_found'
  | 'already_exists'
  | 'permission_denied'
  | 'resource_exhausted'
  | 'failed_precondition'
  | 'aborted'
  | 'out_of_range'
  | 'unimplemented'
  | 'internal'
  | 'unavailable'
  | 'data_loss'
  | 'unauthenticated';

/** The HTTP status of a unary error with this code (the protocol's own table). */
export const HTTP_STATUS_BY_RPC_CODE: Readonly<Record<RpcCode, number>> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401,
};

/** An error an RPC answers with: its code reaches the client, so the SDK raises its own error class. */
export class RpcError extends Error {
  constructor(
    readonly code: RpcCode,
    message: string,
    /** Answer with this HTTP status instead of the code's own (502: the sandbox is gone, as E2B's proxy says). */
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  /** The error as the protocol's JSON (`{code, message}`). */
  toJson(): { code: RpcCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** One envelope: flags byte, big-endian length, data. */
export function encodeEnvelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.length);
  out.writeUInt8(flags & 0xff, 0);
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

/** A message envelope holding `message` as JSON. */
export function messageEnvelope(message: unknown): Buffer {
  return encodeEnvelope(0, Buffer.from(JSON.stringify(message)));
}

/** The end-of-stream envelope: `{}` when the call succeeded, else `{"error":{code,message}}`. */
export function endStreamEnvelope(error?: RpcError): Buffer {
  return encodeEnvelope(ENVELOPE_END_STREAM, Buffer.from(JSON.stringify(error ? { error: error.toJson() } : {})));
}

/** Splits a request body into its envelopes; throws an RpcError for anything malformed. */
export function decodeEnvelopes(body: Uint8Array): Array<{ flags: number; data: Buffer }> {
  const buffer = Buffer.from(body.buffer, body.byteOffset, body.length);
  const out: Array<{ flags: number; data: Buffer }> = [];
  let at = 0;
  while (at < buffer.length) {
    if (buffer.length - at < 5) throw new RpcError('invalid_argument', 'protocol error: incomplete envelope');
    const flags = buffer.readUInt8(at);
    const length = buffer.readUInt32BE(at + 1);
    if (length > MAX_REQUEST_MESSAGE_BYTES)
      throw new RpcError('resource_exhausted', `message of ${length} bytes exceeds ${MAX_REQUEST_MESSAGE_BYTES}`);
    if (buffer.length - at - 5 < length) throw new RpcError('invalid_argument', 'protocol error: truncated envelope');
    out.push({ flags, data: buffer.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

/** The one request message of a server-streaming call, parsed as JSON. */
export function decodeStreamRequest(body: Uint8Array): unknown {
  const envelopes = decodeEnvelopes(body);
  const first = envelopes[0];
  if (envelopes.length !== 1 || !first) {
    throw new RpcError('invalid_argument', `a server-streaming request holds one message, not ${envelopes.length}`);
  }
  if ((first.flags & ENVELOPE_COMPRESSED) !== 0) {
    throw new RpcError('internal', 'compressed request messages are not supported (no Connect-Content-Encoding)');
  }
  return parseJsonMessage(first.data);
}

/** A JSON message (unary request body, or an envelope's data); an empty body is the empty message. */
export function parseJsonMessage(data: Uint8Array | string): unknown {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new RpcError('invalid_argument', 'the request message is not valid JSON');
  }
}

/**
 * The call's deadline from `Connect-Timeout-Ms` (at most 10 digits, as the protocol says);
 * undefined without one. A malformed value is the client's mistake.
 */
export function timeoutFromHeader(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\d{1,10}$/.test(text)) {
    throw new RpcError('invalid_argument', `Connect-Timeout-Ms must be 1 to 10 digits, not ${JSON.stringify(text)}`);
  }
  const ms = Number(text);
  return ms > 0 ? ms : undefined;
}

/** What kind of Connect request a content type announces (or undefined: not one this server speaks). */
export function requestKind(contentType: string | undefined): 'unary' | 'stream' | 'binary' | undefined {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (media === 'application/json') return 'unary';
  if (media === 'application/connect+json') return 'stream';
  if (media === 'application/proto' || media === 'application/connect+proto') return 'binary';
  return undefined;
}
