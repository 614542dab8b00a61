// One connection to a session's agent: a safe connect into a directory the container
// controls, the handshake, and a frame pump with flow control. A connection carries one
// operation at a time; idle ones are pooled for the next (packages/agent/README.md).
import { closeSync, constants, existsSync, fstatSync, openSync } from 'node:fs';
import net from 'node:net';
import { AxoError } from '@axo/podman-args/errors';
import { agentSocketPath } from './paths';
import {
  type AgentMessage,
  authMac,
  encodeFrame,
  encodeMessage,
  type Frame,
  FrameDecoder,
  FrameKind,
  type HelloMessage,
  HOST_PROTOCOL,
  MAX_PAYLOAD,
  ProtocolError,
} from './protocol';

// O_PATH is not in fs.constants; its value is fixed by the Linux ABI on every architecture
// the agent is built for.
const O_PATH = 0o10000000;

/** How to reach one session's agent. */
export interface AgentEndpoint {
  /** The session's host run dir (holds `s/agent.sock`). */
  readonly runDir: string;
  /** The session's token (64 hex characters). */
  readonly token: string;
  /** The session id, for messages. */
  readonly sessionId: string;
}

export interface ConnectOptions {
  /** Deadline for connecting and the agent's hello. @default 5000 */
  readonly timeoutMs?: number;
}

/** The session's agent cannot be reached (no socket, refused, or no hello). */
function unavailable(endpoint: AgentEndpoint, why: string, cause?: unknown, ended = false): AxoError {
  return new AxoError(
    ended ? 'SESSION_ENDED' : 'AGENT_UNAVAILABLE',
    ended ? `session ${endpoint.sessionId} has ended: ${why}` : `the agent of session ${endpoint.sessionId} ${why}`,
    {
      cause,
      hint: ended
        ? 'Start it again with `axo up` (or SessionSandbox.start).'
        : 'The session may predate the agent; axo falls back to podman exec where it can.',
    },
  );
}

/** The agent broke the protocol: a failure, never a hang or a crash of the host. */
export function agentFailed(endpoint: AgentEndpoint, why: string, cause?: unknown): AxoError {
  return new AxoError('AGENT_FAILED', `the agent of session ${endpoint.sessionId} ${why}`, {
    cause,
    hint: 'Container root can replace the agent; if nobody did, this is a bug: remove and restart the session.',
  });
}

/**
 * Opens the socket without following a link the container may have put in its place:
 * an O_PATH|O_NOFOLLOW descriptor pins the inode, fstat proves it is a socket, and the
 * connect goes through /proc/self/fd, so nothing can be swapped in between.
 */
function connectSafely(endpoint: AgentEndpoint): Promise<net.Socket> {
  const path = agentSocketPath(endpoint.runDir);
  let fd: number;
  try {
    fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    // Without its run dir (removed with the container), the session is gone for good.
    const ended = code === 'ENOENT' && !existsSync(endpoint.runDir);
    return Promise.reject(
      ended
        ? unavailable(endpoint, 'it was removed', cause, true)
        : code === 'ENOENT'
          ? unavailable(endpoint, 'has no socket (the session has no agent, or it has not started yet)', cause)
          : unavailable(endpoint, `socket cannot be opened (${code})`, cause),
    );
  }
  try {
    if (!fstatSync(fd).isSocket()) {
      closeSync(fd);
      return Promise.reject(
        agentFailed(endpoint, 'socket path holds something that is not a socket (a link or file was put there)'),
      );
    }
  } catch (cause) {
    closeSync(fd);
    return Promise.reject(unavailable(endpoint, 'socket cannot be checked', cause));
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect(`/proc/self/fd/${fd}`);
    let open = true;
    const done = () => {
      if (open) closeSync(fd);
      open = false;
    };
    const onError = (cause: NodeJS.ErrnoException) => {
      done();
      socket.destroy();
      reject(
        cause.code === 'ECONNREFUSED'
          ? unavailable(endpoint, 'its agent no longer answers (the container is gone)', cause, true)
          : unavailable(endpoint, `refused the connection (${cause.code})`, cause),
      );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      done();
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Idle connections kept per session, and how long one may wait for its next request. */
const POOL_SIZE = 8;
const POOL_IDLE_MS = 2000;

/**
 * Connections whose last operation ended cleanly, per session (run dir and token: a
 * session recreated under the same id has a new token), most recently used last. A
 * command then costs no connect, greeting or HMAC: the agent reads the next request on
 * the same connection (its "reuse" feature). Idle ones keep no process alive (unref) and
 * close after POOL_IDLE_MS.
 */
const pool = new Map<string, AgentConnection[]>();
const poolKey = (endpoint: AgentEndpoint) => `${endpoint.runDir}\0${endpoint.token}`;

/** A live, authenticated-on-first-send connection to an agent. */
export class AgentConnection {
  readonly endpoint: AgentEndpoint;
  readonly hello: HelloMessage;
  /** The protocol version chosen for this connection. */
  readonly protocol: number;
  /** The agent takes further requests on this connection once an answer is complete. */
  readonly reusable: boolean;
  /** This connection carried an operation before the current one (it came from the pool). */
  reused = false;
  readonly #socket: net.Socket;
  readonly #decoder: FrameDecoder;
  readonly #poolKey: string;
  #onFrame: ((frame: Frame) => void) | undefined;
  #onClosed: ((error: Error | undefined) => void) | undefined;
  #closed: Promise<Error | undefined>;
  #error: Error | undefined;
  #paused = false;
  #authed = false;
  #socketClosed = false;
  #abandoned = false;
  #resolveClosed: () => void = () => {};
  #closedDone = false;

  private constructor(endpoint: AgentEndpoint, socket: net.Socket, decoder: FrameDecoder, hello: HelloMessage) {
    this.endpoint = endpoint;
    this.#socket = socket;
    this.#decoder = decoder;
    this.#poolKey = poolKey(endpoint);
    this.hello = hello;
    this.protocol = Math.min(hello.protocol.max, HOST_PROTOCOL.max);
    this.reusable = hello.features.includes('reuse');
    // "Closed" means closed *and* every frame that arrived before was delivered: a paused
    // consumer must still get the exit message the agent sent just before closing.
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = () => {
        resolve(this.#error);
        this.#closedDone = true;
        const onClosed = this.#onClosed;
        this.#onClosed = undefined;
        onClosed?.(this.#error);
      };
    });
    socket.once('close', () => {
      this.#socketClosed = true;
      this.#pump();
    });
    socket.on('data', (chunk: Buffer) => {
      this.#decoder.push(chunk);
      this.#pump();
    });
    socket.on('error', (error) => {
      this.#error ??= error;
    });
    socket.on('timeout', () => this.destroy()); // idle in the pool for too long
  }

  /** An idle connection to this session's agent from the pool, if one is open. */
  static pooled(endpoint: AgentEndpoint): AgentConnection | undefined {
    const key = poolKey(endpoint);
    const idle = pool.get(key);
    for (let conn = idle?.pop(); conn; conn = idle?.pop()) {
      if (idle?.length === 0) pool.delete(key);
      if (conn.#socket.destroyed) continue;
      conn.#socket.setTimeout(0);
      conn.#socket.ref();
      conn.#onFrame = undefined;
      conn.#onClosed = undefined;
      conn.reused = true;
      return conn;
    }
    return undefined;
  }

  /**
   * Hands the connection back once its operation ended cleanly (its last answer read,
   * nothing sent after the request), for the next request to this session; anything else
   * (or a full pool) closes it.
   */
  recycle(): void {
    const key = this.#poolKey;
    const idle = pool.get(key) ?? [];
    if (!this.reusable || this.#socketClosed || this.#paused || !this.#decoder.atBoundary || idle.length >= POOL_SIZE) {
      this.destroy();
      return;
    }
    // Idle, anything the agent says is out of place, save a keepalive that crossed the exit.
    this.#onFrame = (frame) => {
      if (frame.kind !== FrameKind.msg || frame.message.type !== 'keepalive') this.destroy();
    };
    this.#onClosed = () => {
      const at = idle.indexOf(this);
      if (at >= 0) idle.splice(at, 1);
      if (idle.length === 0 && pool.get(key) === idle) pool.delete(key);
    };
    idle.push(this);
    pool.set(key, idle);
    this.#socket.setTimeout(POOL_IDLE_MS);
    this.#socket.unref();
  }

  /**
   * Calls `handler` once when the connection closes, with the error that closed it; one
   * handler at a time (a pooled connection carries many operations, and each sets its own).
   */
  onClosed(handler: (error: Error | undefined) => void): void {
    if (this.#closedDone) queueMicrotask(() => handler(this.#error));
    else this.#onClosed = handler;
  }

  /** Connects, reads the agent's hello and checks the protocol range; nothing is sent yet. */
  static async open(endpoint: AgentEndpoint, options: ConnectOptions = {}): Promise<AgentConnection> {
    const timeoutMs = options.timeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable(endpoint, `did not answer within ${timeoutMs} ms (is the session paused or hung?)`)),
        timeoutMs,
      );
    });
    let socket: net.Socket | undefined;
    try {
      socket = await Promise.race([connectSafely(endpoint), deadline]);
      const s = socket;
      // Errors during the greeting show up as its close; never as an uncaught 'error'.
      s.on('error', () => {});
      const decoder = new FrameDecoder();
      const hello = await Promise.race([readHello(endpoint, s, decoder), deadline]);
      if (hello.protocol.max < HOST_PROTOCOL.min || hello.protocol.min > HOST_PROTOCOL.max) {
        throw new AxoError(
          'AGENT_FAILED',
          `the agent of session ${endpoint.sessionId} speaks protocol ${hello.protocol.min}..${hello.protocol.max}; ` +
            `this axo speaks ${HOST_PROTOCOL.min}..${HOST_PROTOCOL.max}`,
          { hint: 'The session was started by another axo version: recreate it (`axo up --replace`).' },
        );
      }
      return new AgentConnection(endpoint, s, decoder, hello);
    } catch (error) {
      socket?.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a request; the first one carries the authentication in the same write. */
  request(message: { readonly type: string } & Record<string, unknown>): void {
    if (this.#authed) {
      this.#socket.write(encodeMessage(message));
      return;
    }
    this.#authed = true;
    const auth = encodeMessage({
      type: 'auth',
      protocol: this.protocol,
      mac: authMac(this.endpoint.token, this.hello.nonce),
      ...(this.reusable && { reuse: true }),
    });
    this.#socket.write(Buffer.concat([auth, encodeMessage(message)]));
  }

  /** Sends a control message on an attached stream. */
  send(message: { readonly type: string } & Record<string, unknown>): boolean {
    return this.#socket.write(encodeMessage(message));
  }

  /**
   * Sends input bytes, split into frames whose payload is written as it is (no copy);
   * `done` is called once all of it reached the kernel, after which `data` may be reused.
   */
  sendInput(data: Uint8Array, done?: () => void): void {
    const socket = this.#socket;
    socket.cork();
    for (let at = 0; at < data.length; at += MAX_PAYLOAD) {
      const part = data.subarray(at, Math.min(data.length, at + MAX_PAYLOAD));
      const header = Buffer.allocUnsafe(5);
      header[0] = FrameKind.in;
      header.writeUInt32BE(part.length, 1);
      socket.write(header);
      socket.write(part, at + MAX_PAYLOAD >= data.length ? () => done?.() : undefined);
    }
    if (data.length === 0) done?.();
    socket.uncork();
  }

  /** Sends the end-of-input frame. */
  endInput(): void {
    this.#socket.write(encodeFrame(FrameKind.in, Buffer.alloc(0)));
  }

  /** Delivers every frame (in order) to `handler`; frames already buffered go at once. */
  onFrame(handler: (frame: Frame) => void): void {
    this.#onFrame = handler;
    // The socket was paused after the hello; frames that came with it go first.
    queueMicrotask(() => {
      this.#pump();
      if (!this.#paused) this.#socket.resume();
    });
  }

  /** Stops delivering frames (the socket stops reading, so the agent is slowed down). */
  pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#pump();
    if (!this.#paused) this.#socket.resume();
  }

  /**
   * The agent closed the connection (or it broke), not this side: a request sent on it
   * was not run, since the agent never reads a request and then closes without answering.
   */
  get closedByAgent(): boolean {
    return this.#socketClosed && !this.#abandoned;
  }

  /** Resolves when the connection has closed, with the error that closed it, if any. */
  get closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  /** Half-closes: no more requests or input from this side. */
  end(): void {
    this.#socket.end();
  }

  /** Closes at once. */
  destroy(error?: Error): void {
    if (error) this.#error ??= error;
    this.#abandoned = true;
    this.#socket.destroy();
  }

  #pump(): void {
    try {
      // After a broken frame nothing more is decoded: what follows it means nothing.
      while (this.#onFrame && !this.#paused && !this.#abandoned) {
        const frame = this.#decoder.next();
        if (!frame) break;
        this.#onFrame(frame);
      }
    } catch (error) {
      const reason =
        error instanceof ProtocolError
          ? agentFailed(this.endpoint, `broke the protocol: ${error.message}`, error)
          : (error as Error);
      this.destroy(reason);
    }
    // Once the socket is gone, what arrived before is delivered first (unless this side
    // gave up on the connection itself).
    const delivered = this.#decoder.buffered === 0 || (this.#onFrame !== undefined && !this.#paused);
    if (this.#socketClosed && (delivered || this.#abandoned)) this.#resolveClosed();
  }
}

/** Reads the first frame, which must be the agent's hello (or an error it explains). */
function readHello(endpoint: AgentEndpoint, socket: net.Socket, decoder: FrameDecoder): Promise<HelloMessage> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      decoder.push(chunk);
      let frame: Frame | undefined;
      try {
        frame = decoder.next();
      } catch (error) {
        cleanup();
        reject(agentFailed(endpoint, `sent a malformed greeting: ${(error as Error).message}`, error));
        return;
      }
      if (!frame) return;
      cleanup();
      // Frames after the hello stay buffered in the decoder for the connection.
      socket.pause();
      if (frame.kind === FrameKind.msg && frame.message.type === 'hello') resolve(frame.message);
      else if (frame.kind === FrameKind.msg && frame.message.type === 'error') {
        reject(agentFailed(endpoint, `refused the connection: ${frame.message.message}`));
      } else reject(agentFailed(endpoint, 'did not start with a hello'));
    };
    const onClose = () => {
      cleanup();
      reject(unavailable(endpoint, 'closed the connection before saying hello', undefined, true));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** The agent's error message as a typed error. */
export function agentError(endpoint: AgentEndpoint, message: AgentMessage & { type: 'error' }): AxoError {
  // Our token was right when this endpoint was made: a refusal now means another start
  // replaced the session (a new container, a new token) since.
  if (message.code === 'AUTH_FAILED') {
    return new AxoError(
      'SESSION_ENDED',
      `session ${endpoint.sessionId} was replaced by a newer start (its agent no longer knows this client's token)`,
      { hint: 'Attach again (SessionSandbox.attach) to use the session that runs now.' },
    );
  }
  const code =
    message.code === 'NOT_FOUND'
      ? 'NOT_FOUND'
      : message.code === 'INVALID'
        ? 'INVALID_INPUT'
        : message.code === 'CONFLICT'
          ? 'CONFLICT'
          : message.code === 'UNSUPPORTED'
            ? 'AGENT_UNAVAILABLE'
            : 'AGENT_FAILED';
  return new AxoError(code, `session ${endpoint.sessionId}: ${message.message || message.code}`);
}
