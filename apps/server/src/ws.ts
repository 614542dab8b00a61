import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { SessionManager } from './sessions';

/** Subprotocol a client must offer; browsers pass the token as `axo.token.<token>`. */
export const WS_PROTOCOL = 'axo.v1';

/**
 * Output waiting for a client past this many bytes: the client is not keeping up, and is
 * closed with `SLOW_CLIENT_CLOSE` instead of the server buffering without bound. It
 * reattaches and is replayed the scrollback.
 */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
export const SLOW_CLIENT_CLOSE = 4429;

const clientMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('input'), data: z.string().max(1024 * 1024) }),
  z.strictObject({ type: z.literal('resize'), cols: z.number().int(), rows: z.number().int() }),
]);

/**
 * `GET /v1/sessions/:id/terminals/:terminalId/attach` (WebSocket). Client sends
 * `{type:'input',data}` and `{type:'resize',cols,rows}`; server sends
 * `{type:'output',data}` (the scrollback first) and `{type:'exit',exitCode}`. A client more than
 * `MAX_BUFFERED_BYTES` behind is closed with `SLOW_CLIENT_CLOSE` (it reattaches).
 */
export function registerTerminalSocket(app: FastifyInstance, sessions: SessionManager): void {
  app.get<{ Params: { id: string; terminalId: string } }>(
    '/v1/sessions/:id/terminals/:terminalId/attach',
    { websocket: true },
    (socket: WebSocket, request) => {
      const send = (message: object) => {
        if (socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          socket.close(SLOW_CLIENT_CLOSE, 'client too slow: reattach');
          return;
        }
        socket.send(JSON.stringify(message));
      };
      let session: ReturnType<SessionManager['use']>;
      try {
        session = sessions.use(request.params.id);
      } catch {
        socket.close(4404, 'no such session');
        return;
      }
      const terminal = session.terminals.get(request.params.terminalId);
      if (!terminal) {
        socket.close(4404, 'no such terminal');
        return;
      }
      // A client attached to a terminal is activity: the session is not paused while it is.
      session.attachedClients += 1;
      const output = terminal.onData((data) => send({ type: 'output', data }), { replay: true });
      const exit = terminal.onExit(({ exitCode }) => {
        send({ type: 'exit', exitCode });
        socket.close(1000, 'terminal exited');
      });
      socket.on('message', (raw, isBinary) => {
        session.lastUsedAt = new Date();
        // Typing into a paused session's terminal wakes it.
        if (session.sandbox.paused) void session.sandbox.resume().catch(() => undefined);
        if (isBinary) return send({ type: 'error', message: 'send JSON text messages' });
        let parsed: z.infer<typeof clientMessage>;
        try {
          parsed = clientMessage.parse(JSON.parse(raw.toString()));
        } catch {
          return send({
            type: 'error',
            message: 'expected {"type":"input","data"} or {"type":"resize","cols","rows"}',
          });
        }
        try {
          if (parsed.type === 'input') terminal.write(parsed.data);
          else terminal.resize(parsed.cols, parsed.rows);
        } catch (error) {
          send({ type: 'error', message: (error as Error).message });
        }
      });
      socket.on('close', () => {
        session.attachedClients -= 1;
        session.lastUsedAt = new Date();
        output.dispose();
        exit.dispose();
      });
    },
  );
}
