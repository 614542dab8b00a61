import { AxoError, FileError } from '@axo/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Codes the API answers with, beyond the libraries' own. */
export type ApiErrorCode =
  | 'UNAUTHORIZED'
  | 'POLICY_DENIED'
  | 'PATH_NOT_ALLOWED'
  | 'CONFLICT'
  | 'TOO_MANY_SESSIONS'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INVALID_INPUT'
  | 'PAUSE_UNSUPPORTED'
  | 'NOT_FOUND'
  | 'FORBIDDEN';

/** An error the API reports as-is, with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly extra: { hint?: string; errors?: unknown } = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const STATUS_BY_AXO_CODE: Readonly<Record<string, number>> = {
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
  PODMAN_MISSING: 503,
  PODMAN_FAILED: 502,
  START_FAILED: 502,
  LIMITS_UNAVAILABLE: 422,
  TIMEOUT: 504,
  PTY_UNAVAILABLE: 503,
  CONFLICT: 409,
  PERMISSION_DENIED: 403,
  NO_SPACE: 507,
  TOO_LARGE: 413,
  LIMIT: 429,
  AGENT_UNAVAILABLE: 503,
};

/**
 * A file request the agent refused, by its own finer code (the problem's `code` is that
 * code): NOT_REGULAR (a FIFO, device or socket) is the client's mistake, so 400.
 */
export const STATUS_BY_FILE_CODE: Readonly<Record<string, number>> = {
  NOT_FOUND: 404,
  EXISTS: 409,
  IS_DIR: 409,
  NOT_DIR: 409,
  NOT_EMPTY: 409,
  CROSS_DEVICE: 409,
  NOT_REGULAR: 400,
  INVALID: 400,
  PERMISSION: 403,
  NO_SPACE: 507,
  TOO_LARGE: 413,
  LIMIT: 429,
};

/** fastify's own request errors (a body too large, a bad media type): status, code, message. */
export const FASTIFY_ERRORS: Readonly<Record<string, readonly [number, ApiErrorCode, string]>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'INVALID_INPUT', 'the body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'INVALID_INPUT', 'the body is empty'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE', 'the body is larger than the server accepts'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'send application/json (application/octet-stream where a route takes bytes)',
  ],
};

/** Sends an RFC 9457 problem document. */
export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  code: string,
  detail: string,
  extra: { hint?: string; errors?: unknown } = {},
) {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({
      type: `urn:axo:problem:${code.toLowerCase().replaceAll('_', '-')}`,
      title: code,
      status,
      code,
      detail,
      ...(extra.hint && { hint: extra.hint }),
      ...(extra.errors !== undefined && { errors: extra.errors }),
      instance: request.url.split('?')[0],
      requestId: request.id,
    });
}

/** Maps any thrown error to a problem document; unexpected ones are 500 and logged. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError)
    return sendProblem(reply, request, error.status, error.code, error.message, error.extra);
  const fileStatus = FileError.isInstance(error) ? STATUS_BY_FILE_CODE[error.agentCode] : undefined;
  if (FileError.isInstance(error) && fileStatus !== undefined) {
    const code = error.agentCode === 'INVALID' ? 'INVALID_INPUT' : error.agentCode;
    return sendProblem(reply, request, fileStatus, code, error.message, { hint: error.hint });
  }
  if (AxoError.isInstance(error)) {
    const status = STATUS_BY_AXO_CODE[error.code] ?? 500;
    if (status >= 500) request.log.warn({ err: error }, 'request failed');
    return sendProblem(reply, request, status, error.code, error.message, { hint: error.hint });
  }
  const fastifyCode = (error as { code?: string }).code;
  const known = fastifyCode ? FASTIFY_ERRORS[fastifyCode] : undefined;
  if (known) return sendProblem(reply, request, known[0], known[1], known[2]);
  const status = (error as { statusCode?: number }).statusCode;
  if (status && status >= 400 && status < 500) {
    return sendProblem(reply, request, status, 'INVALID_INPUT', (error as Error).message);
  }
  request.log.error({ err: error }, 'unexpected error');
  return sendProblem(reply, request, 500, 'INTERNAL', 'the server failed unexpectedly; see its log for the request id');
}
