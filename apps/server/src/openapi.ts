// The OpenAPI document without a running server (no podman, no state): the same route
// table buildServer registers. `@axo/client` generates its types from it.
import Fastify from 'fastify';
import type { Metrics } from './metrics';
import { createRouter, registerRoutes } from './routes/index';
import { VERSION } from './server';
import type { SessionTokens } from './session-tokens';
import type { SessionManager } from './sessions';

/** The document `/openapi.json` serves. */
export function openapiDocument(): object {
  const router = createRouter(Fastify());
  // Handlers are never called here: the dependencies are only captured.
  registerRoutes(router, {
    sessions: undefined as unknown as SessionManager,
    metrics: undefined as unknown as Metrics,
    tokens: undefined as unknown as SessionTokens,
    config: { maxFileBytes: 0, bodyLimit: 0 },
  });
  return router.openapi({ title: 'axo-server', version: VERSION });
}
