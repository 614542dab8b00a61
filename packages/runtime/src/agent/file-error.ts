// File errors the agent reports, as typed AxoErrors. The agent's own code stays on the
// error (`agentCode`) so a caller that needs the finer distinction (an HTTP server: IS_DIR
// → 409, TOO_LARGE → 413, NO_SPACE → 507) has it without parsing messages.
import { AxoError, type AxoErrorCode } from '@axo/podman-args/errors';
import { type AgentEndpoint, agentError } from './connection';
import type { ErrorMessage } from './protocol';

/** Error codes the agent gives file requests (packages/agent/README.md, "Files"). */
export type AgentFileErrorCode =
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'IS_DIR'
  | 'NOT_DIR'
  | 'NOT_EMPTY'
  | 'NOT_REGULAR'
  | 'PERMISSION'
  | 'NO_SPACE'
  | 'TOO_LARGE'
  | 'CROSS_DEVICE'
  | 'LIMIT'
  | 'INVALID';

const CODES: Readonly<Record<string, AxoErrorCode>> = {
  NOT_FOUND: 'NOT_FOUND',
  EXISTS: 'CONFLICT',
  IS_DIR: 'CONFLICT',
  NOT_DIR: 'CONFLICT',
  NOT_EMPTY: 'CONFLICT',
  CROSS_DEVICE: 'CONFLICT',
  CONFLICT: 'CONFLICT',
  NOT_REGULAR: 'INVALID_INPUT',
  INVALID: 'INVALID_INPUT',
  PERMISSION: 'PERMISSION_DENIED',
  NO_SPACE: 'NO_SPACE',
  TOO_LARGE: 'TOO_LARGE',
  LIMIT: 'LIMIT',
  // An agent that does not know the request: an older agent, so no file operations here.
  UNSUPPORTED: 'AGENT_UNAVAILABLE',
};

const HINTS: Readonly<Record<string, string>> = {
  PERMISSION:
    "File requests act as the session's user (or the `user` option) with exactly that user's permissions; pass another user to act as them.",
  NO_SPACE: 'The file system inside the session is full; remove files there and try again.',
  TOO_LARGE: 'The data passed maxBytes; the earlier file was left untouched. Raise maxBytes to allow more.',
  LIMIT: 'Each session may hold 16 watches and 8192 watched directories; close other watches first.',
  NOT_REGULAR: 'Only regular files can be read; a FIFO, device or socket is refused without being opened for reading.',
  UNSUPPORTED: 'The session was started by an older axo: recreate it (`axo up --replace`) to use file operations.',
};

const BRAND = Symbol.for('axo.file-error');

/** A file request the agent refused. `code` is axo's; `agentCode` is the agent's own, finer one. */
export class FileError extends AxoError {
  /** The agent's code (`IS_DIR`, `TOO_LARGE`, `NO_SPACE` …), for callers that need more than `code`. */
  readonly agentCode: AgentFileErrorCode | (string & {});
  /** The path the request named (the first one, for a move). */
  readonly path: string;

  constructor(
    code: AxoErrorCode,
    agentCode: string,
    path: string,
    message: string,
    options: { readonly cause?: unknown; readonly hint?: string } = {},
  ) {
    super(code, message, options);
    this.name = 'FileError';
    this.agentCode = agentCode;
    this.path = path;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for a FileError, even one thrown by another installed copy of axo. */
  static override isInstance(error: unknown): error is FileError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
  }
}

/**
 * The agent's refusal of `op` on `path` as a FileError. The message names the path as the
 * caller gave it and keeps the agent's reason (which names the absolute path it resolved).
 */
export function fileError(endpoint: AgentEndpoint, op: string, path: string, m: ErrorMessage): AxoError {
  // A refused token means the session was replaced: the connection layer explains that.
  if (m.code === 'AUTH_FAILED') return agentError(endpoint, m);
  const code = CODES[m.code] ?? 'AGENT_FAILED';
  const reason = m.message || m.code;
  return new FileError(
    code,
    m.code,
    path,
    `cannot ${op} ${JSON.stringify(path)} in session ${endpoint.sessionId}: ${reason}`,
    {
      hint: HINTS[m.code] ?? (code === 'AGENT_FAILED' ? 'The agent failed unexpectedly; see its message.' : undefined),
    },
  );
}
