// `client.terminals`: terminals in a session, attached over WebSocket (the global WebSocket
// of browsers and Node ≥ 22). The token travels as the `axo.token.<token>` subprotocol,
// since browsers cannot set headers on a WebSocket.
import { AxoClientError } from './errors';
import { seg, type Transport } from './http';
import type { OpenTerminalRequest, Terminal, TerminalSummary } from './types';

/** The WebSocket constructor to use (the global one by default). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

/** A terminal attached over WebSocket. */
export class TerminalConnection {
  readonly socket: WebSocket;
  /** Resolves with the exit code when the terminal's command ends, or undefined when the socket closes first. */
  readonly exited: Promise<{ readonly exitCode: number | null } | undefined>;
  readonly #listeners = new Set<(data: string) => void>();
  readonly #early: string[] = [];

  /** @internal made by `terminals.attach` once the socket is open. */
  constructor(socket: WebSocket) {
    this.socket = socket;
    let exit: { exitCode: number | null } | undefined;
    socket.addEventListener('message', (event: MessageEvent) => {
      let m: { type?: string; data?: string; exitCode?: number | null };
      try {
        m = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (m.type === 'output' && typeof m.data === 'string') {
        if (this.#listeners.size === 0) this.#early.push(m.data);
        for (const listener of this.#listeners) listener(m.data);
      } else if (m.type === 'exit') exit = { exitCode: m.exitCode ?? null };
    });
    this.exited = new Promise((resolve) => socket.addEventListener('close', () => resolve(exit), { once: true }));
  }

  /** Receives output (what came before the first listener, the scrollback first, is replayed to it). */
  onOutput(listener: (data: string) => void): () => void {
    this.#listeners.add(listener);
    for (const data of this.#early.splice(0)) listener(data);
    return () => this.#listeners.delete(listener);
  }

  /** Types into the terminal. */
  write(data: string): void {
    this.socket.send(JSON.stringify({ type: 'input', data }));
  }

  resize(cols: number, rows: number): void {
    this.socket.send(JSON.stringify({ type: 'resize', cols, rows }));
  }

  /** Detaches (the terminal runs on). */
  close(): void {
    this.socket.close(1000);
  }
}

export class Terminals {
  readonly #t: Transport;
  readonly #WebSocket: WebSocketConstructor | undefined;

  /** @internal */
  constructor(transport: Transport, webSocket: WebSocketConstructor | undefined) {
    this.#t = transport;
    this.#WebSocket = webSocket;
  }

  /** Opens a terminal (`command` defaults to the session's shell). */
  open(sessionId: string, request: OpenTerminalRequest = {}): Promise<Terminal> {
    return this.#t.json<Terminal>('POST', `/v1/sessions/${seg(sessionId)}/terminals`, { json: request });
  }

  async list(sessionId: string): Promise<TerminalSummary[]> {
    const r = await this.#t.json<{ terminals: TerminalSummary[] }>('GET', `/v1/sessions/${seg(sessionId)}/terminals`);
    return r.terminals;
  }

  /** Kills a terminal and what runs in it. */
  async kill(sessionId: string, terminalId: string): Promise<void> {
    await this.#t.request('DELETE', `/v1/sessions/${seg(sessionId)}/terminals/${seg(terminalId)}`);
  }

  /** Attaches to a terminal over WebSocket; resolves once connected. */
  attach(sessionId: string, terminalId: string): Promise<TerminalConnection> {
    const WS = this.#WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) {
      return Promise.reject(
        new AxoClientError(0, 'NO_WEBSOCKET', 'no WebSocket here: pass one as createClient({ WebSocket })'),
      );
    }
    const url = `${this.#t.url(`/v1/sessions/${seg(sessionId)}/terminals/${seg(terminalId)}/attach`).replace(/^http/, 'ws')}`;
    const protocols = ['axo.v1', ...(this.#t.token === undefined ? [] : [`axo.token.${this.#t.token}`])];
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WS(url, protocols);
      } catch (error) {
        reject(new AxoClientError(0, 'WEBSOCKET_FAILED', `cannot open ${url}: ${(error as Error).message}`));
        return;
      }
      const connection = new TerminalConnection(socket);
      const onOpen = () => {
        socket.removeEventListener('close', onClose);
        resolve(connection);
      };
      const onClose = (event: CloseEvent) => {
        socket.removeEventListener('open', onOpen);
        const reason = event.reason || (event.code === 4404 ? 'no such session or terminal' : 'refused');
        reject(
          new AxoClientError(0, event.code === 4404 ? 'NOT_FOUND' : 'WEBSOCKET_FAILED', `terminal attach: ${reason}`, {
            hint: 'A refused handshake is a wrong token, or a session token of another session.',
          }),
        );
      };
      socket.addEventListener('open', onOpen, { once: true });
      socket.addEventListener('close', onClose, { once: true });
    });
  }
}
