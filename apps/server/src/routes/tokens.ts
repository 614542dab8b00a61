// /v1/sessions/{id}/tokens: session-scoped tokens, managed with the operator token only
// (a session token is refused here: see SessionTokens.authorize).
import { sessionIdSchema } from '@axo/podman-args';
import { z } from 'zod';
import { ApiError } from '../problem';
import type { Router } from '../route';
import { sessionTokenListSchema, sessionTokenSecretSchema } from '../schemas';
import { type SessionTokens, tokenView } from '../session-tokens';
import type { SessionManager } from '../sessions';

const idParams = z.strictObject({ id: sessionIdSchema });
const tokenParams = z.strictObject({ id: sessionIdSchema, tokenId: z.string().regex(/^st-[0-9a-f]{16}$/) });
const createBody = z.strictObject({
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600)
    .default(3600)
    .describe('Lifetime in seconds (at most 30 days; default one hour)'),
});

/** Registers the token routes. */
export function registerTokenRoutes(router: Router, sessions: SessionManager, tokens: SessionTokens): void {
  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/tokens',
    tag: 'tokens',
    summary: 'Make a token that reaches only this session (operator token only)',
    description:
      "The token reaches this session's routes (exec, processes, tasks, files, terminals and their WebSocket) and gets " +
      '403 everywhere else; after expiry or revocation, and once the session is gone, it gets 401. Only its hash is ' +
      'stored; the token is in this answer and nowhere else.',
    params: idParams,
    body: createBody,
    success: { status: 201, description: 'The token, with its secret', schema: sessionTokenSecretSchema },
    handler: async ({ params, body }) => {
      sessions.use(params.id);
      return tokens.create(params.id, body.ttlSeconds);
    },
  });
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/tokens',
    tag: 'tokens',
    summary: "List a session's live tokens (without their secrets)",
    params: idParams,
    success: { status: 200, description: 'Live tokens, oldest first', schema: sessionTokenListSchema },
    handler: async ({ params }) => {
      sessions.use(params.id);
      return { tokens: tokens.list(params.id).map(tokenView) };
    },
  });
  router.add({
    method: 'DELETE',
    url: '/v1/sessions/:id/tokens/:tokenId',
    tag: 'tokens',
    summary: 'Revoke a session token (at once: its next request is 401)',
    params: tokenParams,
    success: { status: 204, description: 'Revoked' },
    handler: async ({ params }) => {
      if (!(await tokens.revoke(params.id, params.tokenId))) {
        throw new ApiError(404, 'NOT_FOUND', `session ${params.id} has no token ${params.tokenId}`);
      }
    },
  });
}
