import { randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { IgnoredSetting } from '@axo/devcontainer';
import { readSessionRequest, type SessionRequest } from '@axo/devcontainer/fs';
import { TerminalRegistry } from '@axo/pty';
import {
  AxoError,
  type EgressStats,
  type HardeningReport,
  listSessions,
  pauseSupport,
  reapOrphans,
  removeSessions,
  type SandboxLogger,
  SessionSandbox,
} from '@axo/runtime';
import type { ServerConfig } from './config';
import { capEgress, narrowNetwork } from './egress';
import type { Metrics } from './metrics';
import { ApiError } from './problem';

/** What a client asks for when creating a session. */
export interface CreateSessionRequest {
  readonly id?: string;
  readonly workdir: string;
  readonly image?: string;
  readonly ports: readonly number[];
  readonly network?: 'bridge' | 'none' | 'allowlist';
  /** With network `allowlist` (implied when given): where the session may connect. */
  readonly egress?: readonly string[];
  readonly postCreate?: readonly string[];
  readonly devcontainer: boolean;
  readonly requireLimits?: boolean;
  readonly allowUntrustedImage?: boolean;
  readonly allowPostCreate?: boolean;
  readonly allowBuild?: boolean;
  /** Recreate a session of this id that runs (checked inputs first). */
  readonly replace?: boolean;
}

/** A live session: its sandbox, terminals and bookkeeping. */
export interface ManagedSession {
  readonly id: string;
  readonly sandbox: SessionSandbox;
  readonly terminals: TerminalRegistry;
  readonly createdAt: Date;
  lastUsedAt: Date;
  /** Clients attached right now (terminal WebSockets, output streams): activity while > 0. */
  attachedClients: number;
  readonly report: HardeningReport | undefined;
  readonly recovered: boolean;
  readonly devcontainer: { file: string | undefined; ignored: readonly IgnoredSetting[] } | undefined;
}

interface StoredRecord {
  readonly createdAt: string;
  readonly report: HardeningReport | undefined;
  readonly devcontainer: ManagedSession['devcontainer'];
}

const deny = (message: string, hint?: string) => new ApiError(403, 'POLICY_DENIED', message, { hint });

/** Owns this server's sessions: creation under policy, lookup, expiry, recovery. */
export class SessionManager {
  readonly #sessions = new Map<string, ManagedSession>();
  readonly #starting = new Set<string>();
  #roots: string[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ServerConfig,
    readonly owner: string,
    private readonly metrics: Metrics,
    private readonly log: SandboxLogger & { error(msg: string, details?: object): void },
  ) {}

  get size(): number {
    return this.#sessions.size;
  }

  get pausedCount(): number {
    return this.list().filter((s) => s.sandbox.paused).length;
  }

  get terminalCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) n += s.terminals.list().filter((t) => t.alive).length;
    return n;
  }

  #recordPath(id: string) {
    return join(this.config.stateDir, 'sessions', `${id}.json`);
  }

  /** Resolves allowed roots, recovers running sessions from their labels, reaps the rest. */
  async init(): Promise<{ recovered: string[]; reaped: string[] }> {
    this.#roots = [];
    for (const root of this.config.allowedRoots) {
      try {
        this.#roots.push(await realpath(root));
      } catch {
        this.log.warn(`allowed root ${root} does not exist; ignoring it`);
      }
    }
    if (this.#roots.length === 0) this.log.warn('no allowed roots: no session can be created (set AXO_SERVER_ROOTS)');
    await mkdir(join(this.config.stateDir, 'sessions'), { recursive: true, mode: 0o700 });
    const recovered: string[] = [];
    for (const c of await listSessions({ owner: this.owner })) {
      // A paused session is recovered as it is: paused, resumed on first use.
      if (c.state !== 'running' && c.state !== 'paused') continue;
      const record = await readFile(this.#recordPath(c.sessionId), 'utf8')
        .then((t) => JSON.parse(t) as StoredRecord)
        .catch(() => undefined);
      if (!record) continue;
      const sandbox = await SessionSandbox.attach({ sessionId: c.sessionId, owner: this.owner });
      this.#sessions.set(c.sessionId, {
        id: c.sessionId,
        sandbox,
        terminals: terminalsOf(sandbox),
        createdAt: new Date(record.createdAt),
        lastUsedAt: new Date(),
        attachedClients: 0,
        report: record.report,
        recovered: true,
        devcontainer: record.devcontainer,
      });
      recovered.push(c.sessionId);
    }
    const { removed } = await reapOrphans(recovered, { owner: this.owner });
    this.metrics.reaped.inc({ reason: 'orphan' }, removed.length);
    for (const name of removed) this.log.info(`reaped orphaned container ${name}`);
    return { recovered, reaped: [...removed] };
  }

  /** Starts the idle/lifetime reaper (which also pauses idle sessions). */
  startReaper(): void {
    this.#timer = setInterval(() => void this.expire().then(() => this.pauseIdle()), this.config.reapIntervalMs);
    this.#timer.unref();
  }

  /** Removes sessions past their idle timeout or maximum lifetime. */
  async expire(now = Date.now()): Promise<string[]> {
    const { idleTimeoutMs, maxLifetimeMs } = this.config;
    const expired = [...this.#sessions.values()].filter(
      (s) =>
        (idleTimeoutMs > 0 && now - s.lastUsedAt.getTime() > idleTimeoutMs) ||
        (maxLifetimeMs > 0 && now - s.createdAt.getTime() > maxLifetimeMs),
    );
    for (const s of expired) {
      const idle = idleTimeoutMs > 0 && now - s.lastUsedAt.getTime() > idleTimeoutMs;
      this.log.info(`removing session ${s.id}: ${idle ? 'idle timeout' : 'maximum lifetime'} reached`);
      await this.remove(s.id).catch((error: unknown) => this.log.error(`could not remove ${s.id}`, { err: error }));
      this.metrics.reaped.inc({ reason: idle ? 'idle' : 'lifetime' });
    }
    return expired.map((s) => s.id);
  }

  async #checkWorkdir(workdir: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(workdir);
    } catch {
      throw new ApiError(400, 'INVALID_INPUT', `workdir ${workdir} does not exist`);
    }
    const inside = this.#roots.some((root) => real === root || real.startsWith(root.endsWith(sep) ? root : root + sep));
    if (!inside) {
      throw new ApiError(403, 'PATH_NOT_ALLOWED', `workdir ${workdir} resolves outside the allowed roots`, {
        hint: 'The operator lists allowed roots in AXO_SERVER_ROOTS.',
      });
    }
    if (!(await stat(real)).isDirectory())
      throw new ApiError(400, 'INVALID_INPUT', `workdir ${workdir} is not a directory`);
    return real;
  }

  /** Clients may narrow the server's policy, never widen it. */
  #narrowPolicy(r: CreateSessionRequest) {
    const p = this.config.policy;
    if (r.allowUntrustedImage && !p.allowUntrustedImage) deniedFlag('allowUntrustedImage');
    if (r.allowPostCreate && !p.allowPostCreate) deniedFlag('allowPostCreate');
    if (r.allowBuild && !p.allowBuild) deniedFlag('allowBuild');
    if (r.requireLimits === false && p.requireResourceLimits) throw deny('this server requires resource limits');
    if (
      r.image !== undefined &&
      r.image !== p.defaultImage &&
      !p.trustedImages.includes(r.image) &&
      !(p.allowUntrustedImage && r.allowUntrustedImage)
    ) {
      throw deny(
        `image ${r.image} is not trusted by this server`,
        `Trusted: ${[p.defaultImage, ...p.trustedImages].join(', ')}`,
      );
    }
    if ((r.postCreate?.length ?? 0) > 0 && !(p.allowPostCreate && r.allowPostCreate)) {
      throw deny(
        'post-create commands are not allowed',
        p.allowPostCreate ? 'Ask with allowPostCreate: true.' : undefined,
      );
    }
    return {
      ...p,
      allowUntrustedImage: Boolean(p.allowUntrustedImage && r.allowUntrustedImage),
      allowPostCreate: Boolean(p.allowPostCreate && r.allowPostCreate),
      allowBuild: Boolean(p.allowBuild && r.allowBuild),
      ...narrowNetwork(p, { network: r.network, egress: r.egress }),
      requireResourceLimits: p.requireResourceLimits || Boolean(r.requireLimits),
    };
  }

  /** Creates a session under policy; 403 for anything the server forbids. */
  async create(r: CreateSessionRequest): Promise<ManagedSession> {
    const policy = this.#narrowPolicy(r);
    const workdir = await this.#checkWorkdir(r.workdir);
    const id = r.id ?? `s-${randomBytes(5).toString('hex')}`;
    if (this.#starting.has(id) || (this.#sessions.has(id) && !r.replace)) {
      throw new ApiError(409, 'CONFLICT', `session ${id} already exists`, {
        hint: this.#starting.has(id) ? 'It is starting now.' : 'Use it, delete it, or ask with "replace": true.',
      });
    }
    const replacing = this.#sessions.get(id);
    if (!replacing && this.#sessions.size + this.#starting.size >= this.config.maxSessions) {
      throw new ApiError(429, 'TOO_MANY_SESSIONS', `this server runs at most ${this.config.maxSessions} sessions`, {
        hint: 'Delete a session first.',
      });
    }
    this.#starting.add(id);
    try {
      let request: SessionRequest | undefined;
      if (r.devcontainer) request = await readSessionRequest(workdir);
      // The runtime checks the image (and builds) before it removes the running container;
      // its terminals go with it only once the new one is being made.
      if (replacing) {
        await replacing.terminals.killAll();
        await this.#retireEgress(replacing);
      }
      const sandbox = await SessionSandbox.start({
        sessionId: id,
        owner: this.owner,
        workdir,
        image: r.image ?? request?.image,
        ...(request?.build && r.image === undefined && { build: request.build }),
        ports: [...new Set([...r.ports, ...(request?.ports ?? [])])],
        env: { ...request?.env },
        postCreate: [...(r.postCreate ?? [])],
        ...(request && { lifecycle: request.lifecycle }),
        ...(request?.workspaceFolder !== undefined && { workspaceFolder: request.workspaceFolder }),
        ...(request?.user !== undefined && { user: request.user }),
        policy,
        provision: this.config.provisionTools.length > 0 ? { tools: this.config.provisionTools } : false,
        logger: this.log,
      }).catch((error: unknown) => {
        // A failure after the old container was removed leaves no session of this id.
        if (replacing && AxoError.isInstance(error) && /was removed to replace it/.test(error.message)) {
          this.#sessions.delete(id);
          void rm(this.#recordPath(id), { force: true });
        }
        throw error;
      });
      const now = new Date();
      const session: ManagedSession = {
        id,
        sandbox,
        terminals: terminalsOf(sandbox),
        createdAt: now,
        lastUsedAt: now,
        attachedClients: 0,
        report: sandbox.report,
        recovered: false,
        devcontainer: request && { file: request.file, ignored: request.notApplied },
      };
      const record: StoredRecord = {
        createdAt: now.toISOString(),
        report: sandbox.report,
        devcontainer: session.devcontainer,
      };
      await writeFile(this.#recordPath(id), JSON.stringify(record), { mode: 0o600 });
      this.#sessions.set(id, session);
      this.metrics.sessionsCreated.inc();
      return session;
    } catch (error) {
      this.metrics.startFailures.inc({ code: AxoError.isInstance(error) ? error.code : 'UNKNOWN' });
      throw error;
    } finally {
      this.#starting.delete(id);
    }
  }

  /**
   * The session, marked as used; 404 when unknown. A paused session is resumed by the call
   * that follows (the runtime does it on first contact); this only counts and logs it.
   */
  use(id: string): ManagedSession {
    const s = this.#sessions.get(id);
    if (!s) throw new ApiError(404, 'NOT_FOUND', `no session ${id}`);
    s.lastUsedAt = new Date();
    if (s.sandbox.paused) {
      this.log.info(`resuming session ${id}: it is being used`);
      this.metrics.resumes.inc({ reason: 'use' });
    }
    return s;
  }

  /** Pauses a session on request; 409 where this host cannot pause. */
  async pause(id: string, reason: 'request' | 'idle' = 'request'): Promise<ManagedSession> {
    const s = this.#sessions.get(id);
    if (!s) throw new ApiError(404, 'NOT_FOUND', `no session ${id}`);
    if (s.sandbox.paused) return s;
    try {
      await s.sandbox.pause();
    } catch (error) {
      if (AxoError.isInstance(error) && error.code === 'UNSUPPORTED') {
        throw new ApiError(409, 'PAUSE_UNSUPPORTED', error.message, { hint: error.hint });
      }
      throw error;
    }
    this.log.info(`paused session ${id} (${reason})`);
    this.metrics.pauses.inc({ reason });
    return s;
  }

  /** Resumes a session on request. */
  async resume(id: string): Promise<ManagedSession> {
    const s = this.#sessions.get(id);
    if (!s) throw new ApiError(404, 'NOT_FOUND', `no session ${id}`);
    s.lastUsedAt = new Date();
    if ((await s.sandbox.resume()) > 0 || !s.sandbox.paused) {
      this.log.info(`resumed session ${id} (request)`);
      this.metrics.resumes.inc({ reason: 'request' });
    }
    return s;
  }

  /**
   * Pauses sessions idle for idlePauseMs. Idle means no call through this server and none
   * straight to the agent (it reports its own idle time), no client attached to a terminal
   * or an output stream, and — unless keepAwakeWithTasks — running tasks do not count.
   */
  async pauseIdle(now = Date.now()): Promise<string[]> {
    const { idlePauseMs, keepAwakeWithTasks } = this.config;
    if (idlePauseMs <= 0 || !pauseSupport().supported) return [];
    const paused: string[] = [];
    for (const s of this.list()) {
      if (s.sandbox.paused || now - s.lastUsedAt.getTime() <= idlePauseMs) continue;
      if (s.attachedClients > 0) continue;
      const client = s.sandbox.agentClient;
      if (client) {
        const pong = await client.ping().catch(() => undefined);
        if (!pong) continue;
        // The agent counts calls that never came through this server (a CLI, say), and
        // streams attached to it; this server's own terminal attachments are not activity.
        const ownAttachments = s.terminals.list().filter((t) => t.alive).length;
        const agentActive = pong.idleMs < idlePauseMs || pong.attached > ownAttachments;
        if (agentActive) {
          s.lastUsedAt = new Date(now - Math.min(pong.idleMs, idlePauseMs));
          continue;
        }
      }
      if (keepAwakeWithTasks && (await s.sandbox.listTasks()).some((t) => t.status === 'running')) continue;
      await this.pause(s.id, 'idle').then(
        () => paused.push(s.id),
        (error: unknown) => this.log.warn(`could not pause idle session ${s.id}: ${(error as Error).message}`),
      );
    }
    return paused;
  }

  list(): ManagedSession[] {
    return [...this.#sessions.values()];
  }

  /** A session's allowlist; 409 for a session with another network. */
  async egress(id: string): Promise<readonly string[]> {
    const policy = await this.use(id).sandbox.egressPolicy();
    if (!policy) throw new ApiError(409, 'CONFLICT', `session ${id} does not run with an egress allowlist`);
    return policy.entries;
  }

  /** Replaces a session's allowlist, within the server's policy (403 beyond it). */
  async setEgress(id: string, entries: readonly string[]): Promise<readonly string[]> {
    const s = this.use(id);
    if (!(await s.sandbox.egressPolicy())) {
      throw new ApiError(409, 'CONFLICT', `session ${id} does not run with an egress allowlist`, {
        hint: 'Its network is decided when it is created: create it with network "allowlist".',
      });
    }
    const list = capEgress(this.config.policy, entries);
    const applied = await s.sandbox.setEgress(list);
    this.log.info(`session ${id}: egress allowlist set to ${applied.join(', ') || 'nothing'}`);
    return applied;
  }

  readonly #egressLive = new Map<string, EgressStats>();
  readonly #egressRetired = { allow: 0, deny: 0, error: 0, in: 0, out: 0 };

  /** Reads every session gateway's counters (before /metrics renders them). */
  async refreshEgressTotals(): Promise<void> {
    await Promise.all(
      this.list().map(async (s) => {
        const stats = await s.sandbox.egressStats().catch(() => undefined);
        if (stats) this.#egressLive.set(s.id, stats);
      }),
    );
  }

  /** Egress counters over every session this server ran: removed sessions' last counts stay in. */
  egressTotals(): { connections: Record<'allow' | 'deny' | 'error', number>; bytesIn: number; bytesOut: number } {
    const t = { ...this.#egressRetired };
    for (const st of this.#egressLive.values()) {
      t.allow += st.connections.allow;
      t.deny += st.connections.deny;
      t.error += st.connections.error;
      t.in += st.bytesIn;
      t.out += st.bytesOut;
    }
    return { connections: { allow: t.allow, deny: t.deny, error: t.error }, bytesIn: t.in, bytesOut: t.out };
  }

  async #retireEgress(s: ManagedSession): Promise<void> {
    const last = (await s.sandbox.egressStats().catch(() => undefined)) ?? this.#egressLive.get(s.id);
    this.#egressLive.delete(s.id);
    if (!last) return;
    const r = this.#egressRetired;
    r.allow += last.connections.allow;
    r.deny += last.connections.deny;
    r.error += last.connections.error;
    r.in += last.bytesIn;
    r.out += last.bytesOut;
  }

  /** Kills its terminals, removes its container and forgets it. */
  async remove(id: string): Promise<void> {
    const s = this.#sessions.get(id);
    if (!s) throw new ApiError(404, 'NOT_FOUND', `no session ${id}`);
    this.#sessions.delete(id);
    await this.#retireEgress(s);
    await s.terminals.killAll();
    await s.sandbox.stop();
    await rm(this.#recordPath(id), { force: true });
  }

  /** For shutdown: closes terminals; removes sessions only when configured to. */
  async shutdown(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const sessions = this.list();
    await Promise.all(sessions.map((s) => s.terminals.killAll()));
    if (this.config.stopSessionsOnShutdown) {
      await removeSessions(
        sessions.map((s) => s.id),
        { owner: this.owner },
      );
      await Promise.all(sessions.map((s) => rm(this.#recordPath(s.id), { force: true })));
    }
  }
}

/** Terminals on PTYs the session's agent allocates; node-pty over podman exec without one. */
function terminalsOf(sandbox: SessionSandbox): TerminalRegistry {
  return new TerminalRegistry({
    container: sandbox.container,
    ...(sandbox.agent.status === 'running' && { spawn: (o) => sandbox.openTerminal(o) }),
  });
}

function deniedFlag(flag: string): never {
  throw deny(`${flag} is not allowed by this server's policy`);
}
