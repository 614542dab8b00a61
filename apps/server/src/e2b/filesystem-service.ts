// envd's filesystem.Filesystem service on `sandbox.files` (axo's agent acting as the user).
// Semantics follow envd: Remove removes recursively and a missing path is no error; MakeDir
// creates parents and answers already_exists for an existing directory; Move creates the
// destination's parents; paths resolve `~` and relative paths against the user's home.
// One difference on purpose: the agent acts with the user's own permissions (envd acts as
// root and chowns), so a user cannot write where that user could not.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { FileEvent, FileWatch } from '@axo/runtime';
import { FileError } from '@axo/runtime';
import type { FastifyReply } from 'fastify';
import { RpcError, timeoutFromHeader } from './connect';
import { ConnectStream, keepaliveFromHeader } from './connect-stream';
import { type EnvdCall, perRuntime } from './envd';
import { rpcErrorOf } from './errors';
import {
  createWatcherRequestSchema,
  entryInfoJson,
  eventTypeJson,
  listDirRequestSchema,
  makeDirRequestSchema,
  moveRequestSchema,
  parseRequest,
  removeRequestSchema,
  statRequestSchema,
  watchDirRequestSchema,
  watcherIdRequestSchema,
} from './proto';
import type { RpcContext, RpcService } from './rpc';
import type { SandboxResource } from './sandboxes';

const DEFAULT_KEEPALIVE_MS = 50_000;
/** Events a polling watcher holds between two GetWatcherEvents calls. */
const MAX_PENDING_EVENTS = 10_000;
/** Polling watchers a sandbox may hold (each is an agent watch; the agent allows 16). */
const MAX_WATCHERS = 8;

const opt = (user: string | undefined) => (user === undefined ? {} : { user });
const isCode = (error: unknown, code: string) => FileError.isInstance(error) && error.agentCode === code;

async function stat(ctx: RpcContext): Promise<object> {
  const req = parseRequest(statRequestSchema, ctx.message);
  const { call } = ctx;
  const entry = await call.session.sandbox.files.stat(call.path(req.path), opt(call.user));
  return { entry: entryInfoJson(entry) };
}

async function makeDir(ctx: RpcContext): Promise<object> {
  const req = parseRequest(makeDirRequestSchema, ctx.message);
  const { call } = ctx;
  const path = call.path(req.path);
  const files = call.session.sandbox.files;
  const existing = await files.stat(path, { follow: true, ...opt(call.user) }).catch((error: unknown) => {
    if (isCode(error, 'NOT_FOUND')) return undefined;
    throw error;
  });
  if (existing?.type === 'dir') throw new RpcError('already_exists', `directory already exists: ${path}`);
  if (existing) throw new RpcError('invalid_argument', `path already exists but it is not a directory: ${path}`);
  const entry = await files.mkdir(path, { parents: true, ...opt(call.user) });
  return { entry: entryInfoJson(entry) };
}

async function move(ctx: RpcContext): Promise<object> {
  const req = parseRequest(moveRequestSchema, ctx.message);
  const { call } = ctx;
  const files = call.session.sandbox.files;
  const destination = call.path(req.destination);
  await files.mkdir(posix.dirname(destination), { parents: true, ...opt(call.user) });
  const entry = await files.move(call.path(req.source), destination, opt(call.user));
  return { entry: entryInfoJson(entry) };
}

async function listDir(ctx: RpcContext): Promise<object> {
  const req = parseRequest(listDirRequestSchema, ctx.message);
  const { call } = ctx;
  const depth = Math.min(Math.max(req.depth, 1), 32);
  const files = call.session.sandbox.files;
  const path = call.path(req.path);
  // envd lists what a link to a directory points to (and names the entries under the link).
  const target = await files.stat(path, { follow: true, ...opt(call.user) });
  if (target.type !== 'dir') throw new RpcError('invalid_argument', `path is not a directory: ${path}`);
  const { entries } = await files.list(target.path, { depth, ...opt(call.user) });
  return {
    entries: entries.map((e) =>
      entryInfoJson(target.path === path ? e : { ...e, path: posix.join(path, posix.relative(target.path, e.path)) }),
    ),
  };
}

async function remove(ctx: RpcContext): Promise<object> {
  const req = parseRequest(removeRequestSchema, ctx.message);
  const { call } = ctx;
  await call.session.sandbox.files
    .remove(call.path(req.path), { recursive: true, ...opt(call.user) })
    .catch((error: unknown) => {
      if (!isCode(error, 'NOT_FOUND')) throw error;
    });
  return {};
}

/** Opens an agent watch on a directory, as envd's checks go: missing is not_found, a file invalid_argument. */
async function openWatch(
  call: EnvdCall,
  req: { path: string; recursive: boolean },
): Promise<{ watch: FileWatch; path: string }> {
  const files = call.session.sandbox.files;
  const path = call.path(req.path);
  const entry = await files.stat(path, { follow: true, ...opt(call.user) }).catch((error: unknown) => {
    if (isCode(error, 'NOT_FOUND')) throw new RpcError('not_found', `path ${path} not found`);
    throw error;
  });
  if (entry.type !== 'dir') throw new RpcError('invalid_argument', `path ${path} not a directory`);
  const watch = await files.watch(entry.path, { recursive: req.recursive, ...opt(call.user) });
  return { watch, path: entry.path };
}

/** filesystem.FilesystemEvent of an agent event; undefined for what envd has no name for (overflow). */
async function eventJson(
  call: EnvdCall,
  watched: string,
  event: FileEvent,
  includeEntry: boolean,
): Promise<object | undefined> {
  const type = eventTypeJson(event.op);
  if (!type) return undefined;
  const name = event.path === watched ? '.' : posix.relative(watched, event.path);
  let entry: object | undefined;
  if (includeEntry && event.op !== 'remove' && event.op !== 'rename') {
    entry = await call.session.sandbox.files.stat(event.path, opt(call.user)).then(entryInfoJson, () => undefined);
  }
  return { name, type, ...(entry && { entry }) };
}

async function watchDir(ctx: RpcContext, reply: FastifyReply): Promise<void> {
  const req = parseRequest(watchDirRequestSchema, ctx.message);
  const { call } = ctx;
  const deadlineMs = timeoutFromHeader(ctx.request.headers['connect-timeout-ms']);
  const { watch, path } = await openWatch(call, req);
  const out = new ConnectStream(ctx.request, reply, {
    keepaliveMs: keepaliveFromHeader(ctx.request.headers['keepalive-ping-interval']) ?? DEFAULT_KEEPALIVE_MS,
    keepalive: { keepalive: {} },
    deadlineMs,
    onTick: () => {
      call.session.lastUsedAt = new Date();
    },
  });
  out.onClose(() => void watch.close());
  call.runtime.resources.add(out);
  call.session.attachedClients += 1;
  try {
    out.send({ start: {} });
    for await (const event of watch) {
      const json = await eventJson(call, path, event, req.includeEntry);
      if (json && !out.send({ filesystem: json })) await out.drained();
      if (out.closed) break;
    }
    out.end();
  } catch (error) {
    out.end(rpcErrorOf(error));
  } finally {
    call.runtime.resources.delete(out);
    call.session.attachedClients -= 1;
    call.session.lastUsedAt = new Date();
    await watch.close().catch(() => undefined);
  }
}

/** A watcher polled with GetWatcherEvents (envd's non-streaming watch, used by synchronous SDKs). */
class PollingWatcher implements SandboxResource {
  readonly events: object[] = [];
  error: RpcError | undefined;
  #closed = false;
  #ended = false;

  constructor(
    readonly id: string,
    private readonly watch: FileWatch,
    private readonly onClosed: () => void,
  ) {}

  /** The watch ended by itself (an error, or the agent closed it); its last events may be left. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Collects events until closed; a watcher whose events nobody takes stops at a bound. */
  async run(call: EnvdCall, path: string, includeEntry: boolean): Promise<void> {
    try {
      for await (const event of this.watch) {
        const json = await eventJson(call, path, event, includeEntry);
        if (json) this.events.push(json);
        if (this.events.length > MAX_PENDING_EVENTS) {
          throw new RpcError('resource_exhausted', `more than ${MAX_PENDING_EVENTS} events not collected`);
        }
      }
    } catch (error) {
      if (!this.#closed) this.error = rpcErrorOf(error);
    } finally {
      await this.watch.close().catch(() => undefined);
      if (!this.#closed) {
        // Ended without RemoveWatcher: the client learns it from GetWatcherEvents (this error,
        // once it has taken the last events), and the watcher no longer counts against
        // MAX_WATCHERS (its agent watch is closed), so it cannot block new ones meanwhile.
        this.#ended = true;
        this.error ??= new RpcError('unavailable', `watcher ${this.id}: the watch ended`);
      }
    }
  }

  close(reason?: RpcError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.error ??= reason;
    void this.watch.close().catch(() => undefined);
    this.onClosed();
  }
}

const watchersOf = perRuntime<PollingWatcher>();

async function createWatcher(ctx: RpcContext): Promise<object> {
  const req = parseRequest(createWatcherRequestSchema, ctx.message);
  const { call } = ctx;
  const mine = watchersOf(call);
  // Watchers whose watch ended wait for their client to collect the end; when room is
  // needed they go (the client then hears not_found, as for a removed watcher).
  for (const w of [...mine.values()]) if (w.ended && mine.size >= MAX_WATCHERS) w.close();
  if (mine.size >= MAX_WATCHERS) {
    throw new RpcError('resource_exhausted', `a sandbox holds at most ${MAX_WATCHERS} watchers; remove one first`);
  }
  const { watch, path } = await openWatch(call, req);
  const id = `w-${randomBytes(8).toString('hex')}`;
  const watcher = new PollingWatcher(id, watch, () => {
    mine.delete(id);
    call.runtime.resources.delete(watcher);
  });
  mine.set(id, watcher);
  call.runtime.resources.add(watcher);
  void watcher.run(call, path, req.includeEntry);
  return { watcherId: id };
}

function watcherOf(call: EnvdCall, id: string): PollingWatcher {
  const watcher = watchersOf(call).get(id);
  if (!watcher) throw new RpcError('not_found', `watcher with id ${id} not found`);
  return watcher;
}

async function getWatcherEvents(ctx: RpcContext): Promise<object> {
  const req = parseRequest(watcherIdRequestSchema, ctx.message);
  const watcher = watcherOf(ctx.call, req.watcherId);
  const events = watcher.events.splice(0);
  if (events.length === 0 && watcher.error) {
    watcher.close();
    throw watcher.error;
  }
  return { events };
}

async function removeWatcher(ctx: RpcContext): Promise<object> {
  const req = parseRequest(watcherIdRequestSchema, ctx.message);
  watcherOf(ctx.call, req.watcherId).close();
  return {};
}

/** filesystem.Filesystem. */
export const filesystemService: RpcService = {
  name: 'filesystem.Filesystem',
  unary: {
    Stat: stat,
    MakeDir: makeDir,
    Move: move,
    ListDir: listDir,
    Remove: remove,
    CreateWatcher: createWatcher,
    GetWatcherEvents: getWatcherEvents,
    RemoveWatcher: removeWatcher,
  },
  stream: { WatchDir: watchDir },
};
