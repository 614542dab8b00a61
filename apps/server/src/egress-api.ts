import { sessionIdSchema } from '@axo/podman-args';
import { egressRecordSchema } from '@axo/runtime';
import { z } from 'zod';
import type { Router } from './route';
import type { SessionManager } from './sessions';

const idParams = z.strictObject({ id: sessionIdSchema });
const egressBody = z.strictObject({
  /** The new allowlist (replaces the old one; [] denies everything). */
  entries: z.array(z.string().max(300)).max(256),
});
const entriesSchema = z.strictObject({ entries: z.array(z.string()) });
const logQuery = z.strictObject({
  /** Only connections at or after this time (ISO 8601). */
  since: z.iso.datetime({ offset: true }).optional(),
  /** At most this many, the newest. @default 1000 */
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
});

/** The egress allowlist routes: read and replace a session's list, and its audit trail. */
export function registerEgressApi(router: Router, sessions: SessionManager): void {
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/egress',
    tag: 'egress',
    summary: "Get an allowlisted session's egress entries (409 for a session with another network)",
    params: idParams,
    success: { status: 200, description: 'The entries in force', schema: entriesSchema },
    handler: async ({ params }) => ({ entries: await sessions.egress(params.id) }),
  });
  router.add({
    method: 'PUT',
    url: '/v1/sessions/:id/egress',
    tag: 'egress',
    summary:
      "Replace an allowlisted session's egress entries while it runs: new connections follow at once, open tunnels no longer allowed are closed (403 beyond the server's policy)",
    params: idParams,
    body: egressBody,
    success: { status: 200, description: 'The entries now in force, canonical', schema: entriesSchema },
    handler: async ({ params, body }) => ({ entries: await sessions.setEgress(params.id, body.entries) }),
  });
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/egress/log',
    tag: 'egress',
    summary:
      "A session's egress audit trail: every connection, allowed or denied, with its destination, address, rule, bytes and duration",
    params: idParams,
    query: logQuery,
    success: {
      status: 200,
      description: 'Records, oldest first',
      schema: z.strictObject({ records: z.array(egressRecordSchema) }),
    },
    handler: async ({ params, query }) => {
      const s = sessions.use(params.id);
      return {
        records: await s.sandbox.egressLog({ limit: query.limit, ...(query.since && { since: query.since }) }),
      };
    },
  });
}
