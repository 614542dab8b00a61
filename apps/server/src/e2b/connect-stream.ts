// The answer of a server-streaming Connect call, written straight to the socket: envelopes
// as events happen, backpressure left to the caller (`send` returns false: wait for
// `drained()`), a keepalive message after `keepaliveMs` of silence (the SDK asks for one
// every 50 s in its Keepalive-Ping-Interval header), the call's deadline (Connect-Timeout-Ms)
// ending it with deadline_exceeded, and always an end-of-stream envelope last.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { openStream } from '../routes/ndjson';
import { endStreamEnvelope, messageEnvelope, RpcError } from './connect';
import type { SandboxResource } from './sandboxes';

export interface ConnectStreamOptions {
  /** Milliseconds of silence before a keepalive message; undefined: none. */
  readonly keepaliveMs?: number | undefined;
  /** The keepalive message itself (`{event:{keepalive:{}}}` for processes). */
  readonly keepalive?: object;
  /** Milliseconds until the call's deadline; undefined: none. */
  readonly deadlineMs?: number | undefined;
  /** Called on every keepalive tick (the session is in use while the stream is open). */
  readonly onTick?: () => void;
}

/** The keepalive interval a request asks for (`Keepalive-Ping-Interval`, seconds), bounded. */
export function keepaliveFromHeader(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\d{1,6}$/.test(text)) return undefined;
  return Math.min(Math.max(Number(text), 1), 3600) * 1000;
}

export class ConnectStream implements SandboxResource {
  readonly #raw: FastifyReply['raw'];
  readonly #onClose: Array<() => void> = [];
  readonly #timers: NodeJS.Timeout[] = [];
  /** Writers waiting in `drained()`; end() and the client leaving release them too. */
  readonly #waiting = new Set<() => void>();
  #closed = false;
  #ended = false;
  #lastWrite = Date.now();

  /** Takes the reply over and sends the headers (200: errors travel in the end-of-stream envelope). */
  constructor(request: FastifyRequest, reply: FastifyReply, options: ConnectStreamOptions = {}) {
    this.#raw = openStream(request, reply, 'application/connect+json');
    this.#raw.on('close', () => this.#clientGone());
    // A client that left while the call was being set up (the sandbox looked up, the command
    // started) closed the socket before anyone listened: 'close' will not come again. Without
    // this the stream would write into a dead socket and count a client that is not there.
    if (this.#raw.destroyed || request.raw.socket?.destroyed) {
      this.#clientGone();
      return;
    }
    const every = options.keepaliveMs;
    if (every !== undefined && options.keepalive) {
      const keepalive = options.keepalive;
      const timer = setInterval(
        () => {
          options.onTick?.();
          if (Date.now() - this.#lastWrite >= every - 50 && !this.#raw.writableNeedDrain) this.send(keepalive);
        },
        Math.max(every / 3, 10),
      );
      timer.unref();
      this.#timers.push(timer);
    }
    if (options.deadlineMs !== undefined) {
      const timer = setTimeout(
        () => this.end(new RpcError('deadline_exceeded', `the call's deadline (${options.deadlineMs} ms) passed`)),
        options.deadlineMs,
      );
      timer.unref();
      this.#timers.push(timer);
    }
  }

  /** The client went away, or the answer ended. */
  get closed(): boolean {
    return this.#closed || this.#ended;
  }

  /** Called once when the answer is over, however it ends (client gone, end, deadline). */
  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.#onClose.push(handler);
  }

  /** Writes one message; false when the socket is full (wait for `drained()` before writing more). */
  send(message: object): boolean {
    if (this.closed) return false;
    this.#lastWrite = Date.now();
    return this.#raw.write(messageEnvelope(message));
  }

  /** Resolves once the socket has room again, or the answer is over. */
  drained(): Promise<void> {
    if (this.closed || !this.#raw.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#raw.off('drain', done);
        this.#waiting.delete(done);
        resolve();
      };
      this.#waiting.add(done);
      this.#raw.once('drain', done);
    });
  }

  /** Ends the answer with the end-of-stream envelope (carrying `error`, if any). */
  end(error?: RpcError): void {
    if (this.closed) return;
    this.#ended = true;
    this.#clearTimers();
    this.#raw.end(endStreamEnvelope(error));
    this.#releaseWaiting();
    for (const handler of this.#onClose.splice(0)) handler();
  }

  /** A sandbox resource: its sandbox went away. */
  close(reason: RpcError): void {
    this.end(reason);
  }

  #clientGone(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimers();
    this.#releaseWaiting();
    for (const handler of this.#onClose.splice(0)) handler();
  }

  #releaseWaiting(): void {
    for (const done of [...this.#waiting]) done();
  }

  #clearTimers(): void {
    for (const t of this.#timers.splice(0)) {
      clearInterval(t);
      clearTimeout(t);
    }
  }
}
