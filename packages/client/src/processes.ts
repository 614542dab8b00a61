// Streaming exec: a process started in a session streams its output as NDJSON; its handle
// reads it at the caller's pace, remembers the offsets read, and can be reattached from
// them after a disconnect (the process runs on; the server's agent keeps its output).
import { fromBase64 } from './base64';
import { AxoClientError } from './errors';
import { linked, seg, type Transport } from './http';
import { ndjson } from './ndjson';
import type {
  ProcessEvent,
  ProcessExit,
  ProcessInfo,
  ProcessWireEvent,
  StartProcessRequest,
  StreamOffsets,
} from './types';

/** A signal by name (`TERM`, `SIGTERM`) or number. */
export type ProcessSignal =
  | 'HUP'
  | 'INT'
  | 'QUIT'
  | 'KILL'
  | 'TERM'
  | 'USR1'
  | 'USR2'
  | 'STOP'
  | 'CONT'
  | 'WINCH'
  | `SIG${'HUP' | 'INT' | 'QUIT' | 'KILL' | 'TERM' | 'USR1' | 'USR2' | 'STOP' | 'CONT' | 'WINCH'}`
  | number;

type StartLine = Extract<ProcessWireEvent, { type: 'start' }>;

/** Everything a process produced, collected (`ProcessHandle.collect`). */
export interface ProcessOutput {
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  /** Undefined when the stream ended without the exit (follow: false, or disconnect()). */
  readonly exit: ProcessExit | undefined;
}

/**
 * A running (or finished) process and the stream of its output. Iterate it (`for await`)
 * for its events — one reader per handle — or `wait()` / `collect()`. The process keeps
 * running when this handle disconnects; `processes.connect(sessionId, handle.id, handle.offsets)`
 * continues exactly where this one stopped.
 */
export class ProcessHandle implements AsyncIterable<ProcessEvent> {
  readonly sessionId: string;
  /** The process id (use it, or `pid`, with the other calls). */
  readonly id: string;
  /** Its pid inside the container. */
  readonly pid: number;
  /** Whether it was running when this stream began. */
  readonly running: boolean;
  /** Offsets just past the last byte read, per stream: reconnect from here. */
  readonly offsets: StreamOffsets;
  /**
   * Resolves with the exit once the stream has delivered it (iterate, `wait()` or
   * `collect()` to read that far), or with undefined when the stream ended without it
   * (`follow: false`, `disconnect()`); rejects when the stream failed.
   */
  readonly exited: Promise<ProcessExit | undefined>;
  readonly #processes: Processes;
  readonly #lines: AsyncGenerator<unknown, void>;
  readonly #abort: AbortController;
  #settle: (exit: ProcessExit | undefined, error?: unknown) => void = () => {};
  #reading = false;
  #disconnected = false;

  /** @internal made by `processes.start` and `processes.connect`. */
  constructor(
    processes: Processes,
    sessionId: string,
    start: StartLine,
    lines: AsyncGenerator<unknown, void>,
    abort: AbortController,
  ) {
    this.#processes = processes;
    this.sessionId = sessionId;
    this.id = start.id;
    this.pid = start.pid;
    this.running = start.running;
    this.offsets = { stdout: start.stdout, stderr: start.stderr };
    this.#lines = lines;
    this.#abort = abort;
    this.exited = new Promise((resolve, reject) => {
      let settled = false;
      this.#settle = (exit, error) => {
        if (settled) return;
        settled = true;
        if (error === undefined) resolve(exit);
        else reject(error);
      };
    });
    // Awaiting `exited` is optional: a failure is also thrown to the reader.
    this.exited.catch(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<ProcessEvent> {
    if (this.#reading) throw new Error('a process stream has one reader: it is being read already');
    this.#reading = true;
    return this.#events();
  }

  async *#events(): AsyncGenerator<ProcessEvent, void> {
    let ended = false;
    try {
      for await (const raw of this.#lines) {
        const line = raw as ProcessWireEvent;
        switch (line.type) {
          case 'keepalive':
          case 'start':
            break;
          case 'stdout':
          case 'stderr': {
            const data = fromBase64(line.data);
            this.offsets[line.type] = line.offset + data.length;
            yield { type: line.type, offset: line.offset, data };
            break;
          }
          case 'lost':
            this.offsets[line.stream] = Math.max(this.offsets[line.stream], line.to);
            yield line;
            break;
          case 'exit':
            ended = true;
            this.#settle(line);
            yield line;
            return;
          case 'end':
            ended = true;
            this.offsets.stdout = line.stdout;
            this.offsets.stderr = line.stderr;
            this.#settle(undefined);
            yield line;
            return;
          case 'error':
            throw new AxoClientError(0, line.code, line.message);
          default:
            throw new AxoClientError(0, 'BAD_RESPONSE', `unexpected line in a process stream: ${JSON.stringify(line)}`);
        }
      }
      if (!this.#disconnected) {
        throw new AxoClientError(0, 'BAD_RESPONSE', 'the process stream ended before the process did');
      }
    } catch (error) {
      // After disconnect() the broken-off read is what was asked for.
      if (this.#disconnected) return;
      this.#settle(undefined, error);
      throw error;
    } finally {
      if (!ended) this.#settle(undefined);
      this.#abort.abort();
    }
  }

  /** Reads the rest of the stream (discarding output) and resolves with the exit. */
  async wait(): Promise<ProcessExit | undefined> {
    if (!this.#reading) for await (const _ of this);
    return this.exited;
  }

  /** Reads the rest of the stream and returns all output, with the exit. */
  async collect(): Promise<ProcessOutput> {
    const parts: Record<'stdout' | 'stderr', Uint8Array[]> = { stdout: [], stderr: [] };
    for await (const event of this)
      if (event.type === 'stdout' || event.type === 'stderr') parts[event.type].push(event.data);
    return { stdout: concat(parts.stdout), stderr: concat(parts.stderr), exit: await this.exited };
  }

  /** Writes to its stdin (it must have been started with `stdin: true`); `close` ends the input after. */
  sendStdin(data: Uint8Array | string, options: { readonly close?: boolean } = {}): Promise<void> {
    return this.#processes.sendStdin(this.sessionId, this.id, data, options);
  }

  /** Closes its stdin (end of input; on a PTY, ^D). */
  closeStdin(): Promise<void> {
    return this.#processes.closeStdin(this.sessionId, this.id);
  }

  /** Sends a signal to the process itself. */
  signal(signal: ProcessSignal): Promise<void> {
    return this.#processes.signal(this.sessionId, this.id, signal);
  }

  /** Resizes its terminal (PTY processes). */
  resize(cols: number, rows: number): Promise<void> {
    return this.#processes.resize(this.sessionId, this.id, cols, rows);
  }

  /** Kills it and its whole tree; resolves with how it ended. */
  kill(): Promise<ProcessExit> {
    return this.#processes.kill(this.sessionId, this.id);
  }

  /** Stops reading: the process keeps running and its output waits in the server's ring. */
  disconnect(): void {
    this.#disconnected = true;
    this.#abort.abort();
    this.#settle(undefined);
    if (!this.#reading) {
      this.#reading = true;
      void this.#lines.return(undefined).catch(() => undefined);
    }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Options for reading a process stream. */
export interface StreamOptions {
  /** Aborting stops reading (the process runs on). */
  readonly signal?: AbortSignal;
}

/** `client.processes`: streaming exec (a superset of E2B's process service). */
export class Processes {
  readonly #t: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** Starts a process; resolves once it runs, with a handle on its output stream. */
  async start(sessionId: string, request: StartProcessRequest, options: StreamOptions = {}): Promise<ProcessHandle> {
    const abort = linked(options.signal);
    const response = await this.#t.request('POST', `/v1/sessions/${seg(sessionId)}/processes`, {
      json: request,
      signal: abort.signal,
    });
    return this.#open(sessionId, response, abort);
  }

  /**
   * Reattaches to a process (by id or pid) from offsets (`handle.offsets`): every byte still
   * held from there, exactly once, a `lost` event where the ring dropped some, then live
   * output. With `follow: false`, what is held, then an `end` event.
   */
  async connect(
    sessionId: string,
    pid: string | number,
    from: Partial<StreamOffsets> & { readonly follow?: boolean } = {},
    options: StreamOptions = {},
  ): Promise<ProcessHandle> {
    const abort = linked(options.signal);
    const response = await this.#t.request('GET', `/v1/sessions/${seg(sessionId)}/processes/${seg(pid)}/stream`, {
      query: { stdout: from.stdout, stderr: from.stderr, follow: from.follow },
      signal: abort.signal,
    });
    return this.#open(sessionId, response, abort);
  }

  async #open(sessionId: string, response: Response, abort: AbortController): Promise<ProcessHandle> {
    if (!response.body) throw new AxoClientError(0, 'BAD_RESPONSE', 'a process stream without a body');
    const lines = ndjson(response.body, 'process stream');
    const first = await lines.next().catch((error: unknown) => {
      abort.abort();
      throw error;
    });
    const line = first.value as ProcessWireEvent | undefined;
    if (line?.type !== 'start') {
      abort.abort();
      if (line?.type === 'error') throw new AxoClientError(0, line.code, line.message);
      throw new AxoClientError(0, 'BAD_RESPONSE', 'a process stream must begin with a start line');
    }
    return new ProcessHandle(this, sessionId, line, lines, abort);
  }

  /** Every process of the session: running ones and finished background ones. */
  async list(sessionId: string): Promise<ProcessInfo[]> {
    const r = await this.#t.json<{ processes: ProcessInfo[] }>('GET', `/v1/sessions/${seg(sessionId)}/processes`);
    return r.processes;
  }

  async sendStdin(
    sessionId: string,
    pid: string | number,
    data: Uint8Array | string,
    options: { readonly close?: boolean } = {},
  ): Promise<void> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    await this.#t.request('POST', `/v1/sessions/${seg(sessionId)}/processes/${seg(pid)}/stdin`, {
      bytes: bytes as BodyInit,
      query: { close: options.close ? 'true' : undefined },
    });
  }

  closeStdin(sessionId: string, pid: string | number): Promise<void> {
    return this.sendStdin(sessionId, pid, new Uint8Array(0), { close: true });
  }

  async signal(sessionId: string, pid: string | number, signal: ProcessSignal): Promise<void> {
    await this.#t.request('POST', `/v1/sessions/${seg(sessionId)}/processes/${seg(pid)}/signal`, {
      json: { signal },
    });
  }

  async resize(sessionId: string, pid: string | number, cols: number, rows: number): Promise<void> {
    await this.#t.request('POST', `/v1/sessions/${seg(sessionId)}/processes/${seg(pid)}/resize`, {
      json: { cols, rows },
    });
  }

  /** Kills a process and its whole tree; resolves with how it ended. */
  kill(sessionId: string, pid: string | number): Promise<ProcessExit> {
    return this.#t.json<ProcessExit>('DELETE', `/v1/sessions/${seg(sessionId)}/processes/${seg(pid)}`);
  }
}
