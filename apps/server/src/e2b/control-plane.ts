// E2B's control plane (api.e2b.app) on axo's sessions: create (POST /v2/sandboxes and the
// older POST /sandboxes), connect and resume, info, list (with X-Next-Token paging), timeout,
// pause and kill. JSON both ways; errors are `{code: <status>, message}`; the API key is the
// server's operator token, in X-API-KEY (or as a bearer token).
import { cpus, totalmem } from 'node:os';
import { memoryBytes } from '@axo/podman-args';
import type { HardeningReport } from '@axo/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ManagedSession } from '../sessions';
import { E2bHttpError } from './errors';
import { ENVD_VERSION } from './new-sandbox';
import type { E2bSandboxes } from './sandboxes';
import type { SandboxRecord } from './store';

const stringMap = z.record(z.string().max(1024), z.string().max(64 * 1024));
const seconds = z
  .number()
  .int()
  .min(0)
  .max(31 * 24 * 3600);

export const newSandboxSchema = z.object({
  templateID: z.string().min(1).max(512),
  timeout: seconds.optional(),
  autoPause: z.boolean().optional(),
  metadata: stringMap.nullish(),
  envVars: stringMap.nullish(),
  allow_internet_access: z.boolean().nullish(),
  network: z
    .object({
      allowOut: z.array(z.string().max(300)).max(256).optional(),
      denyOut: z.array(z.string().max(300)).max(256).optional(),
      rules: z.unknown().optional(),
      egressProxy: z.unknown().optional(),
      maskRequestHost: z.unknown().optional(),
    })
    .nullish(),
  mcp: z.unknown().optional(),
  volumeMounts: z.array(z.unknown()).optional(),
  iam: z.unknown().optional(),
});
const timeoutBodySchema = z.object({ timeout: seconds });
const connectBodySchema = z.object({ timeout: seconds.optional() }).default({});
const refreshBodySchema = z.object({ duration: seconds.optional() }).default({});
const idParamsSchema = z.object({ sandboxID: z.string().min(1).max(200) });
const listQuerySchema = z.object({
  metadata: z
    .string()
    .max(16 * 1024)
    .optional(),
  state: z.string().max(100).optional(),
  template: z.string().max(512).optional(),
  startedAfter: z.string().max(64).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(100),
  nextToken: z.string().max(1024).optional(),
});

/** Parses a request part; a mismatch is a 400 naming the field. */
function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value ?? undefined);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new E2bHttpError(
    400,
    `${what}: ${issue?.path.join('.') || ''}${issue?.path.length ? ': ' : ''}${issue?.message}`,
  );
}

/** CPUs and memory a session has: its limits when in force, else the host's. */
export function resourcesOf(report: HardeningReport | undefined): { cpuCount: number; memoryMB: number } {
  const requested = report?.limits.applied ? report.limits.requested : false;
  const hostCpus = Math.max(1, cpus().length);
  const hostMB = Math.floor(totalmem() / 1024 / 1024);
  if (!requested) return { cpuCount: hostCpus, memoryMB: hostMB };
  return {
    cpuCount: Math.max(1, Math.ceil(requested.cpus)),
    memoryMB: Math.max(128, megabytesOf(requested.memory) ?? hostMB),
  };
}

/** Whole MiB in a podman memory size (`512m`, `2g`); undefined when it is not one. */
function megabytesOf(size: string): number | undefined {
  try {
    return Math.floor(memoryBytes(size) / 1024 / 1024);
  } catch {
    return undefined;
  }
}

/** The `Sandbox` answer of create, connect and resume. */
export function sandboxJson(record: SandboxRecord, clientID: string) {
  return {
    sandboxID: record.sandboxID,
    templateID: record.templateID,
    clientID,
    envdVersion: ENVD_VERSION,
    envdAccessToken: record.token,
    trafficAccessToken: null,
    domain: null,
  };
}

/** A `ListedSandbox` (and the common part of `SandboxDetail`). */
export function listedJson(record: SandboxRecord, session: ManagedSession, clientID: string) {
  return {
    templateID: record.templateID,
    sandboxID: record.sandboxID,
    clientID,
    startedAt: record.startedAt,
    endAt: record.endAt,
    ...resourcesOf(session.report),
    diskSizeMB: 0,
    metadata: record.metadata,
    // axo's own idle pause is invisible to E2B: the sandbox is running as far as E2B is concerned.
    state: record.paused ? ('paused' as const) : ('running' as const),
    envdVersion: ENVD_VERSION,
    volumeMounts: [],
  };
}

/** A `SandboxDetail`. */
function detailJson(record: SandboxRecord, session: ManagedSession, clientID: string) {
  return {
    ...listedJson(record, session, clientID),
    envdAccessToken: record.token,
    allowInternetAccess: record.allowInternetAccess,
    domain: null,
    lifecycle: { autoResume: true, onTimeout: record.autoPause ? 'pause' : 'kill' },
    ...(record.network && { network: record.network }),
  };
}

/** The metadata filter of a list: `k=v&k2=v2`, URL-encoded (once by the SDK, once more by the query). */
export function parseMetadataFilter(value: string | undefined): Record<string, string> {
  if (!value) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(value)) out[decodeURIComponent(k)] = decodeURIComponent(v);
  return out;
}

/** An opaque cursor: the sort key of the last item of a page. */
export function encodeCursor(startedAt: string, id: string): string {
  return Buffer.from(JSON.stringify([startedAt, id])).toString('base64url');
}

export function decodeCursor(token: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((x) => typeof x === 'string')) {
      return value as [string, string];
    }
  } catch {
    // fall through
  }
  throw new E2bHttpError(400, 'nextToken is not a token this server gave');
}

export interface ControlPlaneDeps {
  readonly sandboxes: E2bSandboxes;
  /** The deprecated `clientID` of every answer: this server's owner id. */
  readonly clientID: string;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Registers the control-plane routes (the plugin's hook checks the API key first). */
export function registerControlPlane(app: FastifyInstance, deps: ControlPlaneDeps): void {
  const { sandboxes, clientID } = deps;
  const config = { e2b: 'api' };
  const route = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, handler: Handler) =>
    app.route({ method, url, config, handler });
  const idOf = (request: FastifyRequest) => parse(idParamsSchema, request.params, 'path').sandboxID;
  const live = (id: string) => {
    const found = sandboxes.find(id);
    if (!found) throw new E2bHttpError(404, `sandbox "${id}" not found`);
    return found;
  };

  const create: Handler = async (request, reply) => {
    const body = parse(newSandboxSchema, request.body, 'body');
    if (body.mcp !== undefined && body.mcp !== null) {
      throw new E2bHttpError(400, 'MCP gateways are not supported by axo-server');
    }
    if ((body.volumeMounts?.length ?? 0) > 0) throw new E2bHttpError(400, 'volumes are not supported by axo-server');
    if (body.iam !== undefined && body.iam !== null) {
      throw new E2bHttpError(400, 'workload identity (iam) is not supported by axo-server');
    }
    for (const option of ['rules', 'egressProxy', 'maskRequestHost'] as const) {
      if (body.network?.[option] !== undefined && body.network[option] !== null) {
        throw new E2bHttpError(400, `network.${option} is not supported by axo-server (allowOut and denyOut are)`);
      }
    }
    const record = await sandboxes.create({
      templateID: body.templateID,
      timeout: body.timeout,
      autoPause: body.autoPause,
      metadata: body.metadata ?? undefined,
      envVars: body.envVars ?? undefined,
      allowInternetAccess: body.allow_internet_access ?? undefined,
      network: body.network ? { allowOut: body.network.allowOut, denyOut: body.network.denyOut } : undefined,
    });
    return reply.status(201).send(sandboxJson(record, clientID));
  };
  route('POST', '/sandboxes', create);
  route('POST', '/v2/sandboxes', create);

  const listed = (request: FastifyRequest) => {
    const q = parse(listQuerySchema, request.query, 'query');
    const states = q.state
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const metadata = parseMetadataFilter(q.metadata);
    const after = q.startedAfter ? Date.parse(q.startedAfter) : undefined;
    const all = sandboxes
      .list()
      .map(({ record, session }) => listedJson(record, session, clientID))
      .filter(
        (s) =>
          (!states || states.length === 0 || states.includes(s.state)) &&
          (!q.template || s.templateID === q.template) &&
          (after === undefined || Date.parse(s.startedAt) > after) &&
          Object.entries(metadata).every(([k, v]) => s.metadata[k] === v),
      );
    const sign = q.order === 'desc' ? -1 : 1;
    const key = (s: { startedAt: string; sandboxID: string }) => `${s.startedAt}\u0000${s.sandboxID}`;
    all.sort((a, b) => sign * key(a).localeCompare(key(b)));
    return { all, q, key, sign };
  };
  route('GET', '/sandboxes', async (request) => listed(request).all);
  route('GET', '/v2/sandboxes', async (request, reply) => {
    const { all, q, key, sign } = listed(request);
    let from = 0;
    if (q.nextToken) {
      const [startedAt, id] = decodeCursor(q.nextToken);
      const cursor = key({ startedAt, sandboxID: id });
      from = all.findIndex((s) => sign * key(s).localeCompare(cursor) > 0);
      if (from < 0) from = all.length;
    }
    const page = all.slice(from, from + q.limit);
    const last = page.at(-1);
    if (last && from + q.limit < all.length) reply.header('x-next-token', encodeCursor(last.startedAt, last.sandboxID));
    return page;
  });

  route('GET', '/sandboxes/:sandboxID', async (request) => {
    const { record, session } = live(idOf(request));
    return detailJson(record, session, clientID);
  });

  route('DELETE', '/sandboxes/:sandboxID', async (request, reply) => {
    const id = idOf(request);
    if (!(await sandboxes.kill(id))) throw new E2bHttpError(404, `sandbox "${id}" not found`);
    return reply.status(204).send();
  });

  route('POST', '/sandboxes/:sandboxID/timeout', async (request, reply) => {
    const body = parse(timeoutBodySchema, request.body, 'body');
    await sandboxes.setTimeout(idOf(request), body.timeout);
    return reply.status(204).send();
  });

  route('POST', '/sandboxes/:sandboxID/refreshes', async (request, reply) => {
    const body = parse(refreshBodySchema, request.body, 'body');
    await sandboxes.extend(idOf(request), body.duration ?? 60);
    return reply.status(204).send();
  });

  route('POST', '/sandboxes/:sandboxID/pause', async (request, reply) => {
    const id = idOf(request);
    if (!(await sandboxes.pause(id))) throw new E2bHttpError(409, `sandbox "${id}" is already paused`);
    return reply.status(204).send();
  });

  route('POST', '/sandboxes/:sandboxID/resume', async (request, reply) => {
    const id = idOf(request);
    const body = parse(connectBodySchema, request.body, 'body');
    if (!live(id).record.paused) throw new E2bHttpError(409, `sandbox "${id}" is already running`);
    const { record } = await sandboxes.connect(id, body.timeout);
    return reply.status(201).send(sandboxJson(record, clientID));
  });

  const connect: Handler = async (request, reply) => {
    const body = parse(connectBodySchema, request.body, 'body');
    const { record, resumed } = await sandboxes.connect(idOf(request), body.timeout);
    return reply.status(resumed ? 201 : 200).send(sandboxJson(record, clientID));
  };
  route('POST', '/sandboxes/:sandboxID/connect', connect);
  route('POST', '/v2/sandboxes/:sandboxID/connect', connect);

  // E2B features axo does not have: a clear 501 rather than a 404 the SDK would read as "no such sandbox".
  const unsupported =
    (what: string): Handler =>
    async () => {
      throw new E2bHttpError(501, `axo-server's E2B compatibility does not support ${what}`);
    };
  route('GET', '/sandboxes/:sandboxID/metrics', unsupported('sandbox metrics'));
  route('GET', '/sandboxes/metrics', unsupported('sandbox metrics'));
  route('GET', '/sandboxes/:sandboxID/logs', unsupported('sandbox logs'));
  route('GET', '/v2/sandboxes/:sandboxID/logs', unsupported('sandbox logs'));
  route('PUT', '/sandboxes/:sandboxID/network', unsupported('changing a sandbox network'));
  route('POST', '/sandboxes/:sandboxID/snapshots', unsupported('snapshots'));
  route('GET', '/snapshots', unsupported('snapshots'));
  route('POST', '/sandboxes/:sandboxID/fork', unsupported('forking a sandbox'));
  route('DELETE', '/templates/:templateID', unsupported('deleting templates and snapshots'));
  // Whole APIs axo has no counterpart of (every method, every path under them), so the SDK's
  // Template, Volume and Secret calls fail with a 501 saying so, not a 401 from axo's own auth.
  const apis: ReadonlyArray<[string, string]> = [
    ['/templates', 'templates (building, tags, aliases)'],
    ['/v2/templates', 'templates (building, tags, aliases)'],
    ['/v3/templates', 'templates (building, tags, aliases)'],
    ['/volumes', 'volumes'],
    ['/secrets', 'secrets'],
  ];
  for (const [prefix, what] of apis) {
    app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url: prefix, config, handler: unsupported(what) });
    app.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url: `${prefix}/*`,
      config,
      handler: unsupported(what),
    });
  }
}
