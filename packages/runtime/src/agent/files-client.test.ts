// AgentFiles against a scripted agent on a real unix socket: the protocol's order (no
// input before `ready`), backpressure both ways, and every way a file request can fail.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentClient } from './client';
import { FileError } from './file-error';
import { AgentFiles } from './files-client';
import { encodeFrame, encodeMessage, FrameDecoder, FrameKind, parseMessagePayload } from './protocol';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Peer {
  readonly request: Record<string, unknown> & { type: string };
  readonly socket: net.Socket;
  send(message: Record<string, unknown>): boolean;
  out(data: Buffer): boolean;
  /** The next frame from the host, or undefined once it closed. */
  next(): Promise<{ kind: number; payload: Buffer } | undefined>;
}

const entry = (path: string, extra: Record<string, unknown> = {}) => ({
  name: path.split('/').at(-1),
  path,
  type: 'file',
  size: 3,
  mode: 0o644,
  permissions: '-rw-r--r--',
  uid: 0,
  gid: 0,
  owner: 'root',
  group: 'root',
  mtime: '2024-05-06T07:08:09.123456789Z',
  ...extra,
});

/** A fake agent: says hello, takes auth and one request, then lets `serve` script the rest. */
function fakeAgent(dir: string, serve: (peer: Peer) => Promise<void> | void, features = ['files', 'watch']) {
  mkdirSync(join(dir, 's'), { recursive: true, mode: 0o700 });
  const served: Promise<void>[] = [];
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    const queue: { kind: number; payload: Buffer }[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    socket.on('data', (chunk) => {
      decoder.push(chunk);
      for (let f = decoder.nextRaw(); f; f = decoder.nextRaw()) queue.push(f);
      wake?.();
    });
    socket.on('close', () => {
      closed = true;
      wake?.();
    });
    socket.on('error', () => {});
    const next = async () => {
      while (queue.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
      return queue.shift();
    };
    socket.write(
      encodeMessage({ type: 'hello', protocol: { min: 1, max: 1 }, agent: 'fake', nonce: 'ab'.repeat(32), features }),
    );
    served.push(
      (async () => {
        await next(); // auth
        const first = await next();
        if (!first) return;
        const request = parseMessagePayload(first.payload);
        await serve({
          request,
          socket,
          send: (m) => socket.write(encodeMessage(m as { type: string })),
          out: (data) => socket.write(encodeFrame(FrameKind.out, data)),
          next,
        });
      })(),
    );
  });
  server.listen(join(dir, 's', 'agent.sock'));
  return { server, served };
}

describe('AgentFiles against a scripted agent', () => {
  let dir: string;
  let servers: net.Server[];
  let files: AgentFiles;
  const agent = (serve: (peer: Peer) => Promise<void> | void, features?: string[]) => {
    const a = fakeAgent(dir, serve, features);
    servers.push(a.server);
    return a;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'axo-files-'));
    servers = [];
    files = new AgentFiles(new AgentClient({ runDir: dir, token: 'cd'.repeat(32), sessionId: 's1' }), {
      timeoutMs: 2000,
    });
  });
  afterEach(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stats a path, leaving out the user when none is given', async () => {
    let seen: Record<string, unknown> = {};
    agent((p) => {
      seen = p.request;
      p.send({ type: 'entry', entry: entry('/work/a.txt') });
    });
    expect(await files.stat('a.txt')).toMatchObject({ path: '/work/a.txt', type: 'file', mode: 0o644 });
    expect(seen).toEqual({ type: 'fs.stat', path: 'a.txt', follow: false });
  });

  it("maps the agent's codes, keeps its own code, and names the path", async () => {
    const cases = [
      ['NOT_FOUND', 'NOT_FOUND'],
      ['IS_DIR', 'CONFLICT'],
      ['NOT_EMPTY', 'CONFLICT'],
      ['CROSS_DEVICE', 'CONFLICT'],
      ['NOT_REGULAR', 'INVALID_INPUT'],
      ['INVALID', 'INVALID_INPUT'],
      ['PERMISSION', 'PERMISSION_DENIED'],
      ['NO_SPACE', 'NO_SPACE'],
      ['TOO_LARGE', 'TOO_LARGE'],
      ['LIMIT', 'LIMIT'],
      ['INTERNAL', 'AGENT_FAILED'],
    ] as const;
    for (const [agentCode, code] of cases) {
      agent((p) => {
        p.send({ type: 'error', code: agentCode, message: `stat /work/x: ${agentCode}` });
      });
      const error = await files.stat('x').catch((e: unknown) => e);
      expect(FileError.isInstance(error), agentCode).toBe(true);
      expect(error).toMatchObject({ code, agentCode, path: 'x' });
      expect((error as Error).message).toMatch(/cannot stat "x" in session s1: stat \/work\/x/);
      servers.pop()?.close();
    }
  });

  it('refuses an agent without file operations, and entries that break the rules', async () => {
    agent(() => {}, ['exec']);
    await expect(files.stat('x')).rejects.toMatchObject({ code: 'AGENT_UNAVAILABLE' });
    servers.pop()?.close();
    agent((p) => {
      p.send({ type: 'entry', entry: entry('/work/a', { name: '../a' }) });
    });
    await expect(files.stat('a')).rejects.toMatchObject({ code: 'AGENT_FAILED' });
  });

  it('collects a listing sent in batches', async () => {
    agent((p) => {
      p.send({ type: 'entries', entries: [entry('/w/a'), entry('/w/b')] });
      p.send({ type: 'entries', entries: [entry('/w/c', { type: 'symlink', symlinkTarget: '/' })] });
      p.send({ type: 'end', truncated: true });
    });
    const list = await files.list('/w', { depth: 3 });
    expect(list.truncated).toBe(true);
    expect(list.entries.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect(list.entries[2]?.symlinkTarget).toBe('/');
  });

  it('writes: nothing before ready, the bytes in IN frames, a final empty frame, then the entry', async () => {
    let got = Buffer.alloc(0);
    let early = false;
    agent(async (p) => {
      await sleep(50);
      early = p.socket.readableLength > 0;
      p.send({ type: 'ready' });
      for (let f = await p.next(); f; f = await p.next()) {
        expect(f.kind).toBe(FrameKind.in);
        if (f.payload.length === 0) break;
        got = Buffer.concat([got, f.payload]);
      }
      p.send({ type: 'entry', entry: entry('/w/f', { size: got.length }) });
    });
    const data = Buffer.alloc(3 * 1024 * 1024 + 7, 'x');
    const e = await files.write('/w/f', Readable.from([data.subarray(0, 10), data.subarray(10)]), { mode: 0o600 });
    expect(early).toBe(false);
    expect(e.size).toBe(data.length);
    expect(got.equals(data)).toBe(true);
  });

  it('a source that fails closes the connection without the final frame', async () => {
    let sawEnd = false;
    let closed: () => void = () => {};
    const done = new Promise<void>((r) => (closed = r));
    agent(async (p) => {
      p.send({ type: 'ready' });
      for (let f = await p.next(); f; f = await p.next()) if (f.payload.length === 0) sawEnd = true;
      closed();
    });
    async function* failing() {
      yield Buffer.from('partial');
      throw new Error('disk on fire');
    }
    await expect(files.write('/w/f', failing())).rejects.toThrow('disk on fire');
    await done;
    expect(sawEnd).toBe(false);
  });

  it("an abort ends the write at once; the agent's refusal mid-write wins over what follows", async () => {
    agent(async (p) => {
      p.send({ type: 'ready' });
      while (await p.next()) {}
    });
    const controller = new AbortController();
    const endless = new Readable({ read() {} });
    endless.push(Buffer.alloc(1000));
    setTimeout(() => controller.abort(), 50);
    await expect(files.write('/w/f', endless, { signal: controller.signal })).rejects.toThrow(/abort/i);
    servers.pop()?.close();

    agent(async (p) => {
      p.send({ type: 'ready' });
      await p.next();
      p.send({ type: 'error', code: 'TOO_LARGE', message: 'write /w/f: more than maxBytes (10) bytes' });
      p.socket.end();
    });
    const infinite = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    await expect(files.write('/w/f', infinite, { maxBytes: 10 })).rejects.toMatchObject({
      code: 'TOO_LARGE',
      agentCode: 'TOO_LARGE',
    });
  });

  it('reads at the consumer’s pace: a reader that does not read holds the agent back', async () => {
    let sent = 0;
    let blocked: () => void = () => {};
    const isBlocked = new Promise<void>((r) => (blocked = r));
    const chunk = Buffer.alloc(256 * 1024, 1);
    const total = 64 * 1024 * 1024;
    agent(async (p) => {
      p.send({ type: 'entry', entry: entry('/w/big', { size: total }) });
      while (sent < total) {
        sent += chunk.length;
        if (!p.out(chunk)) {
          blocked();
          await new Promise((r) => p.socket.once('drain', r));
        }
      }
      p.send({ type: 'end', bytes: total });
    });
    const { entry: e, stream } = await files.read('/w/big');
    expect(e.size).toBe(total);
    await isBlocked;
    await sleep(200);
    // What left the agent is what the sockets and the stream buffer hold: far below the file.
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    let received = 0;
    for await (const c of stream) received += (c as Buffer).length;
    expect(received).toBe(total);
  });

  it('a read that ends short of what the agent announced fails the stream', async () => {
    agent((p) => {
      p.send({ type: 'entry', entry: entry('/w/f') });
      p.out(Buffer.from('ab'));
      p.send({ type: 'end', bytes: 3 });
    });
    const { stream } = await files.read('/w/f');
    await expect(async () => {
      for await (const _ of stream) {
      }
    }).rejects.toMatchObject({ code: 'AGENT_FAILED' });
  });

  it('a read the consumer abandons closes the connection', async () => {
    let closed: () => void = () => {};
    const gone = new Promise<void>((r) => (closed = r));
    agent((p) => {
      p.send({ type: 'entry', entry: entry('/w/f') });
      p.out(Buffer.alloc(1000));
      p.socket.on('close', closed);
    });
    const { stream } = await files.read('/w/f');
    stream.destroy();
    await gone;
  });

  it('watches: events in order; a consumer that stops iterating pauses the connection; close ends it', async () => {
    let sent = 0;
    let stalled: () => void = () => {};
    const isStalled = new Promise<void>((r) => (stalled = r));
    let closed: () => void = () => {};
    const gone = new Promise<void>((r) => (closed = r));
    agent(async (p) => {
      p.socket.on('close', closed);
      p.send({ type: 'watching' });
      for (let i = 0; i < 200_000 && !p.socket.destroyed; i++) {
        sent++;
        if (!p.send({ type: 'event', op: 'write', path: `/w/file-${i}`, dir: false })) {
          stalled();
          await new Promise((r) => p.socket.once('drain', r));
        }
      }
    });
    const watch = await files.watch('/w', { recursive: true });
    const first = await watch.next();
    expect(first.value).toEqual({ op: 'write', path: '/w/file-0', dir: false });
    await isStalled;
    await sleep(200);
    expect(sent).toBeLessThan(100_000);
    expect(watch.pending).toBeLessThanOrEqual(1024);
    let n = 0;
    for await (const _ of watch) if (++n === 5000) break;
    await gone;
    expect((await watch.next()).done).toBe(true);
  });
});
