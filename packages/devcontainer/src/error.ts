import { AxoError } from '@axo/podman-args';

/** What a DevcontainerError may carry besides its position. */
export interface DevcontainerErrorOptions {
  /** What the user can do about it. @default 'Fix the file, or move it aside to start without it.' */
  readonly hint?: string;
  /** The underlying error, kept as `cause`. */
  readonly cause?: unknown;
}

/**
 * devcontainer.json could not be read or used; `line` and `column` are 1-based. Problems
 * with the file as a whole (its size, where it lives) point at 1:1.
 */
export class DevcontainerError extends AxoError {
  readonly file: string | undefined;
  readonly line: number;
  readonly column: number;

  constructor(
    file: string | undefined,
    line: number,
    column: number,
    message: string,
    options: DevcontainerErrorOptions = {},
  ) {
    super('INVALID_INPUT', `${file ?? 'devcontainer.json'}:${line}:${column}: ${message}`, {
      hint: options.hint ?? 'Fix the file, or move it aside to start without it.',
      cause: options.cause,
    });
    this.name = 'DevcontainerError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}
