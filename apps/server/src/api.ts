import { isUtf8 } from 'node:buffer';
import { imageRefSchema, portSchema, sessionIdSchema } from '@axo/podman-args';
import { z } from 'zod';
import { registerEgressApi } from './egress-api';
import type { Metrics } from './metrics';
import { ApiError } from './problem';
import type { Router } from './route';
import type { ManagedSession, SessionManager } from './sessions';

const idParams = z.strictObject({ id: sessionIdSchema });
const taskParams = z.strictObject({ id: sessionIdSchema, taskId: z.string().regex(/^[\w.-]{1,100}$/) });
const terminalParams = z.strictObject({ id: sessionIdSchema, terminalId: z.string().regex(/^[\w.-]{1,100}$/) });
const env = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({});
const cwd = z.string().startsWith('/').max(4096).optional();

export const createSessionBody = z.strictObject({
  id: sessionIdSchema.optional(),
  workdir: z.string().startsWith('/', 'workdir must be an absolute path').max(4096),
  image: imageRefSchema.optional(),
  ports: z.array(portSchema).max(64).default([]),
  /** `allowlist`: no route out but the `egress` entries, through the session's gateway (implied by `egress`). */
  network: z.enum(['bridge', 'none', 'allowlist']).optional(),
  /** Where an allowlisted session may connect (`deb.debian.org`, `*.example.com:443`, `10.0.0.0/8:5432`); the server's policy caps it. */
  egress: z.array(z.string().max(300)).max(256).optional(),
  postCreate: z.array(z.string().min(1).max(10_000)).max(32).optional(),
  /** Read the workdir's devcontainer.json as the repository's requests. */
  devcontainer: z.boolean().default(false),
  requireLimits: z.boolean().optional(),
  allowUntrustedImage: z.boolean().optional(),
  allowPostCreate: z.boolean().optional(),
  allowBuild: z.boolean().optional(),
  /** Recreate the session of this `id` when it exists (inputs and the image are checked first). */
  replace: z.boolean().default(false),
});

export const execBody = z
  .strictObject({
    argv: z.array(z.string()).min(1).max(1000).optional(),
    /** A shell command line, run with `sh -c`. */
    command: z.string().min(1).max(100_000).optional(),
    stdin: z
      .string()
      .max(16 * 1024 * 1024)
      .optional(),
    env,
    cwd,
    timeoutMs: z.number().int().min(1).max(3_600_000).default(60_000),
    maxOutputBytes: z
      .number()
      .int()
      .min(1)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
  })
  .refine((b) => (b.argv === undefined) !== (b.command === undefined), {
    message: 'give exactly one of argv or command',
  });

const taskBody = z.strictObject({ command: z.string().min(1).max(100_000), env, cwd });
const logQuery = z.strictObject({ offset: z.coerce.number().int().min(0).default(0) });
const terminalBody = z.strictObject({
  command: z.string().min(1).max(10_000).optional(),
  cols: z.number().int().min(2).max(1000).default(80),
  rows: z.number().int().min(1).max(500).default(24),
});

/** How a session is shown to clients. */
export function sessionView(s: ManagedSession) {
  return {
    id: s.id,
    container: s.sandbox.container,
    workdir: s.sandbox.root,
    createdAt: s.createdAt.toISOString(),
    lastUsedAt: s.lastUsedAt.toISOString(),
    recovered: s.recovered,
    state: s.sandbox.paused ? 'paused' : 'running',
    report: s.report ?? null,
    devcontainer: s.devcontainer ?? null,
    terminals: s.terminals.list(),
  };
}

/**
 * Output as JSON without altering a byte: text when it is valid UTF-8, else the same field
 * name with `Base64` appended and the text field left out, so a client that knows only the
 * text field sees no text rather than text with replacement characters.
 */
export function textOrBase64<K extends string>(field: K, bytes: Buffer): Partial<Record<K | `${K}Base64`, string>> {
  return (
    isUtf8(bytes) ? { [field]: bytes.toString('utf8') } : { [`${field}Base64`]: bytes.toString('base64') }
  ) as Partial<Record<K | `${K}Base64`, string>>;
}

/** Registers the /v1 API. */
export function registerApi(router: Router, sessions: SessionManager, metrics: Metrics): void {
  registerEgressApi(router, sessions);
  router.add({
    method: 'POST',
    url: '/v1/sessions',
    tag: 'sessions',
    summary: 'Create a session (the server policy bounds what a client may ask for)',
    body: createSessionBody,
    success: { status: 201, description: 'The session, with its hardening report' },
    handler: async ({ body }) => sessionView(await sessions.create(body)),
  });
  router.add({
    method: 'GET',
    url: '/v1/sessions',
    tag: 'sessions',
    summary: 'List sessions',
    success: { status: 200, description: 'Every session of this server' },
    handler: async () => ({ sessions: sessions.list().map(sessionView) }),
  });
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id',
    tag: 'sessions',
    summary: 'Get a session and its hardening report',
    params: idParams,
    success: { status: 200, description: 'The session' },
    handler: async ({ params }) => sessionView(sessions.use(params.id)),
  });
  router.add({
    method: 'DELETE',
    url: '/v1/sessions/:id',
    tag: 'sessions',
    summary: 'Delete a session: kills its terminals and removes its container',
    params: idParams,
    success: { status: 204, description: 'Deleted' },
    handler: async ({ params }) => {
      await sessions.remove(params.id);
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/pause',
    tag: 'sessions',
    summary:
      'Pause a session: its processes keep their memory and state and use no CPU until resumed (any use resumes it)',
    params: idParams,
    success: { status: 200, description: 'The session, paused' },
    handler: async ({ params }) => sessionView(await sessions.pause(params.id)),
  });
  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/resume',
    tag: 'sessions',
    summary: 'Resume a paused session',
    params: idParams,
    success: { status: 200, description: 'The session, running' },
    handler: async ({ params }) => sessionView(await sessions.resume(params.id)),
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/exec',
    tag: 'exec',
    summary: 'Run a command and wait for it; a non-zero exit is a result',
    params: idParams,
    body: execBody,
    success: { status: 200, description: 'stdout, stderr, exit code and flags' },
    handler: async ({ params, body }, _request, reply) => {
      const s = sessions.use(params.id);
      // A client that disconnects before the answer is sent no longer wants the command run.
      const abort = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const argv = body.argv ?? ['sh', '-c', body.command as string];
      const { stdout, stderr, ...result } = await s.sandbox.exec(argv, {
        timeoutMs: body.timeoutMs,
        maxOutputBytes: body.maxOutputBytes,
        env: body.env,
        ...(body.cwd !== undefined && { cwd: body.cwd }),
        ...(body.stdin !== undefined && { stdin: body.stdin }),
        signal: abort.signal,
        encoding: 'buffer',
      });
      metrics.execs.inc({ outcome: result.timedOut ? 'timeout' : result.exitCode === 0 ? 'ok' : 'nonzero' });
      metrics.execDuration.observe(result.durationMs / 1000);
      return { ...textOrBase64('stdout', stdout), ...textOrBase64('stderr', stderr), ...result };
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/tasks',
    tag: 'tasks',
    summary: 'Start a background task',
    params: idParams,
    body: taskBody,
    success: { status: 201, description: 'The task' },
    handler: async ({ params, body }) => {
      const s = sessions.use(params.id);
      const taskId = await s.sandbox.spawnBackground(body.command, {
        env: body.env,
        ...(body.cwd && { cwd: body.cwd }),
      });
      metrics.tasks.inc();
      return s.sandbox.getTask(taskId);
    },
  });
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/tasks',
    tag: 'tasks',
    summary: 'List tasks',
    params: idParams,
    success: { status: 200, description: 'Tasks, oldest first' },
    handler: async ({ params }) => ({ tasks: await sessions.use(params.id).sandbox.listTasks() }),
  });
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/tasks/:taskId',
    tag: 'tasks',
    summary: 'Get a task with its output from a byte offset (poll with the returned `log.to`)',
    params: taskParams,
    query: logQuery,
    success: { status: 200, description: 'The task and its log slice' },
    handler: async ({ params, query }) => {
      const s = sessions.use(params.id);
      const task = await s.sandbox.getTask(params.taskId);
      if (!task) throw new ApiError(404, 'NOT_FOUND', `no task ${params.taskId}`);
      const { data, from, to, missed } = await s.sandbox.taskLog(params.taskId, query.offset);
      return { task, log: { ...textOrBase64('text', data), from, to, missed } };
    },
  });
  router.add({
    method: 'DELETE',
    url: '/v1/sessions/:id/tasks/:taskId',
    tag: 'tasks',
    summary: 'Kill a task (its processes inside the container too)',
    params: taskParams,
    success: { status: 200, description: 'The task once it ended' },
    handler: async ({ params }) => {
      const s = sessions.use(params.id);
      if (!(await s.sandbox.getTask(params.taskId))) throw new ApiError(404, 'NOT_FOUND', `no task ${params.taskId}`);
      return s.sandbox.killTask(params.taskId);
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/terminals',
    tag: 'terminals',
    summary: 'Open a terminal; attach to it over WebSocket at …/terminals/{terminalId}/attach',
    params: idParams,
    body: terminalBody,
    success: { status: 201, description: 'The terminal' },
    handler: async ({ params, body }) => {
      const s = sessions.use(params.id);
      const t = await s.terminals.spawn({
        ...(body.command !== undefined && { command: body.command }),
        cols: body.cols,
        rows: body.rows,
        cwd: s.sandbox.root,
      });
      return { id: t.id, command: t.command, alive: t.isAlive, ...t.size };
    },
  });
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/terminals',
    tag: 'terminals',
    summary: 'List terminals',
    params: idParams,
    success: { status: 200, description: 'Terminals' },
    handler: async ({ params }) => ({ terminals: sessions.use(params.id).terminals.list() }),
  });
  router.add({
    method: 'DELETE',
    url: '/v1/sessions/:id/terminals/:terminalId',
    tag: 'terminals',
    summary: 'Kill a terminal (its processes inside the container too)',
    params: terminalParams,
    success: { status: 204, description: 'Killed' },
    handler: async ({ params }) => {
      if (!(await sessions.use(params.id).terminals.kill(params.terminalId))) {
        throw new ApiError(404, 'NOT_FOUND', `no terminal ${params.terminalId}`);
      }
    },
  });
}
