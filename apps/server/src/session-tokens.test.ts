import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionTokens } from './session-tokens';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const created = new Map<string, Date>([
  ['a', new Date('2030-01-01T00:00:00Z')],
  ['b', new Date('2030-01-02T00:00:00Z')],
]);
const lookup = { createdAt: (id: string) => created.get(id) };
const request = (method: string, url: string | undefined, id?: string) =>
  ({ method, routeOptions: { url }, params: id === undefined ? {} : { id } }) as unknown as FastifyRequest;

async function store() {
  const dir = mkdtempSync(join(tmpdir(), 'axo-tokens-'));
  dirs.push(dir);
  return { dir, tokens: await SessionTokens.load(dir, lookup) };
}

describe('SessionTokens', () => {
  it('lets a token reach only its own session, and not its tokens or its deletion', async () => {
    const { tokens } = await store();
    const { token } = await tokens.create('a', 60);
    const allowed = (method: string, url: string, id?: string) => {
      try {
        return tokens.authorize(token, request(method, url, id));
      } catch (error) {
        return (error as { status: number }).status;
      }
    };
    expect(allowed('GET', '/v1/sessions/:id', 'a')).toBe(true);
    expect(allowed('POST', '/v1/sessions/:id/processes', 'a')).toBe(true);
    expect(allowed('GET', '/v1/sessions/:id/terminals/:terminalId/attach', 'a')).toBe(true);
    expect(allowed('GET', '/v1/sessions/:id', 'b')).toBe(403);
    expect(allowed('GET', '/v1/sessions')).toBe(403);
    expect(allowed('GET', '/metrics')).toBe(403);
    expect(allowed('POST', '/v1/sessions/:id/tokens', 'a')).toBe(403);
    expect(allowed('DELETE', '/v1/sessions/:id', 'a')).toBe(403);
    expect(tokens.authorize('the-operator-token', request('GET', '/v1/sessions'))).toBe(false);
    expect(() => tokens.authorize(`${token}x`, request('GET', '/v1/sessions/:id', 'a'))).toThrow(/not valid/);
  });

  it('stores only hashes, 0600, and loads them again; expiry and revocation are 401', async () => {
    const { dir, tokens } = await store();
    const now = Date.now();
    const made = await tokens.create('b', 10, now);
    const file = join(dir, 'session-tokens.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(made.token.split('.')[2]);
    const again = await SessionTokens.load(dir, lookup, now);
    expect(again.authorize(made.token, request('GET', '/v1/sessions/:id', 'b'), now)).toBe(true);
    expect(() => again.authorize(made.token, request('GET', '/v1/sessions/:id', 'b'), now + 10_001)).toThrow(/expired/);
    expect(await again.revoke('a', made.id)).toBe(false);
    expect(await again.revoke('b', made.id)).toBe(true);
    expect(() => again.authorize(made.token, request('GET', '/v1/sessions/:id', 'b'), now)).toThrow(/not valid/);
  });

  it('dies with its session: a new session of the same id does not inherit it', async () => {
    const { tokens } = await store();
    const { token } = await tokens.create('a', 60);
    created.set('a', new Date('2031-01-01T00:00:00Z'));
    try {
      expect(() => tokens.authorize(token, request('GET', '/v1/sessions/:id', 'a'))).toThrow(/no longer exists/);
    } finally {
      created.set('a', new Date('2030-01-01T00:00:00Z'));
    }
  });
});
