import type { z } from 'zod';

const BRAND = Symbol.for('axo.error');

/** Every stable error code axo packages throw; match on `code`, never on `message`. */
export type AxoErrorCode =
  | 'INVALID_INPUT'
  | 'PODMAN_MISSING'
  | 'PODMAN_FAILED'
  | 'START_FAILED'
  | 'LIMITS_UNAVAILABLE'
  | 'TIMEOUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PTY_UNAVAILABLE'
  | 'AGENT_UNAVAILABLE'
  | 'AGENT_FAILED'
  | 'SESSION_ENDED'
  | 'PERMISSION_DENIED'
  | 'NO_SPACE'
  | 'TOO_LARGE'
  | 'LIMIT'
  | 'UNSUPPORTED';

export interface AxoErrorOptions {
  /** The underlying error, kept as `cause`. */
  readonly cause?: unknown;
  /** What the user can do about it, one sentence. */
  readonly hint?: string;
}

/** Base of every error axo throws, recognisable across duplicate package copies. */
export class AxoError extends Error {
  readonly code: AxoErrorCode;
  readonly hint: string | undefined;

  constructor(code: AxoErrorCode, message: string, options: AxoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AxoError';
    this.code = code;
    this.hint = options.hint;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for any axo error, even one thrown by another installed copy of axo. */
  static isInstance(error: unknown): error is AxoError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Input that cannot be used as given; `field` names the offending option. */
export class InvalidInputError extends AxoError {
  readonly field: string;

  constructor(field: string, message: string, options: AxoErrorOptions = {}) {
    super('INVALID_INPUT', message, options);
    this.name = 'InvalidInputError';
    this.field = field;
  }
}

/** Parses `value` with `schema`, turning the first zod issue into an InvalidInputError. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  if (issue?.code === 'unrecognized_keys') {
    // zod reports unknown keys on the parent object: name the keys themselves.
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    throw new InvalidInputError(
      keys.join(', '),
      `Invalid ${what}: unknown option(s) ${keys.map((k) => `"${k}"`).join(', ')}`,
      {
        cause: result.error,
        hint: 'Check the spelling against the documented options.',
      },
    );
  }
  const field = path || what;
  const message = issue?.message ?? 'is invalid';
  throw new InvalidInputError(field, `Invalid ${what}: ${field === what ? '' : `${field}: `}${message}`, {
    cause: result.error,
  });
}
