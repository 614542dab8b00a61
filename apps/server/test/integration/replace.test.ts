// A create that fails must leave a running session as it was; `replace` recreates it only
// once the inputs (image included) are known to be good.
import { podmanGate } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers';

const gate = podmanGate();

describe.skipIf(!gate.ok)('creating over a running session (real podman)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ policy: { defaultImage: 'localhost/axo-test:busybox', allowUntrustedImage: true } });
  });
  afterAll(() => t.close());

  it('refuses a second create of the same id (409) and, with replace, checks the image before touching it', async () => {
    const workdir = t.workdir('keep');
    const created = await t.api('POST', '/v1/sessions', { id: 'keep', workdir });
    expect(created.status).toBe(201);
    expect((await t.api('POST', '/v1/sessions/keep/exec', { command: 'echo state > /tmp/state' })).status).toBe(200);

    const conflict = await t.api('POST', '/v1/sessions', { id: 'keep', workdir });
    expect(conflict.status).toBe(409);
    expect(conflict.json.hint).toMatch(/replace/);

    const bad = await t.api('POST', '/v1/sessions', {
      id: 'keep',
      workdir,
      replace: true,
      image: 'localhost/nope:1',
      allowUntrustedImage: true,
    });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(bad.json)).toMatch(/localhost\/nope:1 is not available/);
    const still = await t.api('POST', '/v1/sessions/keep/exec', { command: 'cat /tmp/state' });
    expect(still.json).toMatchObject({ stdout: 'state\n', exitCode: 0 });

    const replaced = await t.api('POST', '/v1/sessions', { id: 'keep', workdir, replace: true });
    expect(replaced.status).toBe(201);
    const fresh = await t.api('POST', '/v1/sessions/keep/exec', { command: 'cat /tmp/state' });
    expect(fresh.json.exitCode).not.toBe(0);
    expect((await t.api('GET', '/v1/sessions')).json.sessions.map((s: { id: string }) => s.id)).toEqual(['keep']);
  });
});
