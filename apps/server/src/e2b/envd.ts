// The envd side of a request: which sandbox it is for (the `E2b-Sandbox-Id` header the SDK
// sends on every envd call), whether it may (its `X-Access-Token` is the sandbox's access
// token, still live), and who it acts as (the Basic-auth user, else the sandbox's default
// user) with that user's home for `~` and relative paths.
import type { AgentClient } from '@axo/runtime';
import type { FastifyRequest } from 'fastify';
import type { SessionTokens } from '../session-tokens';
import type { ManagedSession, SessionManager } from '../sessions';
import { tokenMatches } from '../token';
import { RpcError } from './connect';
import type { E2bSandboxes, SandboxRuntime } from './sandboxes';
import type { SandboxRecord } from './store';
import { homeFromPasswd, resolveUserPath } from './users';

/** One envd request, resolved: the sandbox, its session, and the user it acts as. */
export interface EnvdCall {
  readonly record: SandboxRecord;
  readonly session: ManagedSession;
  readonly runtime: SandboxRuntime;
  /** The user for the agent; undefined: the session's own user. */
  readonly user: string | undefined;
  /** That user's home. */
  readonly home: string;
  /** A path as envd resolves it for this user (`~`, relative to the home). */
  path(p: string): string;
  /** The session's agent (processes, files). */
  agent(): AgentClient;
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** A map per sandbox runtime (one server's), made on first use, gone with the runtime. */
export function perRuntime<V>(): (call: EnvdCall) => Map<string, V> {
  const maps = new WeakMap<EnvdCall['runtime'], Map<string, V>>();
  return (call) => {
    let m = maps.get(call.runtime);
    if (!m) {
      m = new Map();
      maps.set(call.runtime, m);
    }
    return m;
  };
}

export class Envd {
  constructor(
    private readonly sandboxes: E2bSandboxes,
    private readonly sessions: SessionManager,
    private readonly tokens: SessionTokens,
  ) {}

  /** The sandbox a request names in its header; 502 (as E2B's proxy) when it is unknown or gone. */
  sandboxOf(request: FastifyRequest): { record: SandboxRecord; session: ManagedSession } | undefined {
    const id = header(request, 'e2b-sandbox-id');
    if (id === undefined) return undefined;
    const found = this.sandboxes.find(id);
    if (!found) throw new RpcError('unavailable', `sandbox "${id}" not found: it was killed, or never existed`, 502);
    return found;
  }

  /** Whether `token` is this sandbox's live access token. */
  tokenValid(record: SandboxRecord, token: string | undefined): boolean {
    if (!tokenMatches(token, record.token)) return false;
    return this.tokens.list(record.sandboxID).some((t) => t.id === record.tokenId);
  }

  /**
   * The sandbox whose live access token this is. Older SDKs (before about 2.9) send envd's
   * HTTP calls (/files, /health) without the E2b-Sandbox-Id header: the token names the sandbox.
   */
  sandboxByToken(token: string | undefined): { record: SandboxRecord; session: ManagedSession } | undefined {
    if (token === undefined || token === '') return undefined;
    let hit: { record: SandboxRecord; session: ManagedSession } | undefined;
    // Every sandbox is checked, so the time taken does not say which one matched.
    for (const found of this.sandboxes.list()) if (this.tokenValid(found.record, token) && !hit) hit = found;
    return hit;
  }

  /** Checks the `X-Access-Token` header (401 unauthenticated otherwise). */
  authorize(request: FastifyRequest, record: SandboxRecord): void {
    if (!this.tokenValid(record, header(request, 'x-access-token'))) {
      throw new RpcError(
        'unauthenticated',
        'unauthorized access, please provide a valid access token (X-Access-Token) or a signature',
        401,
      );
    }
  }

  /** Resolves a request: its sandbox (from the header), authorized, acting as `user` (default: the sandbox's). */
  async call(request: FastifyRequest, user: string | undefined): Promise<EnvdCall> {
    const found = this.sandboxOf(request);
    if (!found)
      throw new RpcError('invalid_argument', 'missing E2b-Sandbox-Id header: which sandbox is this for?', 400);
    this.authorize(request, found.record);
    return this.callFor(found, user);
  }

  /** A call on a known (and authorized) sandbox, acting as `user`. */
  async callFor(
    found: { record: SandboxRecord; session: ManagedSession },
    user: string | undefined,
  ): Promise<EnvdCall> {
    // Marks it used; a paused sandbox is thawed by the first agent call (E2B's auto-resume),
    // and gets a fresh deadline.
    if (found.record.paused) await this.sandboxes.resumed(found.record.sandboxID);
    const record = this.sandboxes.find(found.record.sandboxID)?.record ?? found.record;
    const session = this.sessions.use(record.sandboxID);
    const who = await this.#user(found.session, record, user);
    return {
      record,
      session,
      runtime: this.sandboxes.runtime(record.sandboxID),
      user: who.user,
      home: who.home,
      path: (p) => resolveUserPath(p, who.home),
      agent: () => {
        const client = session.sandbox.agentClient;
        if (!client) throw new RpcError('unavailable', `sandbox ${record.sandboxID} runs without axo's agent`);
        return client;
      },
    };
  }

  async #user(
    session: ManagedSession,
    record: SandboxRecord,
    name: string | undefined,
  ): Promise<{ user: string | undefined; home: string }> {
    if (name === undefined || name === record.user) return { user: record.user, home: record.home };
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/.test(name)) {
      throw new RpcError('unauthenticated', `invalid username: ${JSON.stringify(name)}`, 401);
    }
    const passwd = await session.sandbox.files
      .readFile('/etc/passwd', { maxBytes: 4 * 1024 * 1024, ...(record.user !== undefined && { user: record.user }) })
      .then((b) => b.toString('utf8'))
      .catch(() => '');
    const home = homeFromPasswd(passwd, name);
    if (home === undefined) throw new RpcError('unauthenticated', `invalid username: '${name}': no such user`, 401);
    return { user: name, home };
  }
}
