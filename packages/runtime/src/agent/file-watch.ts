// A watch on a session's files: the agent's inotify events as an async iterable, with a
// bounded queue. A consumer that stops iterating pauses the connection, so the agent
// blocks in its write and the kernel's inotify queue fills; when it overflows, the agent
// says so (`overflow`) instead of this process buffering without end.
import { AxoError } from '@axo/podman-args/errors';
import { type AgentConnection, agentFailed } from './connection';
import { fileError } from './file-error';
import { type FileEvent, FrameKind } from './protocol';

/** Events queued before the connection is paused, and the level at which it resumes. */
const HIGH_WATER = 1024;
const LOW_WATER = 256;

/**
 * Changes under a watched path, until `close()`. Iterate it with `for await`; leaving the
 * loop closes the watch. A watch that fails (the session ended) throws from the iteration.
 */
export class FileWatch implements AsyncIterable<FileEvent>, AsyncDisposable {
  /** The path as the caller named it. */
  readonly path: string;
  readonly #conn: AgentConnection;
  readonly #queue: FileEvent[] = [];
  #waiter: { resolve: (r: IteratorResult<FileEvent>) => void; reject: (e: Error) => void } | undefined;
  #ended = false;
  #closing = false;
  #error: Error | undefined;

  /** @internal made by AgentFiles.watch once the agent said `watching`. */
  constructor(conn: AgentConnection, path: string) {
    this.#conn = conn;
    this.path = path;
    conn.onFrame((frame) => {
      const m = frame.kind === FrameKind.msg ? frame.message : undefined;
      if (m?.type === 'event') this.#push({ op: m.op, path: m.path, dir: m.dir });
      else if (m?.type === 'error') this.#end(fileError(conn.endpoint, 'watch', path, m));
      else this.#end(agentFailed(conn.endpoint, `sent ${m ? `"${m.type}"` : 'a data frame'} on a watch`));
    });
    void conn.closed.then((error) => {
      if (this.#closing) this.#end();
      else
        this.#end(
          AxoError.isInstance(error)
            ? error
            : new AxoError('SESSION_ENDED', `the watch of ${path} in session ${conn.endpoint.sessionId} ended`, {
                cause: error,
                hint: 'The session was stopped or removed; `axo ls` lists the sessions that still run.',
              }),
        );
    });
    conn.resume();
  }

  /** Events waiting to be taken (at most about 1024: past that the agent is held back). */
  get pending(): number {
    return this.#queue.length;
  }

  /** The next event; `done` once the watch was closed. */
  next(): Promise<IteratorResult<FileEvent>> {
    const event = this.#queue.shift();
    if (event) {
      if (this.#queue.length <= LOW_WATER && !this.#ended) this.#conn.resume();
      return Promise.resolve({ done: false, value: event });
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Stops watching (the agent releases its inotify watches); resolves once the connection closed. */
  async close(): Promise<void> {
    this.#closing = true;
    // Whoever closed it wants no more events, queued ones included.
    this.#queue.length = 0;
    this.#conn.destroy();
    this.#end();
    await this.#conn.closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<FileEvent> {
    return {
      next: () => this.next(),
      // `break` out of a `for await` (or a throw in its body) closes the watch.
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #push(event: FileEvent): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve({ done: false, value: event });
      return;
    }
    this.#queue.push(event);
    if (this.#queue.length >= HIGH_WATER) this.#conn.pause();
  }

  /** Ends the watch: queued events are still delivered, then `done` (or the error). */
  #end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#closing) this.#error = error;
    this.#conn.destroy();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (!waiter) return;
    if (this.#error) waiter.reject(this.#error);
    else waiter.resolve({ done: true, value: undefined });
  }
}
