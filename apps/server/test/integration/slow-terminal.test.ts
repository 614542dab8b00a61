// A terminal client that stops reading while the terminal floods: the server closes it
// (4429, reattach) once its output backlog passes the bound, instead of buffering without end.
import { podmanGate } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { MAX_BUFFERED_BYTES, SLOW_CLIENT_CLOSE } from '../../src/ws';
import { attachTerminal, startTestServer, type TestServer } from './helpers';

const gate = podmanGate();

describe.skipIf(!gate.ok)('a terminal client that stops reading (real podman)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t?.close());

  it('is closed with 4429 once its backlog passes the bound; the backlog stays bounded', async () => {
    const created = await t.api('POST', '/v1/sessions', { id: 'flood', workdir: t.workdir('flood') });
    expect(created.status).toBe(201);
    const terminal = await t.api('POST', '/v1/sessions/flood/terminals', {
      command: 'yes 0123456789abcdefghijklmnopqrstuvwxyz',
    });
    expect(terminal.status).toBe(201);

    const client = attachTerminal(t, 'flood', terminal.json.id);
    await client.opened;
    let received = 0;
    client.socket.on('message', (raw: Buffer) => {
      received += raw.length;
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      client.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    // The client stops reading: what the server sends piles up in the kernel, then in the server.
    const raw = (client.socket as WebSocket & { _socket: import('node:net').Socket })._socket;
    raw.pause();
    // Watch the server's side of the socket: its backlog grows to the bound, then it closes.
    const [served] = [...t.server.app.websocketServer.clients];
    expect(served).toBeDefined();
    let peak = 0;
    const started = Date.now();
    while (served?.readyState === served?.OPEN) {
      peak = Math.max(peak, served?.bufferedAmount ?? 0);
      if (Date.now() - started > 30_000) throw new Error(`never closed; backlog peaked at ${peak} bytes`);
      await new Promise((r) => setTimeout(r, 10));
    }
    peak = Math.max(peak, served?.bufferedAmount ?? 0);
    expect(served?.readyState).toBe(served?.CLOSING);
    // The bound, plus the one message that crossed it (a terminal read is at most a few 100 KiB).
    expect(peak).toBeGreaterThan(MAX_BUFFERED_BYTES / 2);
    expect(peak).toBeLessThan(MAX_BUFFERED_BYTES + 1024 * 1024);
    // Nothing more is queued once it is closing.
    await new Promise((r) => setTimeout(r, 500));
    expect(served?.bufferedAmount ?? 0).toBeLessThanOrEqual(peak);
    raw.resume();
    const { code, reason } = await closed;
    expect({ code, reason }).toEqual({ code: SLOW_CLIENT_CLOSE, reason: 'client too slow: reattach' });
    // Everything the server buffered came through before the close frame: the bound, plus
    // what the kernel holds on both ends (a few MiB each on loopback), plus one message.
    expect(received).toBeGreaterThan(MAX_BUFFERED_BYTES);
    expect(received).toBeLessThan(MAX_BUFFERED_BYTES + 48 * 1024 * 1024);

    // The terminal lives on: a fresh attach is replayed the scrollback and keeps streaming.
    const again = attachTerminal(t, 'flood', terminal.json.id);
    await again.opened;
    await again.waitFor(/0123456789abcdefghijklmnopqrstuvwxyz/);
    again.socket.close();
    expect((await t.api('DELETE', '/v1/sessions/flood')).status).toBe(204);
  }, 60_000);
});
