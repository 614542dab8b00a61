import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { podmanGate } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/index';
import { attachTerminal, startTestServer, type TestServer } from './helpers';

const gate = podmanGate();

describe.skipIf(!gate.ok)('session-scoped tokens (real podman)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    for (const id of ['mine', 'other']) {
      expect((await t.api('POST', '/v1/sessions', { id, workdir: t.workdir(id) })).status).toBe(201);
    }
  });
  afterAll(async () => t?.close());

  it('reaches its own session (HTTP, files, processes, terminal WebSocket) and gets 403 everywhere else', async () => {
    const made = await t.api('POST', '/v1/sessions/mine/tokens', { ttlSeconds: 600 });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ id: expect.stringMatching(/^st-/), sessionId: 'mine' });
    const token = made.json.token as string;
    expect(token.startsWith('axs.')).toBe(true);

    // Its own session.
    expect((await t.api('GET', '/v1/sessions/mine', undefined, { token })).status).toBe(200);
    const exec = await t.api('POST', '/v1/sessions/mine/exec', { command: 'echo hi > f.txt; cat f.txt' }, { token });
    expect(exec.json.stdout).toBe('hi\n');
    const file = await fetch(`${t.url}/v1/sessions/mine/files?path=f.txt`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await file.text()).toBe('hi\n');
    expect((await t.api('GET', '/v1/sessions/mine/processes', undefined, { token })).status).toBe(200);
    const terminal = await t.api('POST', '/v1/sessions/mine/terminals', { command: 'sh' }, { token });
    expect(terminal.status).toBe(201);
    const attached = attachTerminal(t, 'mine', terminal.json.id, token);
    await attached.opened;
    attached.socket.close();

    // Everything else: 403, and nothing happens.
    for (const [method, path, body] of [
      ['GET', '/v1/sessions/other', undefined],
      ['POST', '/v1/sessions/other/exec', { command: 'touch pwned' }],
      ['GET', '/v1/sessions/other/files?path=.', undefined],
      ['GET', '/v1/sessions', undefined],
      ['POST', '/v1/sessions', { workdir: t.workdir('x') }],
      ['GET', '/metrics', undefined],
      ['GET', '/openapi.json', undefined],
      ['GET', '/v1/nothing-here', undefined],
      // Operator-only, even on its own session.
      ['POST', '/v1/sessions/mine/tokens', { ttlSeconds: 60 }],
      ['GET', '/v1/sessions/mine/tokens', undefined],
      ['DELETE', '/v1/sessions/mine', undefined],
      ['PUT', '/v1/sessions/mine/egress', { entries: ['example.org'] }],
    ] as const) {
      const r = await t.api(method, path, body, { token });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json.code).toBe('FORBIDDEN');
    }
    const otherTerminal = await t.api('POST', '/v1/sessions/other/terminals', { command: 'sh' });
    await expect(attachTerminal(t, 'other', otherTerminal.json.id, token).opened).rejects.toThrow(/403/);
    expect((await t.api('GET', '/v1/sessions/other/files/stat?path=pwned')).status).toBe(404);
    expect((await t.api('GET', '/healthz', undefined, { token })).status).toBe(200);

    // Listed without its secret; revoked: 401 at once.
    const listed = await t.api('GET', '/v1/sessions/mine/tokens');
    expect(listed.json.tokens).toEqual([
      { id: made.json.id, sessionId: 'mine', createdAt: made.json.createdAt, expiresAt: made.json.expiresAt },
    ]);
    expect(JSON.stringify(listed.json)).not.toContain(token.slice(-20));
    expect((await t.api('DELETE', `/v1/sessions/mine/tokens/${made.json.id}`)).status).toBe(204);
    const revoked = await t.api('GET', '/v1/sessions/mine', undefined, { token });
    expect(revoked).toMatchObject({ status: 401, json: { code: 'UNAUTHORIZED' } });
    expect((await t.api('DELETE', `/v1/sessions/mine/tokens/${made.json.id}`)).status).toBe(404);
    // A forged token of the right shape is 401 too.
    expect((await t.api('GET', '/v1/sessions/mine', undefined, { token: `${token.slice(0, -4)}AAAA` })).status).toBe(
      401,
    );
  });

  it('expires: 401 after its ttl', async () => {
    const made = await t.api('POST', '/v1/sessions/mine/tokens', { ttlSeconds: 1 });
    const token = made.json.token as string;
    expect((await t.api('GET', '/v1/sessions/mine', undefined, { token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await t.api('GET', '/v1/sessions/mine', undefined, { token });
    expect(expired.status).toBe(401);
    expect(expired.json.detail).toMatch(/expired/);
  });

  it('survives a restart (only hashes stored, 0600) and dies with its session', async () => {
    const made = await t.api('POST', '/v1/sessions/other/tokens', { ttlSeconds: 600 });
    const token = made.json.token as string;
    const file = join(t.stateDir, 'session-tokens.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = readFileSync(file, 'utf8');
    expect(stored).not.toContain(token.split('.')[2]);

    // A new server on the same state: the session is recovered, the token still works.
    await t.server.close();
    const again = await buildServer({ ...t.server.config, port: 0 });
    try {
      const url = await again.app.listen({ host: '127.0.0.1', port: 0 });
      const get = (path: string, bearer: string, method = 'GET') =>
        fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${bearer}` } });
      expect((await get('/v1/sessions/other', token)).status).toBe(200);
      expect((await get('/v1/sessions/mine', token)).status).toBe(403);
      // Its session removed: the token dies with it (a later session of that id is another).
      expect((await get('/v1/sessions/other', again.token.token, 'DELETE')).status).toBe(204);
      expect((await get('/v1/sessions/other', token)).status).toBe(401);
    } finally {
      await again.close();
    }
  });
});
