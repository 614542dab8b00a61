// Idle sessions cost no CPU: the server pauses them, any use resumes them, and a restart
// finds them paused.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { pauseSupport } from '@axo/runtime';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/index';
import { attachTerminal, startTestServer } from './helpers';

const gate = podmanGate();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const state = (container: string) => podman(['inspect', '--format', '{{.State.Status}}', container]).trim();

describe.skipIf(!gate.ok || !pauseSupport().supported)('pausing sessions through axo-server (real podman)', () => {
  it('pauses an idle session on its own, and any call resumes it', async () => {
    const t = await startTestServer({ idlePauseMs: 600, reapIntervalMs: 200 });
    try {
      const created = await t.api('POST', '/v1/sessions', { id: 'idle', workdir: t.workdir('idle') });
      expect(created.status).toBe(201);
      const container = created.json.container as string;
      let paused = false;
      for (let i = 0; i < 50 && !paused; i++) {
        await sleep(100);
        paused = state(container) === 'paused';
      }
      expect(paused).toBe(true);
      expect((await t.api('GET', '/v1/sessions/idle')).json.state).toBe('paused');
      const exec = await t.api('POST', '/v1/sessions/idle/exec', { command: 'echo awake' });
      expect(exec.json).toMatchObject({ stdout: 'awake\n', exitCode: 0 });
      expect(state(container)).toBe('running');
      const metrics = (await t.api('GET', '/metrics')).json as string;
      expect(metrics).toMatch(/axo_session_pauses_total\{reason="idle"\} [1-9]/);
      expect(metrics).toMatch(/axo_session_resumes_total\{reason="use"\} [1-9]/);
    } finally {
      await t.close();
    }
  });

  it('keeps a session with a client on its terminal awake; the terminal outlives a pause', async () => {
    const t = await startTestServer({ idlePauseMs: 400, reapIntervalMs: 100 });
    try {
      const created = await t.api('POST', '/v1/sessions', { id: 'busy', workdir: t.workdir('busy') });
      const container = created.json.container as string;
      const term = await t.api('POST', '/v1/sessions/busy/terminals', { command: 'sh' });
      const ws = attachTerminal(t, 'busy', term.json.id);
      await ws.opened;
      await sleep(1500);
      expect(state(container)).toBe('running');
      // Paused with the WebSocket open: it stays open, and output resumes afterwards.
      expect((await t.api('POST', '/v1/sessions/busy/pause')).json.state).toBe('paused');
      expect(state(container)).toBe('paused');
      expect(ws.socket.readyState).toBe(ws.socket.OPEN);
      ws.send({ type: 'input', data: 'echo after-$((20+22))\r' });
      await ws.waitFor(/after-42/);
      expect(state(container)).toBe('running');
      ws.socket.close();
      let paused = false;
      for (let i = 0; i < 50 && !paused; i++) {
        await sleep(100);
        paused = state(container) === 'paused';
      }
      expect(paused).toBe(true);
      expect((await t.api('POST', '/v1/sessions/busy/resume')).json.state).toBe('running');
    } finally {
      await t.close();
    }
  });

  it('finds a paused session paused after a restart, and resumes it on use', async () => {
    using base = tempDir();
    const owner = uniqueOwner('srv-pause');
    const root = join(base.path, 'root');
    mkdirSync(join(root, 'w'), { recursive: true });
    const config = {
      port: 0,
      stateDir: join(base.path, 'state'),
      allowedRoots: [root],
      instanceId: owner,
      logLevel: 'silent' as const,
      idlePauseMs: 0,
      policy: { defaultImage: TEST_IMAGE },
    };
    try {
      const first = await buildServer(config);
      const url = await first.app.listen({ host: '127.0.0.1', port: 0 });
      const headers = { authorization: `Bearer ${first.token.token}`, 'content-type': 'application/json' };
      await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ id: 'kept', workdir: join(root, 'w') }),
      });
      await fetch(`${url}/v1/sessions/kept/pause`, { method: 'POST', headers });
      await first.close();
      expect(state(`axo-ses-kept`)).toBe('paused');

      const second = await buildServer(config);
      const url2 = await second.app.listen({ host: '127.0.0.1', port: 0 });
      const h2 = { authorization: `Bearer ${second.token.token}`, 'content-type': 'application/json' };
      const view = await (await fetch(`${url2}/v1/sessions/kept`, { headers: h2 })).json();
      expect(view).toMatchObject({ recovered: true, state: 'paused' });
      const exec = await fetch(`${url2}/v1/sessions/kept/exec`, {
        method: 'POST',
        headers: h2,
        body: JSON.stringify({ command: 'echo back' }),
      });
      expect(await exec.json()).toMatchObject({ stdout: 'back\n', exitCode: 0 });
      await second.close();
    } finally {
      removeContainersByLabel(`${LABELS.owner}=${owner}`);
    }
  });
});
