// /v1/sessions/{id}/processes…: streaming exec. A process is an agent process started with
// `keep: true` (the mechanism background tasks use): its output streams to the client as
// NDJSON with backpressure while the client reads, goes to the agent's bounded ring when it
// does not, and a client that comes back reattaches from the offsets it saw. Shaped as a
// superset of E2B envd's process service (Start, Connect, List, SendInput, CloseStdin,
// SendSignal, Update).
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { envSchema, sessionIdSchema, userSchema } from '@axo/podman-args';
import {
  AGENT_SIGNALS,
  type AgentClient,
  type AgentProcess,
  type AgentSignal,
  AxoError,
  type ProcInfo,
  SIGNAL_NUMBERS,
} from '@axo/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../problem';
import type { Router } from '../route';
import { processEventSchema, processExitSchema, processListSchema } from '../schemas';
import type { ManagedSession, SessionManager } from '../sessions';
import { NdjsonReply, pumpOutput } from './ndjson';

/** Bytes of output per NDJSON line at most (a line is then at most ~350 KiB of base64). */
const MAX_LINE_BYTES = 256 * 1024;
/** Output each stream of a process keeps for a client that comes back. */
const DEFAULT_RING_BYTES = 1024 * 1024;

const idParams = z.strictObject({ id: sessionIdSchema });
const procParams = z.strictObject({
  id: sessionIdSchema,
  pid: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a process id or a numeric pid')
    .describe('The process id (from start or list), or its numeric pid'),
});
const env = envSchema.describe('Added to the base environment');
const size = {
  cols: z.number().int().min(2).max(1000),
  rows: z.number().int().min(1).max(500),
};

export const processStartBody = z
  .strictObject({
    cmd: z.string().min(1).max(4096).optional().describe('The program (E2B); looked up in PATH, with args'),
    args: z.array(z.string().max(100_000)).max(1000).optional().describe('Arguments of cmd'),
    argv: z.array(z.string().max(100_000)).min(1).max(1000).optional().describe('Program and arguments'),
    command: z.string().min(1).max(100_000).optional().describe('A shell command line, run with sh -c'),
    envs: env.optional().describe('Environment to add (E2B name)'),
    env: env.optional().describe('Environment to add (same as envs)'),
    cwd: z.string().startsWith('/').max(4096).optional().describe('Working directory; default the session workdir'),
    user: userSchema.optional().describe("Run as this user; default the session's user"),
    stdin: z.boolean().default(false).describe('Give the process a stdin pipe (send with …/stdin); else /dev/null'),
    pty: z.strictObject(size).optional().describe('Run on a terminal of this size; its output comes as stdout'),
    timeoutMs: z.number().int().min(1).max(604_800_000).optional().describe('Kill the whole tree after this long'),
    tag: z.string().max(4096).optional().describe('Free text shown by list'),
    ringBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(DEFAULT_RING_BYTES)
      .describe('Bytes of each stream kept for a client that reattaches (default 1 MiB)'),
  })
  .refine((b) => [b.cmd, b.argv, b.command].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of cmd (with args), argv or command',
  })
  .refine((b) => b.args === undefined || b.cmd !== undefined, { message: 'args go with cmd' })
  .refine((b) => b.env === undefined || b.envs === undefined, { message: 'give env or envs, not both' });

const streamQuery = z.strictObject({
  stdout: z.coerce.number().int().min(0).default(0).describe('Offset of the first stdout byte wanted'),
  stderr: z.coerce.number().int().min(0).default(0).describe('Offset of the first stderr byte wanted'),
  follow: z
    .preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean())
    .default(true)
    .describe('Stream until the process ends (else send what is held, then an end line)'),
});
const stdinQuery = z.strictObject({
  close: z
    .preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean())
    .default(false)
    .describe('Close stdin after these bytes (end of input; on a PTY, ^D)'),
});
const signalBody = z.strictObject({
  signal: z
    .union([z.string().max(32), z.number().int()])
    .describe(`TERM, SIGTERM or 15; one of ${AGENT_SIGNALS.join(' ')} (E2B SIGNAL_SIGTERM works too)`),
});
const resizeBody = z.strictObject(size);

/** `SIGTERM`, `TERM`, `SIGNAL_SIGTERM`, `15` → `TERM`; undefined when unknown. */
function signalName(signal: string | number): AgentSignal | undefined {
  if (typeof signal === 'number') return AGENT_SIGNALS.find((name) => SIGNAL_NUMBERS[name] === signal);
  const name = signal
    .toUpperCase()
    .replace(/^SIGNAL_/, '')
    .replace(/^SIG/, '');
  if (/^\d+$/.test(name)) return signalName(Number(name));
  return AGENT_SIGNALS.find((known) => known === name);
}

function agentOf(s: ManagedSession): AgentClient {
  const client = s.sandbox.agentClient;
  if (client) return client;
  throw new AxoError('AGENT_UNAVAILABLE', `session ${s.id} runs without its agent, so it has no processes`, {
    hint: 'Recreate the session (with replace: true) to get its agent; /exec and /tasks still work.',
  });
}

/** Environments given at start, per session (the agent does not list them); pruned on list. */
const envsBySession = new WeakMap<ManagedSession, Map<string, Record<string, string>>>();

/** The process a URL names: its id, or a numeric pid (the running one, else the latest). */
async function resolveProcess(client: AgentClient, selector: string): Promise<ProcInfo> {
  const procs = await client.list();
  const found = /^\d+$/.test(selector)
    ? procs
        .filter((p) => p.pid === Number(selector))
        .sort((a, b) => Number(b.running) - Number(a.running) || b.startedAt.localeCompare(a.startedAt))[0]
    : procs.find((p) => p.id === selector);
  if (!found) throw new ApiError(404, 'NOT_FOUND', `no process ${selector}`);
  return found;
}

function processView(p: ProcInfo, envs: Record<string, string> | undefined) {
  return {
    id: p.id,
    pid: p.pid,
    tag: p.tag === '' ? null : p.tag,
    cmd: p.argv[0] ?? '',
    args: p.argv.slice(1),
    argv: [...p.argv],
    ...(envs && { envs }),
    cwd: p.cwd,
    user: p.user,
    pty: p.pty,
    running: p.running,
    exitCode: p.exitCode,
    signal: p.signal,
    timedOut: p.timedOut,
    killed: p.killed,
    startedAt: p.startedAt,
    endedAt: p.endedAt,
    stdout: p.stdout,
    stderr: p.stderr,
  };
}

/** Reads a raw body up to `limit` bytes. */
async function readBody(body: unknown, limit: number): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as Readable) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      (body as Readable).destroy();
      throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `stdin bodies are at most ${limit} bytes; send more in several`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** Registers the process routes. */
export function registerProcessRoutes(router: Router, sessions: SessionManager, options: { bodyLimit: number }): void {
  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/processes',
    tag: 'processes',
    summary: 'Start a process and stream its output as NDJSON (E2B Start)',
    description:
      'Answers application/x-ndjson, one JSON object per line: {"type":"start",id,pid,…}, then ' +
      '{"type":"stdout"|"stderr",offset,data} (data is base64: bytes are never altered), {"type":"lost",stream,from,to} ' +
      'where the ring dropped bytes, {"type":"keepalive"} every 15 s of silence, and last {"type":"exit",exitCode,signal,' +
      'timedOut,killed,stdout,stderr} (or {"type":"error",code,message} if the session went away). Output flows at the ' +
      "client's pace. When the client disconnects the process keeps running and its output goes to a ring of ringBytes " +
      'per stream; GET …/processes/{pid}/stream?stdout=N&stderr=M reattaches. Failures before the start are problem+json.',
    params: idParams,
    body: processStartBody,
    success: {
      status: 200,
      description: 'One JSON object per line',
      contentType: 'application/x-ndjson',
      schema: processEventSchema,
    },
    handler: async ({ params, body }, request, reply) => {
      const session = sessions.use(params.id);
      const client = agentOf(session);
      const argv =
        body.argv ?? (body.cmd !== undefined ? [body.cmd, ...(body.args ?? [])] : ['sh', '-c', body.command as string]);
      const envs = body.envs ?? body.env ?? {};
      const proc = await client.start({
        argv,
        env: envs,
        ...(body.cwd !== undefined && { cwd: body.cwd }),
        ...(body.user !== undefined && { user: body.user }),
        stdin: body.stdin,
        ...(body.pty && { pty: body.pty }),
        ...(body.timeoutMs !== undefined && { timeoutMs: body.timeoutMs }),
        keep: true,
        ringBytes: body.ringBytes,
        tag: body.tag ?? '',
        id: `p-${randomBytes(6).toString('hex')}`,
      });
      const known = envsBySession.get(session) ?? new Map<string, Record<string, string>>();
      envsBySession.set(session, known);
      known.set(proc.id, envs);
      await streamProcess(session, proc, { stdout: 0, stderr: 0 }, true, request, reply);
      return reply;
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/processes',
    tag: 'processes',
    summary: 'List processes: running ones and finished background ones (E2B List)',
    description: 'Background tasks are processes too and are listed here.',
    params: idParams,
    success: { status: 200, description: 'Every process the agent knows', schema: processListSchema },
    handler: async ({ params }) => {
      const session = sessions.use(params.id);
      const procs = await agentOf(session).list();
      const known = envsBySession.get(session);
      if (known) for (const id of known.keys()) if (!procs.some((p) => p.id === id)) known.delete(id);
      return { processes: procs.map((p) => processView(p, known?.get(p.id))) };
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/processes/:pid/stream',
    tag: 'processes',
    summary: 'Reattach to a process: its output from offsets as NDJSON (E2B Connect)',
    description:
      'Every byte from the offsets that the agent still holds, exactly once; {"type":"lost",…} for what its ring ' +
      'dropped; then, following, the live output and the exit line (as for start). With follow=false: what is held, ' +
      'then {"type":"end",stdout,stderr} with the offsets to continue from.',
    params: procParams,
    query: streamQuery,
    success: {
      status: 200,
      description: 'One JSON object per line',
      contentType: 'application/x-ndjson',
      schema: processEventSchema,
    },
    handler: async ({ params, query }, request, reply) => {
      const session = sessions.use(params.id);
      const client = agentOf(session);
      const info = await resolveProcess(client, params.pid);
      const proc = await client.attach(info.id, { stdout: query.stdout, stderr: query.stderr, follow: query.follow });
      await streamProcess(session, proc, { stdout: query.stdout, stderr: query.stderr }, info.running, request, reply);
      return reply;
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/processes/:pid/stdin',
    tag: 'processes',
    summary: 'Send bytes to a process’s stdin; close=true closes it after them (E2B SendInput, CloseStdin)',
    description:
      'The process must have been started with stdin: true (else 400). An empty body with close=true only closes.',
    params: procParams,
    query: stdinQuery,
    rawBody: {
      contentType: 'application/octet-stream',
      description: 'Bytes for stdin (at most the server body limit)',
    },
    success: { status: 204, description: 'Written (and closed)' },
    handler: async ({ params, query }, request) => {
      const session = sessions.use(params.id);
      const client = agentOf(session);
      const data = await readBody(request.body, options.bodyLimit);
      const info = await resolveProcess(client, params.pid);
      if (!info.running) throw new ApiError(409, 'CONFLICT', `process ${params.pid} has ended`);
      await client.writeStdin(info.id, data, { close: query.close });
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/processes/:pid/signal',
    tag: 'processes',
    summary: 'Send a signal to the process itself, not its tree (E2B SendSignal)',
    params: procParams,
    body: signalBody,
    success: { status: 204, description: 'Delivered' },
    handler: async ({ params, body }) => {
      const name = signalName(body.signal);
      if (!name) {
        throw new ApiError(400, 'INVALID_INPUT', `unknown signal ${JSON.stringify(body.signal)}`, {
          hint: `One of ${AGENT_SIGNALS.join(' ')}, with or without SIG, or its number.`,
        });
      }
      const client = agentOf(sessions.use(params.id));
      const info = await resolveProcess(client, params.pid);
      if (!info.running) throw new ApiError(409, 'CONFLICT', `process ${params.pid} has ended`);
      await client.signal(info.id, name);
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/processes/:pid/resize',
    tag: 'processes',
    summary: 'Resize the terminal of a PTY process (E2B Update)',
    params: procParams,
    body: resizeBody,
    success: { status: 204, description: 'Resized' },
    handler: async ({ params, body }) => {
      const client = agentOf(sessions.use(params.id));
      const info = await resolveProcess(client, params.pid);
      if (!info.pty) throw new ApiError(409, 'CONFLICT', `process ${params.pid} has no terminal`);
      await client.resize(info.id, body.cols, body.rows);
    },
  });

  router.add({
    method: 'DELETE',
    url: '/v1/sessions/:id/processes/:pid',
    tag: 'processes',
    summary: 'Kill a process and its whole tree; answers how it ended',
    params: procParams,
    success: { status: 200, description: 'How it ended', schema: processExitSchema },
    handler: async ({ params }) => {
      const client = agentOf(sessions.use(params.id));
      const info = await resolveProcess(client, params.pid);
      if (!info.running) {
        return {
          type: 'exit' as const,
          exitCode: info.exitCode,
          signal: info.signal,
          timedOut: info.timedOut,
          killed: info.killed,
          stdout: info.stdout.total,
          stderr: info.stderr.total,
        };
      }
      const exit = await client.kill(info.id);
      return {
        type: 'exit' as const,
        exitCode: exit.exitCode,
        signal: exit.signal,
        timedOut: exit.timedOut,
        killed: exit.killed,
        stdout: exit.stdout,
        stderr: exit.stderr,
      };
    },
  });
}

type StreamName = 'stdout' | 'stderr';

/**
 * Streams a process's output to the client as NDJSON. While the socket is full, both output
 * streams are paused (so the connection to the agent pauses, and the command with it); when
 * the client goes away, the attachment is closed and a `keep` process runs on.
 */
async function streamProcess(
  session: ManagedSession,
  proc: AgentProcess,
  requested: { readonly stdout: number; readonly stderr: number },
  running: boolean,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const out = new NdjsonReply(request, reply, { onTick: () => (session.lastUsedAt = new Date()) });
  const streams: Record<StreamName, Readable> = { stdout: proc.stdout, stderr: proc.stderr };
  out.onClose(() => {
    proc.detach();
    streams.stdout.destroy();
    streams.stderr.destroy();
  });
  session.attachedClients += 1;
  const offsets = { ...proc.startOffsets };
  try {
    out.write({ type: 'start', id: proc.id, pid: proc.pid, running, stdout: offsets.stdout, stderr: offsets.stderr });
    // Bytes asked for that the ring no longer holds: the data starts later than asked. (The
    // agent says so too, in a `lost` message that may arrive before anyone listens.)
    const reported = { ...offsets };
    for (const name of ['stdout', 'stderr'] as const) {
      if (requested[name] < offsets[name])
        out.write({ type: 'lost', stream: name, from: requested[name], to: offsets[name] });
    }
    proc.on('lost', (m) => {
      if (m.to <= reported[m.stream]) return;
      out.write({ type: 'lost', stream: m.stream, from: Math.max(m.from, reported[m.stream]), to: m.to });
      reported[m.stream] = m.to;
    });

    const done = pumpOutput(streams, out, (name, chunk) => {
      let room = true;
      for (let at = 0; at < chunk.length; at += MAX_LINE_BYTES) {
        const piece = chunk.subarray(at, at + MAX_LINE_BYTES);
        room = out.write({ type: name, offset: offsets[name], data: piece.toString('base64') }) && room;
        offsets[name] += piece.length;
      }
      return room;
    });
    const exit = await proc.exited;
    await done;
    if (out.closed) return;
    if (exit) {
      out.end({
        type: 'exit',
        exitCode: exit.exitCode,
        signal: exit.signal,
        timedOut: exit.timedOut,
        killed: exit.killed,
        stdout: exit.stdout,
        stderr: exit.stderr,
      });
    } else if (proc.endOffsets) {
      out.end({ type: 'end', ...proc.endOffsets });
    } else out.end();
  } catch (error) {
    out.fail(error);
  } finally {
    session.attachedClients -= 1;
    session.lastUsedAt = new Date();
  }
}
