// Operations on a session's agent: one connection each, taken from the session's idle
// connections when one is there (connection.ts's pool). Streams carry backpressure both
// ways: a slow consumer of stdout pauses the socket (so the agent, then the command, is
// slowed), and stdin is written only as fast as the socket drains.
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { AxoError } from '@axo/podman-args/errors';
import type { OutputSink } from '../process';
import { AgentConnection, type AgentEndpoint, agentError, agentFailed, type ConnectOptions } from './connection';
import { type PodmanRun, resumeIfPaused, runPodman } from './pause';
import {
  type AgentMessage,
  type AgentSignal,
  type AttachedMessage,
  type ExitMessage,
  type Frame,
  FrameKind,
  type LostMessage,
  type PongMessage,
  type ProcInfo,
  type StartedMessage,
} from './protocol';
import { enterStartGate } from './start-gate';

/** What `start` asks the agent to run (see the protocol's `start` request). */
export interface AgentStartSpec {
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly user?: string;
  readonly stdin?: boolean;
  readonly pty?: { readonly cols: number; readonly rows: number };
  readonly combined?: boolean;
  readonly timeoutMs?: number;
  readonly keep?: boolean;
  readonly ringBytes?: number;
  readonly tag?: string;
  readonly id?: string;
  /** Bytes of each stream sent at most; the agent reads and drops the rest (an older agent sends all). */
  readonly outputLimit?: number;
}

export interface AttachOptions {
  /** Offsets to resume from. @default 0 (the oldest held) */
  readonly stdout?: number;
  readonly stderr?: number;
  /** Stream until the process ends. @default true */
  readonly follow?: boolean;
  /** Send input. @default false */
  readonly stdin?: boolean;
  /** No output at all, only the exit (follow implied): waiting for a task. An older agent sends the output. */
  readonly wait?: boolean;
}

/** How a process ended. */
export type AgentExit = ExitMessage;

/**
 * A process streamed from the agent. Read `stdout`/`stderr` (they end after the last
 * byte), write `stdin` when asked for; `exited` resolves after the last byte was pushed.
 */
export class AgentProcess extends EventEmitter<{ lost: [LostMessage]; stdinClosed: [] }> {
  readonly id: string;
  readonly pid: number;
  /** Stream offsets this attachment started at. */
  readonly startOffsets: { readonly stdout: number; readonly stderr: number };
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Input; null unless the process was started or attached with stdin. */
  readonly stdin: Writable | null;
  /** Resolves with the exit (follow) or undefined (snapshot end); rejects if the link broke. */
  readonly exited: Promise<AgentExit | undefined>;
  /** For snapshot reads: the offsets to continue from, once ended. */
  endOffsets: { stdout: number; stderr: number } | undefined;
  readonly #conn: AgentConnection;
  #stdinOpen: boolean;
  #detached = false;
  /** The exit (or end) arrived: the connection went back to the pool or was closed, and is not ours. */
  #ended = false;
  /** Nothing was sent after the request, so the connection can carry another one. */
  #quiet: boolean;

  readonly #sinks: { stdout?: OutputSink; stderr?: OutputSink };

  /** @internal */
  constructor(
    conn: AgentConnection,
    first: { id: string; pid: number; stdout: number; stderr: number },
    stdin: boolean,
    sinks: { stdout?: OutputSink; stderr?: OutputSink } = {},
  ) {
    super();
    this.#conn = conn;
    this.#sinks = sinks;
    this.id = first.id;
    this.pid = first.pid;
    this.startOffsets = { stdout: first.stdout, stderr: first.stderr };
    this.#stdinOpen = stdin;
    this.#quiet = !stdin;
    const resume = () => {
      if (!this.#ended) conn.resume();
    };
    this.stdout = new Readable({ read: resume, highWaterMark: 64 * 1024 });
    this.stderr = new Readable({ read: resume, highWaterMark: 64 * 1024 });
    this.stdin = stdin ? this.#inputStream() : null;
    this.exited = new Promise((resolve, reject) => {
      const finish = (value: AgentExit | undefined, error?: Error) => {
        if (this.#ended) return;
        this.#ended = true;
        this.stdout.push(null);
        this.stderr.push(null);
        this.#stdinOpen = false;
        this.stdin?.destroy();
        if (error) {
          // Readers see the failure too, not a clean end (a stream nobody reads is just closed).
          for (const stream of [this.stdout, this.stderr])
            stream.destroy(stream.listenerCount('error') > 0 ? error : undefined);
          reject(error);
        } else resolve(value);
        if (!error && this.#quiet) conn.recycle();
        else conn.destroy();
      };
      conn.onFrame((frame) => {
        const error = this.#onFrame(frame, finish);
        if (error) finish(undefined, error);
      });
      // The first answer paused the connection; frames after it flow from here.
      conn.resume();
      conn.onClosed((error) => {
        if (this.#ended) return;
        if (this.#detached) finish(undefined);
        else
          finish(
            undefined,
            error && AxoError.isInstance(error)
              ? error
              : new AxoError(
                  'SESSION_ENDED',
                  `session ${conn.endpoint.sessionId} ended while the command ran (its container was removed or stopped)`,
                  { cause: error, hint: '`axo ls` lists the sessions that still run; `axo up` starts one again.' },
                ),
          );
      });
    });
    // A caller that never awaits `exited` must not crash the process on a broken link.
    this.exited.catch(() => undefined);
  }

  #onFrame(frame: Frame, finish: (value: AgentExit | undefined) => void): Error | undefined {
    if (frame.kind === FrameKind.out || frame.kind === FrameKind.err) {
      const sink = frame.kind === FrameKind.out ? this.#sinks.stdout : this.#sinks.stderr;
      if (sink) {
        this.#deliver(sink, frame.data);
        return undefined;
      }
      const target = frame.kind === FrameKind.out ? this.stdout : this.stderr;
      if (!target.destroyed && !target.push(frame.data)) this.#conn.pause();
      return undefined;
    }
    if (frame.kind !== FrameKind.msg) return agentFailed(this.#conn.endpoint, 'sent input frames');
    const m = frame.message;
    switch (m.type) {
      case 'exit':
        finish(m);
        return undefined;
      case 'end':
        // The `end` of a file answer has other fields: out of place here.
        if (!('stdout' in m)) return agentFailed(this.#conn.endpoint, 'ended a stream without its offsets');
        this.endOffsets = { stdout: m.stdout, stderr: m.stderr };
        finish(undefined);
        return undefined;
      case 'lost':
        this.emit('lost', m);
        return undefined;
      case 'stdinClosed':
        this.#stdinOpen = false;
        this.emit('stdinClosed');
        // Whoever pipes into stdin sees it end, and stops reading its own source.
        this.stdin?.destroy();
        return undefined;
      case 'keepalive':
        return undefined;
      case 'error':
        return agentError(this.#conn.endpoint, m);
      default:
        return agentFailed(this.#conn.endpoint, `sent "${m.type}" in the middle of a stream`);
    }
  }

  /** Hands a chunk to a sink; while its promise is pending, nothing more is read. */
  #deliver(sink: OutputSink, chunk: Buffer): void {
    let pending: Promise<void> | undefined;
    try {
      pending = sink(chunk);
    } catch {
      this.kill();
      return;
    }
    if (!pending) return;
    this.#conn.pause();
    pending.then(
      () => this.#resume(),
      () => {
        // A sink that cannot take output any more (its reader left): stop the command.
        this.kill();
        this.#resume();
      },
    );
  }

  #resume(): void {
    if (!this.#ended) this.#conn.resume();
  }

  #inputStream(): Writable {
    return new Writable({
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _encoding, callback) => {
        // Input the process no longer takes is dropped, as a pipe to an exited reader would be.
        if (!this.#stdinOpen) return callback();
        // Called back once the bytes reached the kernel: the caller may then reuse the chunk.
        this.#conn.sendInput(chunk, () => callback());
      },
      final: (callback) => {
        if (this.#stdinOpen) this.#conn.endInput();
        callback();
      },
    });
  }

  /** True while the process still accepts input. */
  get stdinOpen(): boolean {
    return this.#stdinOpen;
  }

  /** Sends a signal to the process itself. */
  signal(signal: AgentSignal): void {
    if (this.#ended) return;
    this.#quiet = false;
    this.#conn.send({ type: 'signal', signal });
  }

  /** Resizes its terminal (PTY processes). */
  resize(cols: number, rows: number): void {
    if (this.#ended) return;
    this.#quiet = false;
    this.#conn.send({ type: 'resize', cols, rows });
  }

  /** Kills the whole process tree; `exited` then resolves with `killed: true`. */
  kill(): void {
    if (this.#ended) return;
    this.#quiet = false;
    this.#conn.send({ type: 'kill' });
  }

  /**
   * Closes this attachment. A background (`keep`) process runs on; any other process is
   * killed by the agent, since its reader went away.
   */
  detach(): void {
    this.#detached = true;
    if (this.#ended) return;
    this.#quiet = false;
    this.#conn.destroy();
  }
}

/** Talks to one session's agent. Cheap to create; every call has a connection of its own while it runs. */
export class AgentClient {
  readonly endpoint: AgentEndpoint;
  readonly #connect: ConnectOptions;
  readonly #podman: PodmanRun;

  constructor(endpoint: AgentEndpoint, options: ConnectOptions & { readonly podman?: PodmanRun } = {}) {
    this.endpoint = endpoint;
    this.#connect = options;
    this.#podman = options.podman ?? runPodman();
  }

  /** Opens a connection (handshake included) without sending a request. */
  async open(): Promise<AgentConnection> {
    // A paused session is resumed first, by whichever process calls: a frozen agent would
    // only time out. One stat when it is not paused.
    await resumeIfPaused(this.endpoint.runDir, `axo-ses-${this.endpoint.sessionId}`, this.#podman);
    return AgentConnection.open(this.endpoint, this.#connect);
  }

  /**
   * Sends `request` on an idle pooled connection (else a new one) and returns the first
   * answer's wait. A pooled connection the agent closed meanwhile (it was idle too long,
   * or the agent went away) gets the request again on a new connection: the agent never
   * reads a request and then closes without answering.
   */
  async #send<T>(request: Request, wait: (conn: AgentConnection) => Promise<T>): Promise<[AgentConnection, T]> {
    await resumeIfPaused(this.endpoint.runDir, `axo-ses-${this.endpoint.sessionId}`, this.#podman);
    const pooled = AgentConnection.pooled(this.endpoint);
    if (pooled) {
      const answer = wait(pooled);
      pooled.request(request);
      try {
        return [pooled, await answer];
      } catch (error) {
        if (!(error instanceof StaleConnection)) throw error;
      }
    }
    const conn = await AgentConnection.open(this.endpoint, this.#connect);
    const answer = wait(conn);
    conn.request(request);
    return [conn, await answer];
  }

  /** Sends one request and returns the one answer, or throws the agent's error. */
  async call(request: Request, timeoutMs = 30_000): Promise<AgentMessage> {
    let used: AgentConnection | undefined;
    const wait = (conn: AgentConnection) => {
      used = conn;
      return new Promise<AgentMessage>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(agentFailed(this.endpoint, `did not answer "${request.type}" within ${timeoutMs} ms`)),
          timeoutMs,
        );
        let answered = false;
        conn.onFrame((frame) => {
          answered = true;
          clearTimeout(timer);
          if (frame.kind !== FrameKind.msg) reject(agentFailed(this.endpoint, `answered "${request.type}" with data`));
          else if (frame.message.type === 'error') reject(agentError(this.endpoint, frame.message));
          else resolve(frame.message);
        });
        conn.onClosed((error) => {
          clearTimeout(timer);
          if (answered) return; // the usual case; no error (and stack) to build
          reject(
            conn.reused && conn.closedByAgent
              ? new StaleConnection()
              : AxoError.isInstance(error)
                ? error
                : agentFailed(this.endpoint, `closed the connection without answering "${request.type}"`, error),
          );
        });
      });
    };
    try {
      const [conn, answer] = await this.#send(request, wait);
      // The one answer is complete: the connection can carry the next request.
      conn.recycle();
      return answer;
    } catch (error) {
      used?.destroy();
      throw error;
    }
  }

  async #expect<T extends AgentMessage['type']>(
    request: { readonly type: string } & Record<string, unknown>,
    type: T,
    timeoutMs?: number,
  ): Promise<Extract<AgentMessage, { type: T }>> {
    const answer = await this.call(request, timeoutMs);
    if (answer.type !== type) throw agentFailed(this.endpoint, `answered "${request.type}" with "${answer.type}"`);
    return answer as Extract<AgentMessage, { type: T }>;
  }

  /** The agent's version, uptime and idle time. */
  ping(timeoutMs = 5000): Promise<PongMessage> {
    return this.#expect({ type: 'ping' }, 'pong', timeoutMs);
  }

  /** Every process the agent knows (running, and finished background ones). */
  async list(): Promise<readonly ProcInfo[]> {
    return (await this.#expect({ type: 'list' }, 'list')).procs;
  }

  /** Signals one process (not its tree). */
  async signal(id: string, signal: AgentSignal): Promise<void> {
    await this.#expect({ type: 'signal', id, signal }, 'ok');
  }

  /** Kills a process's whole tree; resolves with how it ended. */
  kill(id: string): Promise<AgentExit> {
    return this.#expect({ type: 'kill', id }, 'exit', 60_000);
  }

  async resize(id: string, cols: number, rows: number): Promise<void> {
    await this.#expect({ type: 'resize', id, cols, rows }, 'ok');
  }

  /** Drops a finished process and its output. */
  async forget(id: string): Promise<void> {
    await this.#expect({ type: 'forget', id }, 'ok');
  }

  /** Writes `data` to a process's stdin; with `close`, closes it afterwards. */
  async writeStdin(id: string, data: Uint8Array, options: { readonly close?: boolean } = {}): Promise<void> {
    const conn = await this.open();
    try {
      await new Promise<void>((resolve, reject) => {
        conn.onFrame((frame) => {
          if (frame.kind === FrameKind.msg && frame.message.type === 'ok') resolve();
          else if (frame.kind === FrameKind.msg && frame.message.type === 'error')
            reject(agentError(this.endpoint, frame.message));
          else reject(agentFailed(this.endpoint, 'answered stdin with something other than ok'));
        });
        void conn.closed.then((error) =>
          reject(AxoError.isInstance(error) ? error : agentFailed(this.endpoint, 'closed before answering stdin')),
        );
        conn.request({ type: 'stdin', id });
        if (data.length > 0) conn.sendInput(data);
        if (options.close) conn.endInput();
        conn.end();
      });
    } finally {
      conn.destroy();
    }
  }

  /** Starts a process and streams it (to `sinks` when given, else to the process's streams). */
  async start(
    spec: AgentStartSpec,
    sinks: { readonly stdout?: OutputSink; readonly stderr?: OutputSink } = {},
  ): Promise<AgentProcess> {
    const started = await enterStartGate(this.endpoint.runDir);
    let first: StartedMessage;
    let conn: AgentConnection;
    try {
      [conn, first] = await this.#send({ ...spec, type: 'start' }, (c) => firstAnswer(c, 'start', 'started'));
    } finally {
      started();
    }
    return new AgentProcess(conn, { id: first.id, pid: first.pid, stdout: 0, stderr: 0 }, spec.stdin === true, sinks);
  }

  /** Attaches to a process by id, from offsets; `follow: false` reads what is held and ends. */
  async attach(id: string, options: AttachOptions = {}): Promise<AgentProcess> {
    const [conn, first] = await this.#send(
      {
        type: 'attach',
        id,
        stdout: options.stdout ?? 0,
        stderr: options.stderr ?? 0,
        follow: options.follow ?? true,
        stdin: options.stdin ?? false,
        ...(options.wait === true && { wait: true }),
      },
      (c) => firstAnswer(c, 'attach', 'attached'),
    );
    return new AgentProcess(conn, first as AttachedMessage, options.stdin === true);
  }
}

/** A pooled connection that closed before answering: the request goes on a new one. */
class StaleConnection extends Error {}

type Request = { readonly type: string } & Record<string, unknown>;

/** Waits for a streaming request's first answer (`started`/`attached`); the caller sends it. */
function firstAnswer<T extends 'started' | 'attached'>(
  conn: AgentConnection,
  request: string,
  type: T,
): Promise<Extract<AgentMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    let answered = false;
    conn.onFrame((frame) => {
      answered = true;
      // Hold everything after the first answer for the process object.
      conn.pause();
      if (frame.kind === FrameKind.msg && frame.message.type === type) {
        resolve(frame.message as Extract<AgentMessage, { type: T }>);
        return;
      }
      conn.destroy();
      if (frame.kind === FrameKind.msg && frame.message.type === 'error') {
        reject(agentError(conn.endpoint, frame.message));
      } else reject(agentFailed(conn.endpoint, `answered "${request}" with something other than "${type}"`));
    });
    conn.onClosed((error) => {
      // Every connection closes; an error (and its stack) is built only when it matters.
      if (answered) return;
      reject(
        conn.reused && conn.closedByAgent
          ? new StaleConnection()
          : AxoError.isInstance(error)
            ? error
            : new AxoError(
                'SESSION_ENDED',
                `session ${conn.endpoint.sessionId} closed the connection before answering`,
                {
                  cause: error,
                },
              ),
      );
    });
  });
}
