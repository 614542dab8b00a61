// Every route of the API in one place, so the server and the OpenAPI generator
// (`openapiDocument`, which needs no podman) register exactly the same table.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { registerApi } from '../api';
import type { Metrics } from '../metrics';
import { Router } from '../route';
import { healthSchema } from '../schemas';
import type { SessionTokens } from '../session-tokens';
import type { SessionManager } from '../sessions';
import { API_RESPONSES } from './api-responses';
import { registerFileRoutes } from './files';
import { endStreamsOnClose } from './ndjson';
import { registerProcessRoutes } from './processes';
import { registerTokenRoutes } from './tokens';

export interface RouteDeps {
  readonly sessions: SessionManager;
  readonly metrics: Metrics;
  readonly tokens: SessionTokens;
  readonly config: { readonly maxFileBytes: number; readonly bodyLimit: number };
}

/** A router for the API; under vitest it checks every JSON answer against its schema. */
export function createRouter(app: FastifyInstance): Router {
  return new Router(app, { responses: API_RESPONSES, checkResponses: process.env.VITEST !== undefined });
}

/** Registers every /v1 route (and describes the ones served elsewhere). */
export function registerRoutes(router: Router, deps: RouteDeps): void {
  // Bytes (file uploads, stdin) reach their handler as the request stream itself.
  router.app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  // A shutdown must not wait for streams that last as long as their process.
  endStreamsOnClose(router.app);
  registerApi(router, deps.sessions, deps.metrics);
  registerFileRoutes(router, deps.sessions, { maxFileBytes: deps.config.maxFileBytes });
  registerProcessRoutes(router, deps.sessions, { bodyLimit: deps.config.bodyLimit });
  registerTokenRoutes(router, deps.sessions, deps.tokens);

  router.document({
    method: 'GET',
    url: '/v1/sessions/:id/terminals/:terminalId/attach',
    tag: 'terminals',
    summary: 'Attach to a terminal over WebSocket (subprotocol axo.v1; browsers send the token as axo.token.<token>)',
    description:
      'Client messages: {"type":"input",data}, {"type":"resize",cols,rows}. Server messages: {"type":"output",data} ' +
      '(the scrollback first), {"type":"exit",exitCode}, {"type":"error",message}.',
    params: z.strictObject({ id: z.string(), terminalId: z.string() }),
    success: { status: 101, description: 'Switching protocols' },
  });
  router.document({
    method: 'GET',
    url: '/healthz',
    tag: 'server',
    summary: 'Liveness (no token needed)',
    public: true,
    success: { status: 200, description: 'The server runs', schema: healthSchema },
  });
  router.document({
    method: 'GET',
    url: '/metrics',
    tag: 'server',
    summary: 'Prometheus metrics (operator token)',
    success: { status: 200, description: 'Prometheus text format', contentType: 'text/plain' },
  });
  router.document({
    method: 'GET',
    url: '/openapi.json',
    tag: 'server',
    summary: 'This document',
    success: { status: 200, description: 'OpenAPI 3.1' },
  });
}
