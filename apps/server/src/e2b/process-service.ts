// envd's process.Process service on axo's agent. A command is an agent process started with
// `keep: true`, so (as in envd) it outlives the stream that started it; its output streams
// to whoever is attached, with backpressure, and (as in envd, whose Connect forks only new
// output) a later Connect sees output from then on. A Start deadline (Connect-Timeout-Ms)
// kills the command, as envd's does; a Connect deadline only ends that stream.
import { randomBytes } from 'node:crypto';
import type { AgentClient, AgentProcess, ProcInfo } from '@axo/runtime';
import { FileError } from '@axo/runtime';
import type { FastifyReply } from 'fastify';
import { pumpOutput } from '../routes/ndjson';
import { RpcError, timeoutFromHeader } from './connect';
import { ConnectStream, keepaliveFromHeader } from './connect-stream';
import { type EnvdCall, perRuntime } from './envd';
import { rpcErrorOf } from './errors';
import {
  chunks,
  closeStdinRequestSchema,
  connectRequestSchema,
  endEventJson,
  listRequestSchema,
  type ProcessSelector,
  parseRequest,
  sendInputRequestSchema,
  sendSignalRequestSchema,
  signalFromJson,
  startRequestSchema,
  updateRequestSchema,
} from './proto';
import type { RpcContext, RpcService } from './rpc';

/** envd's data event sizes: 32 KiB of stdout/stderr, 16 KiB of a terminal. */
const STD_CHUNK = 32 * 1024;
const PTY_CHUNK = 16 * 1024;
/** Output an agent keeps of a detached process: envd keeps none, so a little is plenty. */
const RING_BYTES = 4096;
/** Seconds between keepalives when a client does not say (envd's SDKs ask for 50). */
const DEFAULT_KEEPALIVE_MS = 50_000;
const KEEPALIVE = { event: { keepalive: {} } };

/** The running process a selector names (by pid, or by tag); not_found otherwise, as envd. */
async function findProcess(client: AgentClient, selector: ProcessSelector): Promise<ProcInfo> {
  const procs = await client.list();
  const found = procs.find(
    (p) => p.running && p.pid > 0 && (selector.pid !== undefined ? p.pid === selector.pid : p.tag === selector.tag),
  );
  if (found) return found;
  throw new RpcError(
    'not_found',
    selector.pid !== undefined
      ? `process with pid ${selector.pid} not found`
      : `process with tag ${selector.tag} not found`,
  );
}

/** The shell the SDK's `/bin/bash` runs as: bash where the image has it, else /bin/sh (busybox, alpine). */
function shellOf(call: EnvdCall): Promise<string> {
  call.runtime.shell ??= call.session.sandbox.files.stat('/bin/bash', { follow: true }).then(
    (e) => (e.type === 'file' ? '/bin/bash' : '/bin/sh'),
    (error: unknown) => {
      if (FileError.isInstance(error) && error.agentCode === 'NOT_FOUND') return '/bin/sh';
      call.runtime.shell = undefined;
      throw error;
    },
  );
  return call.runtime.shell;
}

/** Attachments per process (so a process is forgotten only when nobody follows it). */
const attachments = perRuntime<number>();

/** Drops finished processes nobody follows (the agent keeps finished `keep` processes until told). */
async function sweep(call: EnvdCall, client: AgentClient, procs: readonly ProcInfo[]): Promise<void> {
  const following = attachments(call);
  for (const p of procs) {
    if (p.running || !call.runtime.procs.has(p.id) || (following.get(p.id) ?? 0) > 0) continue;
    call.runtime.procs.delete(p.id);
    await client.forget(p.id).catch(() => undefined);
  }
}

/**
 * Sweeps in the background when some process is known that nobody follows: a background
 * command whose client disconnected ends unwatched, and only a sweep drops it. Called as
 * streams end and commands start, so the known processes stay bounded without List being
 * called; a failed sweep is retried at the next chance.
 */
function sweepSoon(call: EnvdCall, client: AgentClient): void {
  // One sweep per session at a time, at most one a second, the calls in between folded
  // into one after it: a long-lived unfollowed process (a dev server) would otherwise cost
  // a list() with every start and stream end.
  let state = sweeps.get(call.runtime);
  if (!state) {
    state = { running: false, at: -SWEEP_GAP_MS, again: undefined };
    sweeps.set(call.runtime, state);
  }
  const s = state;
  const wait = s.at + SWEEP_GAP_MS - performance.now();
  if (s.running || wait > 0) {
    s.again ??= setTimeout(
      () => {
        s.again = undefined;
        sweepSoon(call, client);
      },
      Math.max(wait, SWEEP_GAP_MS / 10),
    );
    s.again.unref();
    return;
  }
  const following = attachments(call);
  if (![...call.runtime.procs.keys()].some((id) => (following.get(id) ?? 0) === 0)) return;
  s.running = true;
  client
    .list()
    .then((procs) => sweep(call, client, procs))
    .catch(() => undefined)
    .finally(() => {
      s.running = false;
      s.at = performance.now();
    });
}

const SWEEP_GAP_MS = 1000;
const sweeps = new WeakMap<object, { running: boolean; at: number; again: NodeJS.Timeout | undefined }>();

/**
 * Streams a process's events until it ends (or the client goes, or the deadline passes):
 * `start` with its pid, `data` as output comes (backpressured: a full socket pauses the
 * agent, so the command), then `end`. The process runs on when the stream goes.
 */
async function streamProcess(
  call: EnvdCall,
  proc: AgentProcess,
  pty: boolean,
  out: ConnectStream,
  client: AgentClient,
): Promise<void> {
  const following = attachments(call);
  following.set(proc.id, (following.get(proc.id) ?? 0) + 1);
  call.runtime.resources.add(out);
  call.session.attachedClients += 1;
  const streams = { stdout: proc.stdout, stderr: proc.stderr };
  let exit: Awaited<AgentProcess['exited']>;
  out.onClose(() => {
    proc.detach();
    streams.stdout.destroy();
    streams.stderr.destroy();
  });
  try {
    out.send({ event: { start: { pid: proc.pid } } });
    const done = pumpOutput(streams, out, (name, chunk) => {
      const field = pty ? 'pty' : name;
      let room = true;
      for (const piece of chunks(chunk, pty ? PTY_CHUNK : STD_CHUNK)) {
        room = out.send({ event: { data: { [field]: piece.toString('base64') } } }) && room;
      }
      return room;
    });
    exit = await proc.exited;
    await done;
    if (out.closed) return;
    if (exit) out.send({ event: { end: endEventJson(exit) } });
    out.end();
  } catch (error) {
    out.end(rpcErrorOf(error));
  } finally {
    call.runtime.resources.delete(out);
    call.session.attachedClients -= 1;
    call.session.lastUsedAt = new Date();
    const left = (following.get(proc.id) ?? 1) - 1;
    if (left > 0) following.set(proc.id, left);
    else following.delete(proc.id);
    // Ended with nobody else following: the agent can drop it (as envd forgets a process at its end).
    if (exit && left <= 0) {
      call.runtime.procs.delete(proc.id);
      await client.forget(proc.id).catch(() => undefined);
    }
    sweepSoon(call, client);
  }
}

function streamOptions(ctx: RpcContext, deadlineMs: number | undefined) {
  return {
    keepaliveMs: keepaliveFromHeader(ctx.request.headers['keepalive-ping-interval']) ?? DEFAULT_KEEPALIVE_MS,
    keepalive: KEEPALIVE,
    deadlineMs,
    onTick: () => {
      ctx.call.session.lastUsedAt = new Date();
    },
  };
}

async function start(ctx: RpcContext, reply: FastifyReply): Promise<void> {
  const { call } = ctx;
  const req = parseRequest(startRequestSchema, ctx.message);
  const deadlineMs = timeoutFromHeader(ctx.request.headers['connect-timeout-ms']);
  const client = call.agent();
  sweepSoon(call, client);
  const cmd = req.process.cmd === '/bin/bash' ? await shellOf(call) : req.process.cmd;
  const cwd = req.process.cwd ? call.path(req.process.cwd) : call.home;
  const size = req.pty ? { cols: req.pty.size?.cols ?? 80, rows: req.pty.size?.rows ?? 24 } : undefined;
  const proc = await client.start({
    argv: [cmd, ...req.process.args],
    env: { ...call.record.envVars, ...req.process.envs },
    cwd,
    ...(call.user !== undefined && { user: call.user }),
    // envd gives a stdin pipe unless told not to (older SDKs never say); a terminal always has input.
    stdin: size !== undefined || req.stdin !== false,
    ...(size && { pty: size }),
    // As envd: the deadline of the Start call kills the command.
    ...(deadlineMs !== undefined && { timeoutMs: deadlineMs }),
    keep: true,
    ringBytes: RING_BYTES,
    tag: req.tag ?? '',
    id: `e2b-${randomBytes(6).toString('hex')}`,
  });
  call.runtime.procs.set(proc.id, { cmd: req.process.cmd, args: req.process.args, envs: req.process.envs, cwd });
  const out = new ConnectStream(ctx.request, reply, streamOptions(ctx, deadlineMs));
  await streamProcess(call, proc, size !== undefined, out, client);
}

async function connect(ctx: RpcContext, reply: FastifyReply): Promise<void> {
  const { call } = ctx;
  const req = parseRequest(connectRequestSchema, ctx.message);
  const deadlineMs = timeoutFromHeader(ctx.request.headers['connect-timeout-ms']);
  const client = call.agent();
  const info = await findProcess(client, req.process);
  // From the end of what was written so far: envd's Connect delivers only new output.
  const proc = await client.attach(info.id, {
    stdout: Number.MAX_SAFE_INTEGER,
    stderr: Number.MAX_SAFE_INTEGER,
    follow: true,
  });
  const out = new ConnectStream(ctx.request, reply, streamOptions(ctx, deadlineMs));
  await streamProcess(call, proc, info.pty, out, client);
}

async function list(ctx: RpcContext): Promise<object> {
  parseRequest(listRequestSchema, ctx.message);
  const client = ctx.call.agent();
  const procs = await client.list();
  await sweep(ctx.call, client, procs);
  return {
    processes: procs
      .filter((p) => p.running && p.pid > 0)
      .map((p) => {
        const config = ctx.call.runtime.procs.get(p.id) ?? {
          cmd: p.argv[0] ?? '',
          args: p.argv.slice(1),
          envs: {},
          cwd: p.cwd,
        };
        return { config, pid: p.pid, ...(p.tag !== '' && { tag: p.tag }) };
      }),
  };
}

async function sendInput(ctx: RpcContext): Promise<object> {
  const req = parseRequest(sendInputRequestSchema, ctx.message);
  const client = ctx.call.agent();
  const info = await findProcess(client, req.process);
  const data = req.input.stdin ?? req.input.pty;
  if (data === undefined) throw new RpcError('invalid_argument', 'input: give stdin or pty bytes');
  await client.writeStdin(info.id, data);
  return {};
}

async function closeStdin(ctx: RpcContext): Promise<object> {
  const req = parseRequest(closeStdinRequestSchema, ctx.message);
  const client = ctx.call.agent();
  const info = await findProcess(client, req.process);
  if (info.pty) {
    throw new RpcError('failed_precondition', 'cannot close stdin for PTY process — send Ctrl+D (0x04) instead');
  }
  await client.writeStdin(info.id, new Uint8Array(0), { close: true });
  return {};
}

async function sendSignal(ctx: RpcContext): Promise<object> {
  const req = parseRequest(sendSignalRequestSchema, ctx.message);
  const signal = signalFromJson(req.signal);
  if (!signal) throw new RpcError('invalid_argument', `invalid signal: ${JSON.stringify(req.signal)}`);
  const client = ctx.call.agent();
  const info = await findProcess(client, req.process);
  // SIGKILL kills the command's whole tree, so nothing it started holds its output open.
  if (signal === 'KILL') await client.kill(info.id);
  else await client.signal(info.id, signal);
  return {};
}

async function update(ctx: RpcContext): Promise<object> {
  const req = parseRequest(updateRequestSchema, ctx.message);
  const client = ctx.call.agent();
  const info = await findProcess(client, req.process);
  const size = req.pty?.size;
  if (size) {
    if (!info.pty) throw new RpcError('failed_precondition', 'tty not assigned to process');
    await client.resize(info.id, size.cols, size.rows);
  }
  return {};
}

/** process.Process. StreamInput (client streaming) cannot be called over HTTP/1.1 fetch: unimplemented. */
export const processService: RpcService = {
  name: 'process.Process',
  unary: { List: list, SendInput: sendInput, CloseStdin: closeStdin, SendSignal: sendSignal, Update: update },
  stream: { Start: start, Connect: connect },
};
