// Every failure the client reports: an HTTP problem+json answer, a failure inside a stream
// (an `error` line), or the network. Match on `code`, never on the message.

const BRAND = Symbol.for('axo.client-error');

/** One offending field of an INVALID_INPUT answer. */
export interface AxoFieldError {
  readonly field: string;
  readonly message: string;
}

/** An RFC 9457 problem document as axo-server sends it. */
export interface AxoProblem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly hint?: string;
  readonly errors?: readonly AxoFieldError[];
  readonly instance?: string;
  readonly requestId?: string;
}

export class AxoClientError extends Error {
  /** HTTP status; 0 when no HTTP answer carried the error (the network, or a stream's `error` line). */
  readonly status: number;
  /** The server's stable code (`NOT_FOUND`, `IS_DIR`, `UNAUTHORIZED` …), or `NETWORK_ERROR`, `BAD_RESPONSE`. */
  readonly code: string;
  /** What the caller can do about it, when the server says. */
  readonly hint: string | undefined;
  /** Every offending field, for INVALID_INPUT. */
  readonly errors: readonly AxoFieldError[];
  /** The server's request id (quote it when reporting a problem). */
  readonly requestId: string | undefined;
  /** The problem document itself, when there was one. */
  readonly problem: AxoProblem | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      readonly hint?: string;
      readonly errors?: readonly AxoFieldError[];
      readonly requestId?: string;
      readonly problem?: AxoProblem;
      readonly cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AxoClientError';
    this.status = status;
    this.code = code;
    this.hint = options.hint;
    this.errors = options.errors ?? [];
    this.requestId = options.requestId;
    this.problem = options.problem;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for an AxoClientError, even one from another copy of this package. */
  static isInstance(error: unknown): error is AxoClientError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
  }
}

function isProblem(value: unknown): value is AxoProblem {
  const v = value as Partial<AxoProblem> | null;
  return typeof v === 'object' && v !== null && typeof v.code === 'string' && typeof v.status === 'number';
}

/** The error a non-2xx answer stands for (its problem+json document when it has one). */
export async function errorFromResponse(response: Response): Promise<AxoClientError> {
  const text = await response.text().catch(() => '');
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (isProblem(body)) {
    return new AxoClientError(response.status, body.code, body.detail ?? body.title ?? body.code, {
      ...(body.hint !== undefined && { hint: body.hint }),
      ...(Array.isArray(body.errors) && { errors: body.errors }),
      requestId: body.requestId ?? requestId,
      problem: body,
    });
  }
  const summary = text.trim().slice(0, 200) || response.statusText || 'no body';
  return new AxoClientError(response.status, `HTTP_${response.status}`, `HTTP ${response.status}: ${summary}`, {
    ...(requestId !== undefined && { requestId }),
  });
}

/** A fetch that failed below HTTP (refused, reset, aborted mid-body). */
export function networkError(error: unknown, what: string): AxoClientError {
  if (AxoClientError.isInstance(error)) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new AxoClientError(0, 'ABORTED', `${what}: aborted`, { cause: error });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new AxoClientError(0, 'NETWORK_ERROR', `${what}: ${reason}`, { cause: error });
}
