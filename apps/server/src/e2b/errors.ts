// Errors in E2B's own shapes, so the SDK raises its own classes: the control plane answers
// `{code: <HTTP status>, message}` (401 → AuthenticationError, 404 → SandboxNotFoundError),
// envd's RPCs answer Connect codes (not_found → FileNotFoundError, unauthenticated →
// AuthenticationError), and envd's /files answers `{code, message}` with envd's statuses.
// axo's own errors (FileError, AxoError, the API's ApiError) are translated here once.
import { AxoError, FileError } from '@axo/runtime';
import { ApiError, STATUS_BY_AXO_CODE, STATUS_BY_FILE_CODE } from '../problem';
import { type RpcCode, RpcError } from './connect';

/** A control-plane or /files error: its status, and the message E2B clients show. */
export class E2bHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'E2bHttpError';
  }
}

/** The JSON body of an HTTP error, as E2B's API and envd send it. */
export function httpErrorBody(status: number, message: string): { code: number; message: string } {
  return { code: status, message };
}

const RPC_CODE_BY_FILE_CODE: Readonly<Record<string, RpcCode>> = {
  NOT_FOUND: 'not_found',
  EXISTS: 'already_exists',
  IS_DIR: 'invalid_argument',
  NOT_DIR: 'invalid_argument',
  NOT_REGULAR: 'invalid_argument',
  INVALID: 'invalid_argument',
  NOT_EMPTY: 'failed_precondition',
  CROSS_DEVICE: 'failed_precondition',
  PERMISSION: 'permission_denied',
  LIMIT: 'resource_exhausted',
  TOO_LARGE: 'resource_exhausted',
  NO_SPACE: 'internal',
};

const RPC_CODE_BY_AXO_CODE: Readonly<Record<string, RpcCode>> = {
  NOT_FOUND: 'not_found',
  INVALID_INPUT: 'invalid_argument',
  CONFLICT: 'failed_precondition',
  PERMISSION_DENIED: 'permission_denied',
  TIMEOUT: 'deadline_exceeded',
  LIMIT: 'resource_exhausted',
  SESSION_ENDED: 'unavailable',
  AGENT_UNAVAILABLE: 'unavailable',
  PODMAN_MISSING: 'unavailable',
  UNSUPPORTED: 'unimplemented',
};

const RPC_CODE_BY_HTTP_STATUS: Readonly<Record<number, RpcCode>> = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  409: 'already_exists',
  413: 'resource_exhausted',
  429: 'resource_exhausted',
  501: 'unimplemented',
  502: 'unavailable',
  503: 'unavailable',
  504: 'deadline_exceeded',
};

/** Any error as the Connect error an RPC answers with; unexpected ones are `internal`. */
export function rpcErrorOf(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  if (FileError.isInstance(error))
    return new RpcError(RPC_CODE_BY_FILE_CODE[error.agentCode] ?? 'internal', error.message);
  if (AxoError.isInstance(error)) return new RpcError(RPC_CODE_BY_AXO_CODE[error.code] ?? 'internal', error.message);
  if (error instanceof ApiError || error instanceof E2bHttpError) {
    return new RpcError(RPC_CODE_BY_HTTP_STATUS[error.status] ?? 'internal', error.message);
  }
  return new RpcError('internal', 'the server failed unexpectedly; see its log');
}

/**
 * The HTTP status envd's /files gives for a file error (404 → the SDK's FileNotFoundError):
 * the API's, but a directory where a file was meant, or the reverse, is envd's 400.
 */
const FILES_STATUS_BY_FILE_CODE: Readonly<Record<string, number>> = {
  ...STATUS_BY_FILE_CODE,
  IS_DIR: 400,
  NOT_DIR: 400,
};

/** The HTTP status of an AxoError on E2B's routes: the API's, with E2B's own where they differ. */
const HTTP_STATUS_BY_AXO_CODE: Readonly<Record<string, number>> = {
  ...STATUS_BY_AXO_CODE,
  LIMITS_UNAVAILABLE: 400,
  START_FAILED: 500,
  SESSION_ENDED: 502,
  AGENT_UNAVAILABLE: 502,
  PODMAN_MISSING: 500,
  PODMAN_FAILED: 500,
  PTY_UNAVAILABLE: 500,
};

/** Any error as the status and message an HTTP route (control plane, /files) answers with. */
export function httpErrorOf(error: unknown): E2bHttpError {
  if (error instanceof E2bHttpError) return error;
  if (error instanceof ApiError) return new E2bHttpError(error.status, error.message);
  if (error instanceof RpcError) return new E2bHttpError(error.httpStatus ?? 500, error.message);
  if (FileError.isInstance(error))
    return new E2bHttpError(FILES_STATUS_BY_FILE_CODE[error.agentCode] ?? 500, error.message);
  if (AxoError.isInstance(error)) {
    return new E2bHttpError(
      HTTP_STATUS_BY_AXO_CODE[error.code] ?? 500,
      error.hint ? `${error.message} (${error.hint})` : error.message,
    );
  }
  const statusCode = (error as { statusCode?: number }).statusCode;
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return new E2bHttpError(statusCode, (error as Error).message);
  }
  return new E2bHttpError(500, 'the server failed unexpectedly; see its log');
}
