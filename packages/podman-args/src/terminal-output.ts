import { z } from 'zod';
import { ByteRing } from './byte-ring';
import { InvalidInputError } from './errors';

/** Terminal size bounds, on both terminal paths; anything outside is refused. */
export const TERMINAL_LIMITS = Object.freeze({ minCols: 2, maxCols: 1000, minRows: 1, maxRows: 500 });
/** The command a terminal runs when given none: a login bash where the image has one, else sh. */
export const DEFAULT_SHELL_COMMAND = 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi';
export const terminalColsSchema = z.number().int().min(TERMINAL_LIMITS.minCols).max(TERMINAL_LIMITS.maxCols);
export const terminalRowsSchema = z.number().int().min(TERMINAL_LIMITS.minRows).max(TERMINAL_LIMITS.maxRows);

/** Throws INVALID_INPUT, naming the field, for a size outside TERMINAL_LIMITS. */
export function assertTerminalSize(cols: number, rows: number): void {
  const c = terminalColsSchema.safeParse(cols).success;
  if (c && terminalRowsSchema.safeParse(rows).success) return;
  const { minCols, maxCols, minRows, maxRows } = TERMINAL_LIMITS;
  throw new InvalidInputError(
    c ? 'rows' : 'cols',
    `Invalid terminal size ${cols}x${rows}: columns must be ${minCols}-${maxCols} and rows ${minRows}-${maxRows}`,
  );
}

/** A handle that stops a listener. */
export interface ListenerHandle {
  dispose(): void;
}

/**
 * What a terminal printed: a bounded scrollback for clients that attach late, and the
 * listeners that see it live. Both terminal kinds (agent PTY, `podman exec` PTY) use it,
 * so replay and accounting behave the same on either path.
 */
export class TerminalOutput {
  readonly #ring: ByteRing;
  readonly #listeners = new Set<(data: string) => void>();

  constructor(scrollbackBytes: number) {
    this.#ring = new ByteRing(scrollbackBytes);
  }

  /** Keeps `bytes` in the scrollback and hands `text` (their decoded form) to every listener. */
  push(bytes: Buffer, text: string): void {
    this.#ring.push(bytes);
    if (text) for (const listener of this.#listeners) listener(text);
  }

  /** Calls `listener` with output as it arrives; with `replay`, first with the scrollback. */
  onData(listener: (data: string) => void, options: { replay?: boolean } = {}): ListenerHandle {
    if (options.replay) {
      const past = this.scrollback();
      if (past) listener(past);
    }
    this.#listeners.add(listener);
    return { dispose: () => void this.#listeners.delete(listener) };
  }

  /** The most recent output, whole characters only. */
  scrollback(): string {
    return this.#ring.text();
  }

  /** Bytes of output since start, and how many the scrollback no longer holds. */
  get stats(): { totalBytes: number; droppedBytes: number } {
    return { totalBytes: this.#ring.totalBytes, droppedBytes: this.#ring.droppedBytes };
  }
}

/** Calls `listener` once `exited` resolves (at once, asynchronously, if it has), unless disposed first. */
export function onExited<T>(exited: Promise<T>, listener: (exit: T) => void): ListenerHandle {
  let active = true;
  void exited.then((exit) => {
    if (active) listener(exit);
  });
  return {
    dispose: () => {
      active = false;
    },
  };
}
