// The egress allowlist through axo-server: the server's policy caps what clients ask for,
// live changes, the audit trail and the Prometheus counters. Traffic goes only to a
// server this test starts on the host's loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gatewayName, LABELS } from '@axo/podman-args';
import { containersByLabel, podmanGate, podmanResult } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/index';
import { type Json, startTestServer, type TestServer } from './helpers';

const gate = podmanGate();

describe.skipIf(!gate.ok)('axo-server: egress allowlist (real podman)', () => {
  let t: TestServer;
  let web: http.Server;
  let port = 0;
  beforeAll(async () => {
    web = http.createServer((_req, res) => res.end('from-host\n'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    port = (web.address() as AddressInfo).port;
    t = await startTestServer({
      policy: {
        defaultImage: process.env.AXO_TEST_IMAGE ?? 'localhost/axo-test:busybox',
        network: 'allowlist',
        egress: ['*.example.com:443', `127.0.0.1:${port}`],
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((r) => web.close(r));
  });
  // no_proxy emptied: 127.0.0.1 then goes to the proxy, i.e. to the host's loopback.
  const fetchHost = (id: string) =>
    t.api('POST', `/v1/sessions/${id}/exec`, {
      argv: ['wget', '-q', '-O-', `http://127.0.0.1:${port}/`],
      env: { no_proxy: '', NO_PROXY: '' },
    });

  it("caps what a client asks for at the server's allowlist", async () => {
    const workdir = t.workdir('cap');
    for (const body of [
      { network: 'bridge' },
      { egress: ['registry.npmjs.org'] },
      { egress: ['a.example.com'] }, // port 80 is beyond *.example.com:443
      { egress: [`127.0.0.1:${port + 1}`] },
    ]) {
      const r = await t.api('POST', '/v1/sessions', { workdir, ...body });
      expect(r.status, JSON.stringify(body)).toBe(403);
      expect(r.json.code).toBe('POLICY_DENIED');
    }
    expect((await t.api('POST', '/v1/sessions', { workdir, egress: ['127.1'] })).status).toBe(400);
    expect(containersByLabel(`${LABELS.owner}=${t.owner}`)).toEqual([]);
  });

  it('creates an allowlisted session, changes its list live, and keeps its trail and counters', async () => {
    const workdir = t.workdir('live');
    const created = await t.api('POST', '/v1/sessions', { id: 'live', workdir, egress: [`127.0.0.1:${port}`] });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json.report).toMatchObject({
      network: 'allowlist',
      egress: { entries: [`127.0.0.1:${port}`], gateway: gatewayName('live') },
    });
    expect((await fetchHost('live')).json).toMatchObject({ exitCode: 0, stdout: 'from-host\n' });
    expect((await t.api('GET', '/v1/sessions/live/egress')).json).toEqual({ entries: [`127.0.0.1:${port}`] });

    const beyond = await t.api('PUT', '/v1/sessions/live/egress', { entries: ['registry.npmjs.org'] });
    expect(beyond.status).toBe(403);
    const cleared = await t.api('PUT', '/v1/sessions/live/egress', { entries: ['A.example.com:443'] });
    expect(cleared).toMatchObject({ status: 200, json: { entries: ['a.example.com:443'] } });
    const refused = await fetchHost('live');
    expect(refused.json.exitCode).not.toBe(0);
    expect(refused.json.stderr).toMatch(/403/);

    const log = await t.api('GET', '/v1/sessions/live/egress/log');
    expect(log.status).toBe(200);
    const mine = (log.json.records as Json[]).filter((r) => r.port === port);
    expect(mine.map((r) => [r.decision, r.rule])).toEqual([
      ['allow', `127.0.0.1:${port}`],
      ['deny', 'loopback'],
    ]);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await t.api('GET', `/v1/sessions/live/egress/log?since=${encodeURIComponent(future)}`)).json).toEqual({
      records: [],
    });
    expect((await t.api('GET', '/v1/sessions/live/egress/log?limit=1')).json.records).toHaveLength(1);

    await new Promise((r) => setTimeout(r, 1200)); // the gateway writes its counters once a second
    const metrics = await t.api('GET', '/metrics');
    expect(metrics.json).toMatch(/axo_egress_connections_total\{decision="allow"\} [1-9]/);
    expect(metrics.json).toMatch(/axo_egress_connections_total\{decision="deny"\} [1-9]/);
    expect(metrics.json).toMatch(/axo_egress_bytes_total\{direction="in"\} [1-9]/);

    expect((await t.api('DELETE', '/v1/sessions/live')).status).toBe(204);
    expect(containersByLabel(`${LABELS.owner}=${t.owner}`)).toEqual([]);
    // A removed session's counts stay in the counters.
    expect((await t.api('GET', '/metrics')).json).toMatch(/axo_egress_connections_total\{decision="allow"\} [1-9]/);
  });

  it('answers 409 for a session with another network', async () => {
    const created = await t.api('POST', '/v1/sessions', { id: 'off', workdir: t.workdir('off'), network: 'none' });
    expect(created.status).toBe(201);
    expect((await t.api('GET', '/v1/sessions/off/egress')).status).toBe(409);
    expect((await t.api('PUT', '/v1/sessions/off/egress', { entries: [] })).status).toBe(409);
    expect((await t.api('DELETE', '/v1/sessions/off')).status).toBe(204);
  });
  it('keeps egress through a server restart: the gateway is not touched, the session is recovered', async () => {
    const created = await t.api('POST', '/v1/sessions', { id: 'kept', workdir: t.workdir('kept') });
    expect(created.status).toBe(201);
    const gatewayId = () =>
      podmanResult([
        'container',
        'inspect',
        '--format',
        '{{.Id}} {{.State.Running}}',
        gatewayName('kept'),
      ]).stdout.trim();
    const before = gatewayId();
    expect(before).toMatch(/ true$/);
    await t.server.close(); // sessions stay (AXO_SERVER_STOP_SESSIONS_ON_SHUTDOWN is off)
    expect(gatewayId()).toBe(before);
    const again = await buildServer({ ...t.server.config, port: 0 });
    try {
      expect(again.startup.recovered).toContain('kept');
      const url = await again.app.listen({ host: '127.0.0.1', port: 0 });
      const exec = await fetch(`${url}/v1/sessions/kept/exec`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          argv: ['wget', '-q', '-O-', `http://127.0.0.1:${port}/`],
          env: { no_proxy: '', NO_PROXY: '' },
        }),
      });
      expect(await exec.json()).toMatchObject({ exitCode: 0, stdout: 'from-host\n' });
      expect(gatewayId()).toBe(before);
      const removed = await fetch(`${url}/v1/sessions/kept`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${t.token}` },
      });
      expect(removed.status).toBe(204);
      expect(containersByLabel(`${LABELS.owner}=${t.owner}`)).toEqual([]);
    } finally {
      await again.close();
    }
  });
});
