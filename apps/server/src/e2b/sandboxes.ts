// E2B sandboxes as axo sessions: create (template → image under the server's policy, a fresh
// host directory, E2B's `user`, an envd access token that is a session token), the E2B
// deadline (`timeout`, moved by setTimeout and connect; at the deadline the sandbox is killed,
// or paused with autoPause), pause, resume and kill. A sandbox is killed by removing its
// session; whatever streams it had open are ended first. Lifecycle changes of one sandbox run
// one at a time (they await podman, and each writes the record it read).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { keyedLock, pauseSupport } from '@axo/runtime';
import type { ServerConfig } from '../config';
import { ApiError } from '../problem';
import type { SessionTokens } from '../session-tokens';
import type { ManagedSession, SessionManager } from '../sessions';
import { RpcError } from './connect';
import { E2bHttpError } from './errors';
import {
  DEFAULT_TIMEOUT_SECONDS,
  imageFor,
  type Logger,
  type NewSandbox,
  networkFor,
  newSandboxId,
  setUpUser,
} from './new-sandbox';
import type { SandboxRecord } from './store';
import { SandboxStore } from './store';

/** envd access tokens live as long as their sandbox; this only bounds a token nobody revokes. */
const TOKEN_TTL_SECONDS = 365 * 24 * 3600;
/** How often deadlines are checked. */
const DEADLINE_TICK_MS = 1000;

/** Something a sandbox has open (a stream, a watcher) that must end when the sandbox goes. */
export interface SandboxResource {
  close(reason: RpcError): void;
}

/** In-memory state of a sandbox's envd side (not persisted: it dies with this process). */
export interface SandboxRuntime {
  /** Processes started through envd, by agent id: the config envd lists them with. */
  readonly procs: Map<string, { cmd: string; args: string[]; envs: Record<string, string>; cwd: string }>;
  /** Open streams and watchers. */
  readonly resources: Set<SandboxResource>;
  /** The shell the SDK's `/bin/bash` becomes (the image may have no bash). */
  shell?: Promise<string>;
}

export class E2bSandboxes {
  readonly #store: SandboxStore;
  readonly #runtimes = new Map<string, SandboxRuntime>();
  readonly #killing = new Map<string, Promise<boolean>>();
  /**
   * Runs a lifecycle change of a sandbox after every earlier one has settled. Each change
   * awaits podman or the store between reading the record and writing it back; two at once
   * would undo each other (a killed sandbox's record saved again, a thawed one recorded
   * paused). Per instance: two servers in one process (tests) never wait on each other.
   */
  readonly #serial = keyedLock();
  /** The deadline check in progress: a slow one (podman under load) is not overlapped by the next tick. */
  #expiring: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    store: SandboxStore,
    private readonly sessions: SessionManager,
    private readonly tokens: SessionTokens,
    private readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    this.#store = store;
  }

  /** Loads the stored sandboxes, keeping those whose session still runs. */
  static async load(deps: {
    sessions: SessionManager;
    tokens: SessionTokens;
    config: ServerConfig;
    log: Logger;
  }): Promise<E2bSandboxes> {
    const store = await SandboxStore.load(deps.config.stateDir);
    const sandboxes = new E2bSandboxes(store, deps.sessions, deps.tokens, deps.config, deps.log);
    for (const r of store.list()) if (!sandboxes.#sessionOf(r)) await sandboxes.#forget(r);
    return sandboxes;
  }

  /** Starts the deadline timer. */
  start(): void {
    // expire() logs what fails per sandbox; this catch is for anything else, so a tick can
    // never become an unhandled rejection (which would end the server).
    this.#timer = setInterval(() => {
      this.expire().catch((error: unknown) => this.log.error('e2b: the deadline check failed', { err: error }));
    }, DEADLINE_TICK_MS);
    this.#timer.unref();
  }

  /** Stops the timer and ends every open stream (the sandboxes themselves run on). */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    const reason = new RpcError('unavailable', 'axo-server is shutting down');
    for (const runtime of this.#runtimes.values()) for (const r of [...runtime.resources]) r.close(reason);
  }

  /** The session of a record, if it is still the same session. */
  #sessionOf(r: SandboxRecord): ManagedSession | undefined {
    const s = this.sessions.list().find((x) => x.id === r.sandboxID);
    return s && s.createdAt.toISOString() === r.sessionCreatedAt ? s : undefined;
  }

  /** A live sandbox and its session; undefined when unknown or gone (a gone one is forgotten). */
  find(id: string): { record: SandboxRecord; session: ManagedSession } | undefined {
    const record = this.#store.get(id);
    if (!record || this.#killing.has(id)) return undefined;
    const session = this.#sessionOf(record);
    if (!session) {
      // A lookup must not fail because the cleanup did (a state directory that cannot be
      // written): the sandbox is gone either way, and an unhandled rejection ends the server.
      this.#forget(record).catch((error: unknown) =>
        this.log.error(`e2b: could not forget gone sandbox ${id}`, { err: error }),
      );
      return undefined;
    }
    return { record, session };
  }

  /** Every live sandbox. */
  list(): Array<{ record: SandboxRecord; session: ManagedSession }> {
    return this.#store.list().flatMap((r) => {
      const found = this.find(r.sandboxID);
      return found ? [found] : [];
    });
  }

  /** The envd-side state of a sandbox. */
  runtime(id: string): SandboxRuntime {
    let r = this.#runtimes.get(id);
    if (!r) {
      r = { procs: new Map(), resources: new Set() };
      this.#runtimes.set(id, r);
    }
    return r;
  }

  /** Creates a sandbox: a session of the template's image, E2B's user in it, an access token. */
  async create(n: NewSandbox): Promise<SandboxRecord> {
    const image = imageFor(this.config.policy, n.templateID);
    const network = networkFor(n);
    const root = this.config.allowedRoots[0];
    if (root === undefined) {
      throw new E2bHttpError(
        500,
        'this axo-server has no allowed root to make sandbox directories in (set AXO_SERVER_ROOTS or axo serve --root)',
      );
    }
    const id = newSandboxId();
    const workdir = join(root, 'e2b-sandboxes', id);
    await mkdir(workdir, { recursive: true, mode: 0o755 });
    let session: ManagedSession;
    try {
      session = await this.sessions.create({ id, workdir, image, ports: [], devcontainer: false, ...network });
    } catch (error) {
      await rm(workdir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    try {
      const user = await setUpUser(session, this.log);
      const token = await this.tokens.create(id, TOKEN_TTL_SECONDS);
      const now = Date.now();
      const record: SandboxRecord = {
        sandboxID: id,
        templateID: n.templateID,
        image,
        metadata: { ...n.metadata },
        envVars: { ...n.envVars },
        startedAt: new Date(now).toISOString(),
        endAt: new Date(now + (n.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000).toISOString(),
        autoPause: n.autoPause ?? false,
        timeout: n.timeout ?? DEFAULT_TIMEOUT_SECONDS,
        paused: false,
        ...(user.name !== undefined && { user: user.name }),
        home: user.home,
        token: token.token,
        tokenId: token.id,
        sessionCreatedAt: session.createdAt.toISOString(),
        workdir,
        allowInternetAccess: n.allowInternetAccess ?? null,
        ...(n.network && { network: { allowOut: n.network.allowOut?.slice(), denyOut: n.network.denyOut?.slice() } }),
      };
      await this.#store.set(record);
      this.log.info(`e2b: created sandbox ${id} from template ${n.templateID} (${image})`);
      return record;
    } catch (error) {
      await this.sessions.remove(id).catch(() => undefined);
      await rm(workdir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Sets the deadline to `seconds` from now (E2B's setTimeout: it may shorten it too); counts as use. */
  setTimeout(id: string, seconds: number): Promise<void> {
    return this.#serial(id, async () => {
      const found = this.#require(id);
      found.session.lastUsedAt = new Date();
      const endAt = new Date(Date.now() + seconds * 1000).toISOString();
      await this.#store.set({ ...found.record, endAt, timeout: seconds });
    });
  }

  /** Extends the deadline to at least `seconds` from now (E2B's refresh and connect). */
  extend(id: string, seconds: number): Promise<void> {
    return this.#serial(id, () => this.#extend(id, seconds));
  }

  async #extend(id: string, seconds: number): Promise<void> {
    const found = this.#require(id);
    const endAt = Math.max(Date.parse(found.record.endAt), Date.now() + seconds * 1000);
    await this.#store.set({ ...found.record, endAt: new Date(endAt).toISOString() });
  }

  /**
   * Pauses a sandbox (E2B's `paused` state; its deadline no longer runs); false when it was
   * paused already. A sandbox axo froze for idling is paused as far as E2B knows only now.
   */
  pause(id: string): Promise<boolean> {
    return this.#serial(id, async () => {
      const found = this.#require(id);
      if (found.record.paused) return false;
      if (!found.session.sandbox.paused) {
        try {
          await this.sessions.pause(id);
        } catch (error) {
          if (error instanceof ApiError && error.code === 'PAUSE_UNSUPPORTED') {
            throw new E2bHttpError(501, `${error.message}${error.extra.hint ? ` (${error.extra.hint})` : ''}`);
          }
          throw error;
        }
      }
      // Read again after podman: a kill may have begun meanwhile (it waits for this change),
      // or the session gone; saving the copy from before would bring the record back.
      const now = this.#require(id);
      await this.#store.set({ ...now.record, paused: true });
      return true;
    });
  }

  /**
   * E2B's connect: resumes a paused sandbox with a fresh deadline (`timeout` seconds, else its
   * last one), and only ever extends a running one's. Resolves with whether it was resumed.
   */
  connect(id: string, timeout: number | undefined): Promise<{ record: SandboxRecord; resumed: boolean }> {
    return this.#serial(id, async () => {
      const found = this.#require(id);
      found.session.lastUsedAt = new Date();
      // A sandbox axo froze for idling is thawed too: it is about to be used.
      if (found.session.sandbox.paused) await this.sessions.resume(id);
      // Whether it was paused is read after the thaw: that is the record this call changes.
      const resumed = this.#require(id).record.paused;
      if (resumed) await this.#resumed(id, timeout);
      else if (timeout !== undefined) await this.#extend(id, timeout);
      return { record: this.#require(id).record, resumed };
    });
  }

  /**
   * Marks an E2B-paused sandbox running again with a fresh deadline: after connect, or after
   * an envd call resumed it (E2B's auto-resume). Its container is thawed by whoever uses it.
   */
  resumed(id: string, timeout?: number): Promise<void> {
    return this.#serial(id, () => this.#resumed(id, timeout));
  }

  async #resumed(id: string, timeout?: number): Promise<void> {
    const found = this.#require(id);
    if (!found.record.paused && timeout === undefined) return;
    const seconds = timeout ?? found.record.timeout;
    const endAt = new Date(Date.now() + seconds * 1000).toISOString();
    await this.#store.set({ ...found.record, paused: false, endAt, timeout: seconds });
    this.log.info(`e2b: sandbox ${id} resumed`);
  }

  /** Kills a sandbox: ends its streams, removes its session and directory; false when unknown. */
  kill(id: string, reason = 'killed'): Promise<boolean> {
    const pending = this.#killing.get(id);
    if (pending) return pending;
    const record = this.#store.get(id);
    if (!record) return Promise.resolve(false);
    // Streams end at once; the removal waits for a pause or connect under way, so that one
    // cannot write the record back after it was forgotten. From here on find() says it is gone.
    const closed = new RpcError('unavailable', `sandbox ${id} was ${reason}`, 502);
    for (const r of [...(this.#runtimes.get(id)?.resources ?? [])]) r.close(closed);
    const killing = this.#serial(id, async () => {
      const current = this.#store.get(id) ?? record;
      const live = this.#sessionOf(current);
      if (live) {
        await this.sessions.remove(id).catch((error: unknown) => {
          if (!(error instanceof ApiError && error.status === 404)) throw error;
        });
      }
      await this.#forget(current);
      this.log.info(`e2b: sandbox ${id} ${reason}`);
      return live !== undefined;
    });
    this.#killing.set(id, killing);
    return killing.finally(() => this.#killing.delete(id));
  }

  /**
   * Kills (or, with autoPause, pauses) sandboxes past their deadline; an E2B-paused sandbox
   * has none. Forgets sandboxes whose session went (the server's idle timeout, say).
   */
  expire(now = Date.now()): Promise<void> {
    // One check at a time: a tick while the last one still waits on podman is skipped (it
    // would only pause or kill the same sandboxes again).
    if (this.#expiring) return this.#expiring;
    const run = this.#expire(now).finally(() => {
      this.#expiring = undefined;
    });
    this.#expiring = run;
    return run;
  }

  async #expire(now: number): Promise<void> {
    for (const record of this.#store.list()) {
      const id = record.sandboxID;
      const session = this.#sessionOf(record);
      if (!session) {
        await this.#forget(record).catch((error: unknown) =>
          this.log.error(`e2b: could not forget gone sandbox ${id}`, { err: error }),
        );
        continue;
      }
      if (record.paused || Date.parse(record.endAt) > now || this.#killing.has(id)) continue;
      if (record.autoPause && pauseSupport().supported) {
        const paused = await this.pause(id).then(
          () => true,
          (error: unknown) => {
            this.log.warn(`e2b: could not pause ${id} at its deadline; killing it instead`, { err: error });
            return false;
          },
        );
        if (paused) {
          this.log.info(`e2b: sandbox ${id} paused: its timeout passed`);
          continue;
        }
        // A sandbox that cannot be paused must still end at its deadline, or it would run
        // (and be retried every tick) forever.
      }
      await this.kill(id, 'killed: its timeout passed').catch((error: unknown) =>
        this.log.error(`e2b: could not kill ${id}`, { err: error }),
      );
    }
  }

  #require(id: string): { record: SandboxRecord; session: ManagedSession } {
    const found = this.find(id);
    if (!found) throw new E2bHttpError(404, `sandbox "${id}" not found`);
    return found;
  }

  /** Drops a sandbox's record, runtime state and host directory (its session is gone already). */
  async #forget(record: SandboxRecord): Promise<void> {
    const runtime = this.#runtimes.get(record.sandboxID);
    const gone = new RpcError('unavailable', `sandbox ${record.sandboxID} is gone`, 502);
    for (const r of [...(runtime?.resources ?? [])]) r.close(gone);
    this.#runtimes.delete(record.sandboxID);
    await this.tokens.revoke(record.sandboxID, record.tokenId).catch(() => undefined);
    await this.#store.delete(record.sandboxID);
    await rm(record.workdir, { recursive: true, force: true }).catch((error: unknown) => {
      // Files the container's users made may belong to ids this server cannot remove (rootless).
      this.log.warn(`e2b: could not remove ${record.workdir}`, { err: error });
    });
  }
}
