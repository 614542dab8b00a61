import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildRunArgs, LABELS } from '@axo/podman-args';
import {
  containersByLabel,
  podman,
  podmanGate,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer } from './helpers';

const gate = podmanGate();
const SERVER = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

/** Runs the built axo-server as its own process and waits until it answers. */
async function runServer(
  env: Record<string, string>,
): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  const proc = spawn(process.execPath, [SERVER], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (c) => {
    stderr += c;
  });
  proc.stdout?.resume();
  const url = `http://127.0.0.1:${env.AXO_SERVER_PORT}`;
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`axo-server exited: ${stderr}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { proc, url, stderr: () => stderr };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`axo-server did not answer: ${stderr}`);
}

const stop = (proc: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => resolve(code));
    proc.kill('SIGTERM');
  });

describe.skipIf(!gate.ok)('axo-server lifecycle (real podman)', () => {
  const owner = uniqueOwner('srv-life');
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it('survives a restart: the session is listed and exec works; orphans are reaped at start', async () => {
    using base = tempDir();
    const root = join(base.path, 'root');
    mkdirSync(join(root, 'w'), { recursive: true });
    const env = {
      AXO_SERVER_PORT: String(39_600 + (process.pid % 300)),
      AXO_SERVER_STATE_DIR: join(base.path, 'state'),
      AXO_SERVER_ROOTS: root,
      AXO_SERVER_DEFAULT_IMAGE: TEST_IMAGE,
      AXO_SERVER_INSTANCE_ID: owner,
      AXO_SERVER_LOG_LEVEL: 'warn',
    };
    const first = await runServer(env);
    expect(first.stderr()).toMatch(/generated an access token/);
    const token = /\n\s+(\S{20,})\n/.exec(first.stderr())?.[1] as string;
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${first.url}/v1/sessions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ id: 'keep', workdir: join(root, 'w') }),
    });
    expect(created.status).toBe(201);

    // A WebSocket client is closed cleanly on SIGTERM, and the session is left running.
    const termResponse = await fetch(`${first.url}/v1/sessions/keep/terminals`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    const term = (await termResponse.json()) as { id: string };
    const socket = new WebSocket(
      `${first.url.replace('http', 'ws')}/v1/sessions/keep/terminals/${term.id}/attach`,
      ['axo.v1'],
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    await new Promise((r) => socket.once('open', r));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    expect(await stop(first.proc)).toBe(0);
    expect([1000, 1001]).toContain(await closed);
    expect(containersByLabel(`${LABELS.owner}=${owner}`)).toEqual(['axo-ses-keep']);

    // An orphan of this owner (no record of it in the server's state) appears meanwhile.
    podman(buildRunArgs({ sessionId: 'orphan', owner, workdir: join(root, 'w'), image: TEST_IMAGE }));

    const second = await runServer(env);
    expect(second.stderr()).not.toMatch(/generated an access token/);
    const list = (await (await fetch(`${second.url}/v1/sessions`, { headers: auth })).json()) as {
      sessions: unknown[];
    };
    expect(list.sessions).toEqual([
      expect.objectContaining({ id: 'keep', recovered: true, report: expect.any(Object) }),
    ]);
    const exec = await fetch(`${second.url}/v1/sessions/keep/exec`, {
      method: 'POST',
      headers: auth,
      body: '{"argv":["echo","still here"]}',
    });
    expect(await exec.json()).toMatchObject({ stdout: 'still here\n', exitCode: 0 });
    expect(containersByLabel(`${LABELS.owner}=${owner}`)).toEqual(['axo-ses-keep']);
    const metrics = await (await fetch(`${second.url}/metrics`, { headers: auth })).text();
    expect(metrics).toMatch(/axo_reaped_containers_total\{reason="orphan"\} 1/);

    expect((await fetch(`${second.url}/v1/sessions/keep`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect(await stop(second.proc)).toBe(0);
    expect(containersByLabel(`${LABELS.owner}=${owner}`)).toEqual([]);
  });

  it('removes its sessions on shutdown when configured to', async () => {
    const t = await startTestServer({ stopSessionsOnShutdown: true });
    try {
      await t.api('POST', '/v1/sessions', { id: 'gone', workdir: t.workdir('gone') });
      await t.api('POST', '/v1/sessions/gone/terminals', {});
      expect(containersByLabel(`${LABELS.owner}=${t.owner}`)).toEqual(['axo-ses-gone']);
      await t.server.close();
      expect(containersByLabel(`${LABELS.owner}=${t.owner}`)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('removes sessions past their idle timeout', async () => {
    const t = await startTestServer({ idleTimeoutMs: 1500, reapIntervalMs: 250 });
    try {
      await t.api('POST', '/v1/sessions', { id: 'idle', workdir: t.workdir('idle') });
      await t.api('POST', '/v1/sessions', { id: 'busy', workdir: t.workdir('busy') });
      for (let i = 0; i < 10; i++) {
        await t.api('POST', '/v1/sessions/busy/exec', { argv: ['true'] });
        await new Promise((r) => setTimeout(r, 300));
      }
      const ids = (await t.api('GET', '/v1/sessions')).json.sessions.map((s: { id: string }) => s.id);
      expect(ids).toEqual(['busy']);
      expect(containersByLabel(`${LABELS.owner}=${t.owner}`)).toEqual(['axo-ses-busy']);
    } finally {
      await t.close();
    }
  });

  it('creates, uses and deletes 20 sessions at once without leaking a container or terminal', async () => {
    const t = await startTestServer({ maxSessions: 20 });
    try {
      const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
      await Promise.all(
        ids.map(async (id) => {
          const created = await t.api('POST', '/v1/sessions', { id, workdir: t.workdir(id) });
          expect(created.status, JSON.stringify(created.json)).toBe(201);
          const exec = await t.api('POST', `/v1/sessions/${id}/exec`, { argv: ['echo', id] });
          expect(exec.json.stdout).toBe(`${id}\n`);
          const term = await t.api('POST', `/v1/sessions/${id}/terminals`, { command: 'sh' });
          expect(term.status).toBe(201);
        }),
      );
      const over = await t.api('POST', '/v1/sessions', { id: 'one-too-many', workdir: t.workdir('x') });
      expect(over.status).toBe(429);
      expect(t.server.sessions.terminalCount).toBe(20);
      await Promise.all(ids.map(async (id) => expect((await t.api('DELETE', `/v1/sessions/${id}`)).status).toBe(204)));
      expect(containersByLabel(`${LABELS.owner}=${t.owner}`)).toEqual([]);
      expect(t.server.sessions.terminalCount).toBe(0);
      expect((await t.api('GET', '/v1/sessions')).json.sessions).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
