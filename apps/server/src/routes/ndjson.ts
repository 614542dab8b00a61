// An application/x-ndjson answer written straight to the socket: one JSON object per line,
// each written as it happens (no buffering), with backpressure left to the caller
// (`write` returns false: wait for `drained()`), and a keepalive line while nothing else
// is said, so proxies and clients can tell a quiet stream from a dead one.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { AxoError } from '@axo/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Milliseconds of silence before a keepalive line. */
export const KEEPALIVE_MS = 15_000;

/** Open streams per server, so a shutdown can end them (it would wait for them otherwise). */
const open = new WeakMap<object, Set<NdjsonReply>>();

/**
 * Ends every open NDJSON stream when the server closes, with an error line saying so (a
 * process runs on: its client reattaches from its offsets once a server is back).
 */
export function endStreamsOnClose(app: FastifyInstance): void {
  app.addHook('preClose', async () => {
    for (const stream of open.get(app) ?? []) {
      stream.end({
        type: 'error',
        code: 'SHUTTING_DOWN',
        message: 'the server is shutting down; a process runs on: reattach from the offsets read',
      });
    }
  });
}

export class NdjsonReply {
  readonly #raw: FastifyReply['raw'];
  readonly #timer: NodeJS.Timeout;
  readonly #onClose: Array<() => void> = [];
  #closed = false;
  #ended = false;
  #lastWrite = Date.now();

  /** Takes the reply over (fastify no longer touches it) and sends the headers. */
  constructor(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { readonly keepaliveMs?: number; readonly onTick?: () => void } = {},
  ) {
    this.#raw = openStream(request, reply, 'application/x-ndjson; charset=utf-8');
    const streams = open.get(request.server) ?? new Set<NdjsonReply>();
    open.set(request.server, streams);
    streams.add(this);
    const gone = () => {
      if (this.#closed) return;
      streams.delete(this);
      this.#closed = true;
      clearInterval(this.#timer);
      for (const handler of this.#onClose.splice(0)) handler();
    };
    this.#raw.on('close', gone);
    const every = options.keepaliveMs ?? KEEPALIVE_MS;
    this.#timer = setInterval(
      () => {
        options.onTick?.();
        // A stream held back by a slow client is not silent: the client has data to read.
        if (Date.now() - this.#lastWrite >= every - 50 && !this.#raw.writableNeedDrain) {
          this.write({ type: 'keepalive' });
        }
      },
      Math.max(every / 3, 10),
    );
    this.#timer.unref();
    // A client that left while the route was still setting up closed the socket before
    // anyone listened: 'close' will not come again, so the stream is over already.
    if (this.#raw.destroyed || request.raw.socket?.destroyed) gone();
  }

  /** The client went away (or the answer ended). */
  get closed(): boolean {
    return this.#closed || this.#ended;
  }

  /** Called once when the connection closes, however it closes. */
  onClose(handler: () => void): void {
    if (this.#closed) handler();
    else this.#onClose.push(handler);
  }

  /** Writes one line; false when the socket is full (wait for `drained()` before writing more). */
  write(line: object): boolean {
    if (this.closed) return false;
    this.#lastWrite = Date.now();
    return this.#raw.write(`${JSON.stringify(line)}\n`);
  }

  /** Resolves once the socket has room again, or the client went away. */
  drained(): Promise<void> {
    if (this.closed || !this.#raw.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#raw.off('drain', done);
        this.#raw.off('close', done);
        resolve();
      };
      this.#raw.once('drain', done);
      this.#raw.once('close', done);
    });
  }

  /** Ends the answer (after an optional last line). */
  end(line?: object): void {
    if (this.closed) return;
    if (line) this.write(line);
    this.#ended = true;
    clearInterval(this.#timer);
    this.#raw.end();
  }

  /** Ends the answer with an error line: the stream stopped for a reason the client should know. */
  fail(error: unknown): void {
    const code = AxoError.isInstance(error) ? error.code : 'INTERNAL';
    const message = error instanceof Error ? error.message : String(error);
    this.end({ type: 'error', code, message });
  }
}

/**
 * Takes a reply over for a stream written as it happens: status 200 and the headers go out
 * now (errors travel inside the stream), and reverse proxies are told not to buffer it.
 */
export function openStream(request: FastifyRequest, reply: FastifyReply, contentType: string): ServerResponse {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': contentType,
    'cache-control': 'no-store',
    // Reverse proxies (nginx) must pass lines on as they come.
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
  });
  raw.flushHeaders();
  return raw;
}

/** What `pumpOutput` writes to: a reply that reports a full socket and says when it has room. */
export interface Backpressured {
  readonly closed: boolean;
  drained(): Promise<void>;
}

/**
 * Feeds a process's stdout and stderr to `send` (which returns false when the socket is full),
 * pausing both streams until `out` drains, so a slow client slows the command instead of
 * filling the server's memory. Resolves once both streams have ended.
 */
export function pumpOutput(
  streams: { stdout: Readable; stderr: Readable },
  out: Backpressured,
  send: (stream: 'stdout' | 'stderr', chunk: Buffer) => boolean,
): Promise<void> {
  let waiting = false;
  const onData = (name: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const room = send(name, chunk);
    if (room || waiting || out.closed) return;
    waiting = true;
    streams.stdout.pause();
    streams.stderr.pause();
    void out.drained().then(() => {
      waiting = false;
      if (out.closed) return;
      streams.stdout.resume();
      streams.stderr.resume();
    });
  };
  const ended = (stream: Readable) =>
    new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
  const done = Promise.all([ended(streams.stdout), ended(streams.stderr)]).then(() => undefined);
  streams.stdout.on('data', onData('stdout'));
  streams.stderr.on('data', onData('stderr'));
  return done;
}
