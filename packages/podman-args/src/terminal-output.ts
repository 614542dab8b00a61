import { ByteRing } from './byte-ring';

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
