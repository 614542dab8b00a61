// Connection reuse against a scripted agent on a real unix socket: which operations leave
// their connection for the next request, which do not, and what happens to a pooled
// connection the agent closed.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentClient } from './client';
import { encodeMessage, FrameDecoder, parseMessagePayload } from './protocol';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Msg = Record<string, unknown> & { type: string };

interface Conn {
  readonly socket: net.Socket;
  readonly auth: Msg;
  /** Every request this connection carried, in order. */
  readonly requests: Msg[];
}

/**
 * A fake agent that answers requests one after another on each connection, as the real
 * one does when the host asked for reuse: `start` gets started + exit (exit code 0),
 * `ping` a pong; `kill` in a stream ends it as killed. `closeAfter` closes a connection
 * when a request comes after its n-th answer (the request is never read); without the
 * "reuse" feature a connection ends after its answer, as an older agent's does.
 * `garbleAfter` answers the request after the n-th answer with a frame of no known kind.
 */
function fakeAgent(
  dir: string,
  options: { features?: string[]; closeAfter?: number; holdStart?: boolean; garbleAfter?: number } = {},
) {
  mkdirSync(join(dir, 's'), { recursive: true, mode: 0o700 });
  const conns: Conn[] = [];
  const features = options.features ?? ['exec', 'reuse'];
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    const conn = { socket, auth: {} as Msg, requests: [] as Msg[] };
    let answered = 0;
    let streaming = false;
    const send = (m: Msg) => socket.write(encodeMessage(m));
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      decoder.push(chunk);
      for (let f = decoder.nextRaw(); f; f = decoder.nextRaw()) {
        const m = parseMessagePayload(f.payload) as Msg;
        if (m.type === 'auth') {
          Object.assign(conn.auth, m);
          continue;
        }
        if (streaming) {
          if (m.type === 'kill') {
            streaming = false;
            send({
              type: 'exit',
              id: 'p1',
              exitCode: null,
              signal: 'KILL',
              timedOut: false,
              killed: true,
              stdout: 0,
              stderr: 0,
            });
            socket.end();
          }
          continue;
        }
        if (answered === options.closeAfter) {
          // Closing just as the host sends its next request: that request is never read.
          socket.destroy();
          return;
        }
        conn.requests.push(m);
        if (answered === options.garbleAfter) {
          socket.write(Buffer.from([9, 0, 0, 0, 0]));
          continue;
        }
        if (m.type === 'ping')
          send({ type: 'pong', agent: 'fake', protocol: 1, procs: 0, attached: 0, uptimeMs: 1, idleMs: 1 });
        else if (m.type === 'start' && options.holdStart) {
          streaming = true;
          send({ type: 'started', id: 'p1', pid: 7 });
          continue;
        } else if (m.type === 'start') {
          send({ type: 'started', id: 'p1', pid: 7 });
          send({
            type: 'exit',
            id: 'p1',
            exitCode: 0,
            signal: null,
            timedOut: false,
            killed: false,
            stdout: 0,
            stderr: 0,
          });
        } else send({ type: 'error', code: 'INVALID', message: `no ${m.type} here` });
        answered++;
        if (!features.includes('reuse')) socket.end(); // an older agent: one request a connection
      }
    });
    send({
      type: 'hello',
      protocol: { min: 1, max: 1 },
      agent: 'fake',
      nonce: 'ab'.repeat(32),
      features,
    });
    conns.push(conn);
  });
  server.listen(join(dir, 's', 'agent.sock'));
  return { server, conns };
}

const run = async (client: AgentClient) => {
  const p = await client.start({ argv: ['true'], env: {} });
  p.stdout.resume();
  p.stderr.resume();
  return p.exited;
};

describe('AgentClient connection reuse', () => {
  let dir: string;
  let servers: net.Server[];
  let client: AgentClient;
  const agent = (options?: Parameters<typeof fakeAgent>[1]) => {
    const a = fakeAgent(dir, options);
    servers.push(a.server);
    return a;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'axo-reuse-'));
    servers = [];
    client = new AgentClient({ runDir: dir, token: 'cd'.repeat(32), sessionId: 's1' });
  });
  afterEach(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs command after command on one connection, asking for reuse once, in the auth', async () => {
    const { conns } = agent();
    for (let i = 0; i < 5; i++) expect(await run(client)).toMatchObject({ exitCode: 0 });
    await client.ping();
    expect(conns).toHaveLength(1);
    expect(conns[0]?.auth).toMatchObject({ type: 'auth', reuse: true });
    expect(conns[0]?.requests.map((r) => r.type)).toEqual(['start', 'start', 'start', 'start', 'start', 'ping']);
  });

  it('opens a connection per operation for an agent without the feature, and does not ask', async () => {
    const { conns } = agent({ features: ['exec'] });
    for (let i = 0; i < 3; i++) await run(client);
    expect(conns).toHaveLength(3);
    expect(conns.every((c) => c.auth.reuse === undefined && c.requests.length === 1)).toBe(true);
  });

  it('gives up a connection the host spoke on after the request, and one that answered an error', async () => {
    const { conns } = agent({ holdStart: true });
    const p = await client.start({ argv: ['sleep', '9'], env: {} });
    p.stdout.resume();
    p.stderr.resume();
    p.kill();
    expect(await p.exited).toMatchObject({ killed: true });
    await expect(client.call({ type: 'nonsense' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await client.ping();
    expect(conns.map((c) => c.requests.map((r) => r.type))).toEqual([['start'], ['nonsense'], ['ping']]);
  });

  it('sends the request again on a new connection when the pooled one was closed by the agent', async () => {
    const { conns } = agent({ closeAfter: 1 });
    await run(client);
    // The pooled connection is closed as the next request reaches it.
    expect(await run(client)).toMatchObject({ exitCode: 0 });
    await client.ping();
    expect(conns.map((c) => c.requests.map((r) => r.type))).toEqual([['start'], ['start'], ['ping']]);
  });

  it('sends nothing on a connection it gave back once its process ended', async () => {
    const { conns } = agent();
    const a = await client.start({ argv: ['true'], env: {} });
    expect(await a.exited).toMatchObject({ exitCode: 0 });
    // Calls a caller may still make after the exit (an abort, a failed output pipe).
    a.kill();
    a.signal('TERM');
    a.resize(80, 24);
    a.detach();
    expect(await run(client)).toMatchObject({ exitCode: 0 });
    expect(conns.map((c) => c.requests.map((r) => r.type))).toEqual([['start', 'start']]);
  });

  it('says why when a new connection closes without an answer (nothing to send again)', async () => {
    agent({ closeAfter: 0 });
    await expect(client.ping()).rejects.toMatchObject({ code: 'AGENT_FAILED' });
    await expect(run(client)).rejects.toMatchObject({ code: 'SESSION_ENDED' });
  });

  it('does not send a request again when this side gave up the pooled connection', async () => {
    const { conns } = agent({ garbleAfter: 1 });
    await run(client);
    await expect(run(client)).rejects.toMatchObject({ code: 'AGENT_FAILED' });
    // Run once, on the pooled connection; never again on a new one.
    expect(conns.map((c) => c.requests.map((r) => r.type))).toEqual([['start', 'start']]);
  });

  it('fails an operation whose answer is a broken frame, never hangs it', async () => {
    agent({ garbleAfter: 0 });
    await expect(run(client)).rejects.toMatchObject({ code: 'AGENT_FAILED' });
    await expect(client.ping()).rejects.toMatchObject({ code: 'AGENT_FAILED' });
  });

  it('closes an idle connection after two seconds', async () => {
    const { conns } = agent();
    await client.ping();
    const closed = new Promise<number>((resolve) => {
      const since = Date.now();
      conns[0]?.socket.once('close', () => resolve(Date.now() - since));
    });
    const after = await closed;
    expect(after).toBeGreaterThan(1500);
    expect(after).toBeLessThan(4000);
    await client.ping();
    expect(conns).toHaveLength(2);
  });

  it('keeps at most eight idle connections per session', async () => {
    const { conns } = agent();
    await Promise.all(Array.from({ length: 12 }, () => client.ping()));
    expect(conns).toHaveLength(12);
    await sleep(50);
    expect(conns.filter((c) => c.socket.destroyed || c.socket.readableEnded)).toHaveLength(4);
    await Promise.all(Array.from({ length: 12 }, () => client.ping()));
    expect(conns).toHaveLength(16);
  });
});
