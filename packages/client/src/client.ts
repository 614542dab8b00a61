// createClient: the typed client of axo-server. Requests and answers are the server's own
// schemas (generated from its OpenAPI document into src/generated/schema.ts).
import { Files } from './files';
import { seg, Transport } from './http';
import { Processes } from './processes';
import { Terminals, type WebSocketConstructor } from './terminals';
import type {
  CreateSessionRequest,
  CreateTokenRequest,
  ExecRequest,
  ExecResult,
  Session,
  SessionToken,
  SessionTokenSecret,
  StartTaskRequest,
  Task,
  TaskWithLog,
} from './types';

export interface AxoClientOptions {
  /** The server, e.g. `http://127.0.0.1:7878`. */
  readonly baseUrl: string;
  /** The operator token, or a session token (which reaches only its session). */
  readonly token?: string;
  /** A fetch to use instead of the global one. */
  readonly fetch?: typeof fetch;
  /** A WebSocket constructor to use instead of the global one (terminal attach). */
  readonly WebSocket?: WebSocketConstructor;
}

/** `client.sessions`. */
export class Sessions {
  readonly #t: Transport;
  /** Session-scoped tokens (operator token only). */
  readonly tokens: SessionTokens;

  /** @internal */
  constructor(transport: Transport) {
    this.#t = transport;
    this.tokens = new SessionTokens(transport);
  }

  /** Creates a session (the server's policy bounds what may be asked for). */
  create(request: CreateSessionRequest): Promise<Session> {
    return this.#t.json<Session>('POST', '/v1/sessions', { json: request });
  }

  async list(): Promise<Session[]> {
    return (await this.#t.json<{ sessions: Session[] }>('GET', '/v1/sessions')).sessions;
  }

  get(sessionId: string): Promise<Session> {
    return this.#t.json<Session>('GET', `/v1/sessions/${seg(sessionId)}`);
  }

  /** Removes the session and its container. */
  async delete(sessionId: string): Promise<void> {
    await this.#t.request('DELETE', `/v1/sessions/${seg(sessionId)}`);
  }

  pause(sessionId: string): Promise<Session> {
    return this.#t.json<Session>('POST', `/v1/sessions/${seg(sessionId)}/pause`);
  }

  resume(sessionId: string): Promise<Session> {
    return this.#t.json<Session>('POST', `/v1/sessions/${seg(sessionId)}/resume`);
  }
}

/** `client.sessions.tokens`. */
export class SessionTokens {
  readonly #t: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** A token that reaches only this session; its secret is in the answer and nowhere else. */
  create(sessionId: string, request: CreateTokenRequest = {}): Promise<SessionTokenSecret> {
    return this.#t.json<SessionTokenSecret>('POST', `/v1/sessions/${seg(sessionId)}/tokens`, { json: request });
  }

  async list(sessionId: string): Promise<SessionToken[]> {
    return (await this.#t.json<{ tokens: SessionToken[] }>('GET', `/v1/sessions/${seg(sessionId)}/tokens`)).tokens;
  }

  async revoke(sessionId: string, tokenId: string): Promise<void> {
    await this.#t.request('DELETE', `/v1/sessions/${seg(sessionId)}/tokens/${seg(tokenId)}`);
  }
}

/** `client.tasks`: background tasks (their log is polled by offset). */
export class Tasks {
  readonly #t: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  start(sessionId: string, request: StartTaskRequest): Promise<Task> {
    return this.#t.json<Task>('POST', `/v1/sessions/${seg(sessionId)}/tasks`, { json: request });
  }

  async list(sessionId: string): Promise<Task[]> {
    return (await this.#t.json<{ tasks: Task[] }>('GET', `/v1/sessions/${seg(sessionId)}/tasks`)).tasks;
  }

  /** The task and its log from `offset` (continue from the returned `log.to`). */
  get(sessionId: string, taskId: string, options: { readonly offset?: number } = {}): Promise<TaskWithLog> {
    return this.#t.json<TaskWithLog>('GET', `/v1/sessions/${seg(sessionId)}/tasks/${seg(taskId)}`, {
      query: { offset: options.offset },
    });
  }

  /** Kills a task and its processes; resolves with the task once it ended. */
  kill(sessionId: string, taskId: string): Promise<Task> {
    return this.#t.json<Task>('DELETE', `/v1/sessions/${seg(sessionId)}/tasks/${seg(taskId)}`);
  }
}

/** The client of one axo-server. */
export class AxoClient {
  readonly sessions: Sessions;
  readonly processes: Processes;
  readonly tasks: Tasks;
  readonly files: Files;
  readonly terminals: Terminals;
  readonly #t: Transport;

  /** @internal use createClient. */
  constructor(options: AxoClientOptions) {
    this.#t = new Transport(options);
    this.sessions = new Sessions(this.#t);
    this.processes = new Processes(this.#t);
    this.tasks = new Tasks(this.#t);
    this.files = new Files(this.#t);
    this.terminals = new Terminals(this.#t, options.WebSocket);
  }

  /** Runs a command and waits for it (buffered; a non-zero exit is a result). */
  exec(sessionId: string, request: ExecRequest, options: { readonly signal?: AbortSignal } = {}): Promise<ExecResult> {
    return this.#t.json<ExecResult>('POST', `/v1/sessions/${seg(sessionId)}/exec`, {
      json: request,
      ...(options.signal && { signal: options.signal }),
    });
  }

  /** The server's liveness and version. */
  health(): Promise<{ status: 'ok'; version: string }> {
    return this.#t.json('GET', '/healthz');
  }
}

/** A client of the axo-server at `baseUrl`. */
export function createClient(options: AxoClientOptions): AxoClient {
  return new AxoClient(options);
}
