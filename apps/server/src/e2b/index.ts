// The E2B-compatible façade: a fastify plugin of its own, registered only when the operator
// turns it on (AXO_SERVER_E2B=1, `axo serve --e2b`). It serves E2B's control plane and envd on
// the server's own port, so an unchanged E2B SDK works with E2B_API_URL and E2B_SANDBOX_URL
// both set to this server: the two are told apart by path (envd's RPCs are
// /process.Process/… and /filesystem.Filesystem/…, its HTTP routes /files and /health), and
// envd calls name their sandbox in the E2b-Sandbox-Id header. These routes are registered on
// fastify directly, not through the Router: they are E2B's API, not part of axo's OpenAPI.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../config';
import { FASTIFY_ERRORS } from '../problem';
import type { SessionTokens } from '../session-tokens';
import type { SessionManager } from '../sessions';
import { tokenMatches } from '../token';
import {
  decodeStreamRequest,
  endStreamEnvelope,
  HTTP_STATUS_BY_RPC_CODE,
  MAX_REQUEST_MESSAGE_BYTES,
  RpcError,
  requestKind,
} from './connect';
import { registerControlPlane } from './control-plane';
import { Envd } from './envd';
import { E2bHttpError, httpErrorBody, httpErrorOf, rpcErrorOf } from './errors';
import { registerFilesHttp } from './files-http';
import { filesystemService } from './filesystem-service';
import type { Logger } from './new-sandbox';
import { processService } from './process-service';
import type { RpcService } from './rpc';
import { E2bSandboxes } from './sandboxes';
import { basicAuthUser } from './users';

export { ENVD_VERSION } from './new-sandbox';

/** What kind of E2B route a request is on (route config), so the server's own auth skips it. */
export type E2bRouteKind = 'api' | 'envd-http' | 'rpc' | 'rpc-stream';

/** The E2B route kind of a request; undefined for axo's own routes. */
export function e2bRouteKind(request: FastifyRequest): E2bRouteKind | undefined {
  return (request.routeOptions.config as { e2b?: E2bRouteKind } | undefined)?.e2b;
}

export interface E2bOptions {
  readonly sessions: SessionManager;
  readonly tokens: SessionTokens;
  readonly config: ServerConfig;
  /** The operator token: E2B's API key. */
  readonly operatorToken: string;
  /** This server's owner id (E2B's deprecated clientID). */
  readonly owner: string;
}

/** Answers a server-streaming call's failure: in the end-of-stream envelope (502 stays HTTP, as E2B's proxy). */
function sendStreamError(reply: FastifyReply, error: RpcError) {
  if (error.httpStatus === 502) return reply.status(502).type('application/json').send(error.toJson());
  return reply.status(200).type('application/connect+json').send(endStreamEnvelope(error));
}

function sendRpcError(reply: FastifyReply, error: RpcError) {
  return reply
    .status(error.httpStatus ?? HTTP_STATUS_BY_RPC_CODE[error.code])
    .type('application/json')
    .send(error.toJson());
}

function registerRpc(scope: FastifyInstance, envd: Envd, services: readonly RpcService[]): void {
  const wrongCodec = (kind: string) =>
    new RpcError('unimplemented', `this server speaks the Connect protocol's JSON codec only, not ${kind}`, 415);
  for (const service of services) {
    for (const [name, method] of Object.entries(service.unary)) {
      scope.post(`/${service.name}/${name}`, { config: { e2b: 'rpc' } }, async (request, reply) => {
        const kind = requestKind(request.headers['content-type']);
        if (kind !== 'unary') throw wrongCodec(String(request.headers['content-type']));
        const call = await envd.call(request, basicAuthUser(request.headers.authorization));
        const answer = await method({ call, message: request.body ?? {}, request });
        return reply.status(200).type('application/json').send(answer);
      });
    }
    for (const [name, method] of Object.entries(service.stream)) {
      scope.post(`/${service.name}/${name}`, { config: { e2b: 'rpc-stream' } }, async (request, reply) => {
        try {
          const kind = requestKind(request.headers['content-type']);
          if (kind !== 'stream') throw wrongCodec(String(request.headers['content-type']));
          const message = decodeStreamRequest(request.body as Buffer);
          const call = await envd.call(request, basicAuthUser(request.headers.authorization));
          await method({ call, message, request }, reply);
        } catch (error) {
          // Once the stream has begun, the method ends it itself (with the error).
          if (!reply.sent && !reply.raw.headersSent) sendStreamError(reply, rpcErrorOf(error));
        }
        return reply;
      });
    }
    // Client streaming cannot travel over fetch on HTTP/1.1: the SDKs never call it; say so plainly.
    if (service.name === 'process.Process') {
      scope.post('/process.Process/StreamInput', { config: { e2b: 'rpc' } }, async () => {
        throw new RpcError('unimplemented', 'StreamInput (client streaming) is not supported; use SendInput');
      });
    }
  }
}

/**
 * Registers the façade on `app` and starts its deadline timer. Its routes carry
 * `config.e2b`, which the server's own token check must skip (the façade authenticates
 * them: API key, access token, or signature).
 */
export async function registerE2b(app: FastifyInstance, options: E2bOptions, log: Logger): Promise<E2bSandboxes> {
  const sandboxes = await E2bSandboxes.load({
    sessions: options.sessions,
    tokens: options.tokens,
    config: options.config,
    log,
  });
  const envd = new Envd(sandboxes, options.sessions, options.tokens);
  // Open streams last as long as their command: a shutdown ends them instead of waiting.
  app.addHook('preClose', async () => sandboxes.close());

  await app.register(async (scope) => {
    // Server-streaming requests are one enveloped JSON message (small: no file data travels here).
    scope.addContentTypeParser(
      'application/connect+json',
      { parseAs: 'buffer', bodyLimit: MAX_REQUEST_MESSAGE_BYTES + 5 },
      (_request, body, done) => done(null, body),
    );
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const kind = e2bRouteKind(request);
      if (kind === 'rpc' || kind === 'rpc-stream') {
        const rpc = rpcErrorOf(fastifyError(error));
        if (rpc.code === 'internal') request.log.error({ err: error }, 'e2b: request failed');
        return kind === 'rpc' ? sendRpcError(reply, rpc) : sendStreamError(reply, rpc);
      }
      const http = httpErrorOf(fastifyError(error));
      if (http.status >= 500 && http.status !== 501 && http.status !== 502) {
        request.log.error({ err: error }, 'e2b: request failed');
      }
      return reply.status(http.status).type('application/json').send(httpErrorBody(http.status, http.message));
    });
    scope.addHook('onRequest', async (request) => {
      if (e2bRouteKind(request) !== 'api') return;
      const key = request.headers['x-api-key'];
      const auth = request.headers.authorization;
      const bearer = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      const presented = typeof key === 'string' ? key : bearer;
      if (!tokenMatches(presented, options.operatorToken)) {
        throw new E2bHttpError(401, 'Invalid API key: use the axo-server operator token (AXO_TOKEN) as E2B_API_KEY');
      }
    });
    registerControlPlane(scope, { sandboxes, clientID: options.owner });
    registerFilesHttp(scope, { envd, sandboxes, maxFileBytes: options.config.maxFileBytes });
    registerRpc(scope, envd, [processService, filesystemService]);
  });
  sandboxes.start();
  return sandboxes;
}

/** E2B's wording of fastify's request errors, where it differs from the API's. */
const FASTIFY_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is larger than this server accepts',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type',
};

/** fastify's own request errors (a body too large, a bad media type) as errors with a status. */
function fastifyError(error: FastifyError): unknown {
  if (error instanceof RpcError || error instanceof E2bHttpError) return error;
  const hit = error.code ? FASTIFY_ERRORS[error.code] : undefined;
  return hit ? new E2bHttpError(hit[0], FASTIFY_MESSAGES[error.code] ?? hit[2]) : error;
}
