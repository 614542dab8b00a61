// Session-scoped tokens: bearer tokens that reach one session's routes and nothing else.
// Only their SHA-256 is kept (in the state directory, 0600, so they survive a restart);
// a presented token is compared in constant time. A token dies with its expiry, its
// revocation, or its session (a new session of the same id is another session).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from './problem';

/** Every session token starts with this, so it is told from the operator token without a lookup. */
export const SESSION_TOKEN_PREFIX = 'axs.';
/** Live tokens one session may hold. */
export const MAX_TOKENS_PER_SESSION = 100;

const recordSchema = z.object({
  id: z.string(),
  sessionId: z.string(),
  /** The session's creation time: a later session of the same id does not inherit the token. */
  sessionCreatedAt: z.string(),
  /** SHA-256 of the whole token, hex. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  expiresAt: z.string(),
});
const fileSchema = z.object({ version: z.literal(1), tokens: z.array(recordSchema) });
type TokenRecord = z.infer<typeof recordSchema>;

/** What the store needs to know about sessions. */
export interface SessionLookup {
  /** The creation time of the session of this id, if it exists. */
  createdAt(sessionId: string): Date | undefined;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();
const unauthorized = (detail: string) =>
  new ApiError(401, 'UNAUTHORIZED', detail, {
    hint: 'Ask the operator for a new session token (POST /v1/sessions/{id}/tokens).',
  });

/** A token as listed (never its secret). */
export function tokenView(r: TokenRecord) {
  return { id: r.id, sessionId: r.sessionId, createdAt: r.createdAt, expiresAt: r.expiresAt };
}

export class SessionTokens {
  readonly #file: string;
  readonly #sessions: SessionLookup;
  readonly #records = new Map<string, TokenRecord>();
  #saving: Promise<void> = Promise.resolve();

  private constructor(file: string, sessions: SessionLookup) {
    this.#file = file;
    this.#sessions = sessions;
  }

  /** Loads the stored tokens, dropping expired ones and those whose session is gone. */
  static async load(stateDir: string, sessions: SessionLookup, now = Date.now()): Promise<SessionTokens> {
    const store = new SessionTokens(join(stateDir, 'session-tokens.json'), sessions);
    const text = await readFile(store.#file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text === undefined) return store;
    const parsed = fileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${store.#file} is not a session token file; move it away to start afresh`);
    for (const r of parsed.data.tokens) store.#records.set(r.id, r);
    if (store.#prune(now)) await store.#save();
    else await chmod(store.#file, 0o600);
    return store;
  }

  /** Makes a token for a session; the secret is returned only here. */
  async create(sessionId: string, ttlSeconds: number, now = Date.now()) {
    const sessionCreatedAt = this.#sessions.createdAt(sessionId);
    if (!sessionCreatedAt) throw new ApiError(404, 'NOT_FOUND', `no session ${sessionId}`);
    this.#prune(now);
    if (this.list(sessionId, now).length >= MAX_TOKENS_PER_SESSION) {
      throw new ApiError(409, 'CONFLICT', `session ${sessionId} holds ${MAX_TOKENS_PER_SESSION} live tokens`, {
        hint: 'Revoke some first (DELETE /v1/sessions/{id}/tokens/{tokenId}).',
      });
    }
    const id = `st-${randomBytes(8).toString('hex')}`;
    const token = `${SESSION_TOKEN_PREFIX}${id}.${randomBytes(32).toString('base64url')}`;
    const record: TokenRecord = {
      id,
      sessionId,
      sessionCreatedAt: sessionCreatedAt.toISOString(),
      hash: sha256(token).toString('hex'),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlSeconds * 1000).toISOString(),
    };
    this.#records.set(id, record);
    await this.#save();
    return { ...tokenView(record), token };
  }

  /** The live tokens of a session, oldest first. */
  list(sessionId: string, now = Date.now()): TokenRecord[] {
    return [...this.#records.values()]
      .filter((r) => r.sessionId === sessionId && Date.parse(r.expiresAt) > now)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Revokes a token of a session; false when there is none. */
  async revoke(sessionId: string, tokenId: string): Promise<boolean> {
    const record = this.#records.get(tokenId);
    if (!record || record.sessionId !== sessionId) return false;
    this.#records.delete(tokenId);
    await this.#save();
    return true;
  }

  /**
   * Decides a request that presents a session token: resolves when it may proceed, throws
   * 401 (unknown, revoked, expired, its session gone) or 403 (anything but its own session's
   * routes; tokens and deleting the session stay the operator's). False when `presented`
   * is not a session token at all.
   */
  authorize(presented: string | undefined, request: FastifyRequest, now = Date.now()): boolean {
    if (presented === undefined || !presented.startsWith(SESSION_TOKEN_PREFIX)) return false;
    const id = presented.slice(SESSION_TOKEN_PREFIX.length).split('.')[0] ?? '';
    const record = this.#records.get(id);
    // Compared in constant time against the stored hash (or a dummy, so an unknown id costs the same).
    const expected = record ? Buffer.from(record.hash, 'hex') : sha256('');
    if (!timingSafeEqual(sha256(presented), expected) || !record) throw unauthorized('this token is not valid');
    if (Date.parse(record.expiresAt) <= now) throw unauthorized(`this session token expired at ${record.expiresAt}`);
    if (this.#sessions.createdAt(record.sessionId)?.toISOString() !== record.sessionCreatedAt) {
      throw unauthorized(`the session this token was made for (${record.sessionId}) no longer exists`);
    }
    const route = request.routeOptions.url ?? '';
    const params = (request.params ?? {}) as { id?: unknown };
    const own = route.startsWith('/v1/sessions/:id') && params.id === record.sessionId;
    // A session must not widen its own network or outlive its operator's decision to remove it.
    const operatorOnly =
      route.startsWith('/v1/sessions/:id/tokens') ||
      (route === '/v1/sessions/:id' && request.method === 'DELETE') ||
      (route === '/v1/sessions/:id/egress' && request.method !== 'GET');
    if (!own || operatorOnly) {
      throw new ApiError(
        403,
        'FORBIDDEN',
        operatorOnly
          ? 'a session token cannot manage tokens, change its egress list or delete its session'
          : `this token reaches only session ${record.sessionId}`,
        { hint: 'Use the operator token for anything beyond one session.' },
      );
    }
    return true;
  }

  /** Drops expired tokens and those of sessions that are gone; true when anything was dropped. */
  #prune(now: number): boolean {
    let dropped = false;
    for (const [id, r] of this.#records) {
      const session = this.#sessions.createdAt(r.sessionId)?.toISOString();
      if (Date.parse(r.expiresAt) <= now || session !== r.sessionCreatedAt) {
        this.#records.delete(id);
        dropped = true;
      }
    }
    return dropped;
  }

  /** Writes the file atomically (a temporary file renamed over it), one write at a time. */
  #save(): Promise<void> {
    const text = `${JSON.stringify({ version: 1, tokens: [...this.#records.values()] }, null, 2)}\n`;
    this.#saving = this.#saving
      .catch(() => undefined)
      .then(async () => {
        const dir = join(this.#file, '..');
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const tmp = `${this.#file}.${randomBytes(4).toString('hex')}.tmp`;
        await writeFile(tmp, text, { mode: 0o600 });
        await rename(tmp, this.#file);
      });
    return this.#saving;
  }
}
