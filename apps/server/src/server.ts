import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ensurePodman } from '@axo/runtime';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { type ServerConfig, type ServerConfigInput, serverConfigSchema } from './config';
import { e2bRouteKind, registerE2b } from './e2b/index';
import { createMetrics } from './metrics';
import { ApiError, handleError, sendProblem } from './problem';
import { createRouter, registerRoutes } from './routes/index';
import { SessionTokens } from './session-tokens';
import { SessionManager } from './sessions';
import { type ResolvedToken, resolveToken, tokenMatches } from './token';
import { PAGE_HTML } from './web/page';
import { registerTerminalSocket, WS_PROTOCOL } from './ws';

export const VERSION = '0.0.0';
const PUBLIC = new Set([
  '/healthz',
  '/',
  '/assets/xterm.js',
  '/assets/xterm.css',
  '/assets/addon-fit.js',
  '/favicon.ico',
]);

export interface AxoServer {
  readonly app: FastifyInstance;
  readonly sessions: SessionManager;
  readonly token: ResolvedToken;
  readonly config: ServerConfig;
  /** What happened at start: sessions recovered from their labels and orphans reaped. */
  readonly startup: { readonly recovered: readonly string[]; readonly reaped: readonly string[] };
  /** Stops accepting, closes WebSockets and terminals; removes sessions only if configured. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5_000;

async function instanceId(config: ServerConfig): Promise<string> {
  if (config.instanceId) return config.instanceId;
  const file = join(config.stateDir, 'instance-id');
  const stored = await readFile(file, 'utf8').then(
    (s) => s.trim(),
    () => '',
  );
  if (stored) return stored;
  const id = `srv-${randomBytes(5).toString('hex')}`;
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  await writeFile(file, `${id}\n`, { mode: 0o600 });
  return id;
}

async function loadAssets(): Promise<Record<string, { type: string; body: Buffer }>> {
  const require = createRequire(import.meta.url);
  const xterm = dirname(require.resolve('@xterm/xterm/package.json'));
  const fit = dirname(require.resolve('@xterm/addon-fit/package.json'));
  return {
    '/assets/xterm.js': { type: 'text/javascript', body: await readFile(join(xterm, 'lib', 'xterm.js')) },
    '/assets/xterm.css': { type: 'text/css', body: await readFile(join(xterm, 'css', 'xterm.css')) },
    '/assets/addon-fit.js': { type: 'text/javascript', body: await readFile(join(fit, 'lib', 'addon-fit.js')) },
  };
}

function presentedToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  // Browsers cannot set headers on a WebSocket: they offer the token as a subprotocol.
  const protocols = headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    const offered = protocols.split(',').map((p) => p.trim());
    return offered.find((p) => p.startsWith('axo.token.'))?.slice('axo.token.'.length);
  }
  return undefined;
}

/** Builds (but does not start listening) an axo-server. */
export async function buildServer(input: ServerConfigInput): Promise<AxoServer> {
  const config = serverConfigSchema.parse(input);
  await ensurePodman();
  const token = await resolveToken(config.token, config.stateDir);
  const owner = await instanceId(config);
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    genReqId: () => randomUUID(),
    requestIdHeader: 'x-request-id',
  });
  const log = {
    info: (message: string, details?: object) => app.log.info(details ?? {}, message),
    warn: (message: string, details?: object) => app.log.warn(details ?? {}, message),
    error: (message: string, details?: object) => app.log.error(details ?? {}, message),
  };
  let sessions: SessionManager | undefined;
  const metrics = createMetrics({
    sessions: () => sessions?.size ?? 0,
    terminals: () => sessions?.terminalCount ?? 0,
    paused: () => sessions?.pausedCount ?? 0,
    egress: () => sessions?.egressTotals(),
  });
  sessions = new SessionManager(config, owner, metrics, log);
  const manager = sessions;
  const startup = await manager.init();
  const sessionTokens = await SessionTokens.load(config.stateDir, {
    createdAt: (id) => manager.list().find((s) => s.id === id)?.createdAt,
  });

  await app.register(websocket, {
    options: {
      maxPayload: 1024 * 1024,
      handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
    },
  });
  // The API speaks JSON only: anything else is 415, not a string body.
  app.removeContentTypeParser('text/plain');
  // Many clients send a JSON content type on body-less requests (DELETE): that is no body.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body as string, done);
  });
  app.setErrorHandler((error, request, reply) => handleError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, 404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (PUBLIC.has(path)) return;
    // E2B's routes authenticate themselves (API key, envd access token, or signature).
    if (e2bRouteKind(request) !== undefined) return;
    const presented = presentedToken(request.headers);
    // A session token reaches its own session's routes only (else 403; 401 once dead).
    if (!tokenMatches(presented, token.token) && !sessionTokens.authorize(presented, request)) {
      throw new ApiError(401, 'UNAUTHORIZED', 'a valid bearer token is required', {
        hint: 'Send "Authorization: Bearer <token>"; the token is in AXO_TOKEN or the server state directory.',
      });
    }
  });

  const assets = await loadAssets();
  app.get('/', async (_, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(PAGE_HTML),
  );
  for (const [path, asset] of Object.entries(assets)) {
    app.get(path, async (_, reply) =>
      reply.type(asset.type).header('cache-control', 'public, max-age=3600').send(asset.body),
    );
  }
  app.get('/healthz', async () => ({ status: 'ok', version: VERSION }));
  app.get('/metrics', async (_, reply) => {
    await manager.refreshEgressTotals();
    return reply.type('text/plain; version=0.0.4').send(metrics.render());
  });

  const router = createRouter(app);
  registerRoutes(router, { sessions: manager, metrics, tokens: sessionTokens, config });
  registerTerminalSocket(app, manager);
  if (config.e2b) {
    await registerE2b(
      app,
      { sessions: manager, tokens: sessionTokens, config, operatorToken: token.token, owner },
      log,
    );
  }
  const openapi = router.openapi({ title: 'axo-server', version: VERSION });
  app.get('/openapi.json', async () => openapi);

  manager.startReaper();
  let closing: Promise<void> | undefined;
  return {
    app,
    sessions: manager,
    token,
    config,
    startup,
    close() {
      closing ??= (async () => {
        await manager.shutdown();
        // A client that connected but never sent a request would hold close() until Node's
        // headers timeout (about a minute); after a grace for answers in flight, cut them.
        const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        force.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(force);
        }
      })();
      return closing;
    },
  };
}
