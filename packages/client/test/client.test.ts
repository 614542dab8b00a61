import { createHash, randomBytes } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { podmanGate } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AxoClient, AxoClientError, createClient } from '../src/index';
import { type ChildServer, startServer } from './server';

const gate = podmanGate();
const LIMIT = 64 * 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function failure(promise: Promise<unknown>): Promise<AxoClientError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!AxoClientError.isInstance(error)) throw new Error(`expected an AxoClientError, got ${String(error)}`);
  return error;
}

describe.skipIf(!gate.ok)('@axo/client against axo-server (real podman)', () => {
  let server: ChildServer;
  let axo: AxoClient;
  let workdir: string;
  const sid = 'client';

  beforeAll(async () => {
    server = await startServer({ AXO_SERVER_MAX_FILE_BYTES: String(LIMIT) });
    axo = createClient({ baseUrl: server.url, token: server.token });
    workdir = server.workdir('client');
    const session = await axo.sessions.create({ id: sid, workdir });
    expect(session).toMatchObject({ id: sid, workdir, state: 'running' });
  }, 120_000);
  afterAll(async () => server?.close());

  it('sessions, exec and tasks; problem+json answers become AxoClientError', async () => {
    expect((await axo.health()).status).toBe('ok');
    expect((await axo.sessions.list()).map((s) => s.id)).toEqual([sid]);
    expect((await axo.sessions.get(sid)).report?.agent).toMatchObject({ status: 'running' });
    const r = await axo.exec(sid, { command: 'echo out; echo err >&2; exit 3' });
    expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 3, via: 'agent' });

    const task = await axo.tasks.start(sid, { command: 'echo from-task' });
    let got = await axo.tasks.get(sid, task.id);
    for (let i = 0; i < 50 && got.task.status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      got = await axo.tasks.get(sid, task.id);
    }
    expect(got.log.text).toBe('from-task\n');

    const missing = await failure(axo.sessions.get('nope'));
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND', name: 'AxoClientError' });
    expect(missing.requestId).toBeTruthy();
    const invalid = await failure(axo.sessions.create({ workdir: 'relative' }));
    expect(invalid).toMatchObject({ status: 400, code: 'INVALID_INPUT' });
    expect(invalid.errors.map((e) => e.field)).toEqual(['body.workdir']);
    const unauthorized = await failure(createClient({ baseUrl: server.url, token: 'wrong-token' }).sessions.list());
    expect(unauthorized).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(unauthorized.hint).toMatch(/Bearer/);
  });

  it('streams a process: the first line in under a second, the rest, the exit', async () => {
    const started = Date.now();
    const p = await axo.processes.start(sid, { command: 'echo first; sleep 2; echo second' });
    expect(p.pid).toBeGreaterThan(0);
    const seen: Array<{ text: string; at: number }> = [];
    for await (const event of p) {
      if (event.type === 'stdout') seen.push({ text: text(event.data), at: Date.now() - started });
    }
    expect(seen.map((s) => s.text)).toEqual(['first\n', 'second\n']);
    expect(seen[0]?.at).toBeLessThan(1000);
    expect(seen[1]?.at).toBeGreaterThanOrEqual(1900);
    expect(await p.exited).toMatchObject({ type: 'exit', exitCode: 0, stdout: 13 });
    expect(p.offsets).toEqual({ stdout: 13, stderr: 0 });
  });

  it('reattaches after the reader went away: the rest of the output exactly once', async () => {
    const p = await axo.processes.start(sid, {
      command: 'i=0; while [ $i -lt 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done',
    });
    let first = '';
    for await (const event of p) {
      if (event.type === 'stdout') first += text(event.data);
      if (first.includes('line 5\n')) break;
    }
    // Leaving the loop closed this reader; the process runs on.
    expect(await p.exited).toBeUndefined();
    expect((await axo.processes.list(sid)).find((x) => x.id === p.id)?.running).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    const again = await axo.processes.connect(sid, p.pid, p.offsets);
    expect(again.offsets).toEqual(p.offsets);
    const rest = await again.collect();
    const expected = Array.from({ length: 40 }, (_, i) => `line ${i}\n`).join('');
    expect(first + text(rest.stdout)).toBe(expected);
    expect(rest.exit).toMatchObject({ exitCode: 0, stdout: expected.length });
  });

  it('disconnect() mid-stream, then connect from the offsets seen', async () => {
    const p = await axo.processes.start(sid, { command: 'echo a; sleep 0.5; echo b; sleep 0.5; echo c' });
    const it = p[Symbol.asyncIterator]();
    const firstEvent = await it.next();
    expect(firstEvent.value).toMatchObject({ type: 'stdout', offset: 0 });
    p.disconnect();
    expect(await p.exited).toBeUndefined();
    const again = await axo.processes.connect(sid, p.id, p.offsets);
    expect(text((await again.collect()).stdout)).toBe('b\nc\n');
  });

  it('bytes that are not UTF-8 round-trip exactly; stdin, signal and kill through the handle', async () => {
    const raw = await axo.processes.start(sid, {
      argv: ['sh', '-c', "printf '\\377\\000\\303(' ; printf '\\351' >&2"],
    });
    const out = await raw.collect();
    expect([...out.stdout]).toEqual([0xff, 0x00, 0xc3, 0x28]);
    expect([...out.stderr]).toEqual([0xe9]);

    const cat = await axo.processes.start(sid, { cmd: 'cat', stdin: true });
    await cat.sendStdin(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    await cat.sendStdin('\n', { close: true });
    expect([...(await cat.collect()).stdout]).toEqual([0xde, 0xad, 0xbe, 0xef, 0x0a]);

    const sleeper = await axo.processes.start(sid, { cmd: 'sleep', args: ['60'], tag: 'sleeper' });
    expect((await axo.processes.list(sid)).find((x) => x.pid === sleeper.pid)).toMatchObject({
      tag: 'sleeper',
      cmd: 'sleep',
      args: ['60'],
      envs: {},
      running: true,
    });
    await sleeper.signal('SIGTERM');
    expect(await sleeper.wait()).toMatchObject({ signal: 'TERM', exitCode: null });

    const tree = await axo.processes.start(sid, { command: 'sleep 60 & sleep 60' });
    expect(await tree.kill()).toMatchObject({ type: 'exit', killed: true });
    expect(await tree.wait()).toMatchObject({ killed: true });
  });

  it('files: 50 MB streamed up and down with the same sha256, metadata calls, typed errors', async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const upload = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < data.length; at += 1 << 20) c.enqueue(data.subarray(at, at + (1 << 20)));
        c.close();
      },
    });
    expect(await axo.files.write(sid, 'big.bin', upload)).toMatchObject({ size: data.length, type: 'file' });
    const hash = createHash('sha256');
    for await (const chunk of await axo.files.read(sid, 'big.bin')) hash.update(chunk);
    expect(hash.digest('hex')).toBe(sha256(data));

    await axo.files.write(sid, 'dir/a.txt', 'hello', { parents: true, mode: 0o640 });
    expect(await axo.files.readText(sid, 'dir/a.txt')).toBe('hello');
    expect(await axo.files.stat(sid, 'dir/a.txt')).toMatchObject({ mode: 0o640, size: 5 });
    await axo.files.mkdir(sid, 'dir/sub');
    await axo.files.move(sid, 'dir/a.txt', 'dir/sub/b.txt');
    await axo.files.symlink(sid, 'dir/link', 'sub/b.txt');
    const listed = await axo.files.list(sid, 'dir', { depth: 2 });
    expect(listed.entries.map((e) => e.name).sort()).toEqual(['b.txt', 'link', 'sub']);
    await axo.files.remove(sid, 'dir', { recursive: true });
    expect(await failure(axo.files.stat(sid, 'dir'))).toMatchObject({ status: 404, code: 'NOT_FOUND' });

    // The size limit: 413, and the earlier file stays.
    await axo.files.write(sid, 'keep.txt', 'earlier');
    const tooLarge = await failure(axo.files.write(sid, 'keep.txt', new Uint8Array(LIMIT + 1)));
    expect(tooLarge.status).toBe(413);
    expect(await axo.files.readText(sid, 'keep.txt')).toBe('earlier');
    // A directory in the way: 409; bad paths: 400.
    await axo.files.mkdir(sid, 'adir');
    expect(await failure(axo.files.write(sid, 'adir', 'x'))).toMatchObject({ status: 409, code: 'IS_DIR' });
    expect(await failure(axo.files.readBytes(sid, ''))).toMatchObject({ status: 400, code: 'INVALID_INPUT' });
    expect(await failure(axo.files.readBytes(sid, 'a\0b'))).toMatchObject({ status: 400 });
    // A FIFO: an error at once, never a read that blocks.
    await axo.exec(sid, { command: 'mkfifo fifo' });
    const t0 = Date.now();
    expect(await failure(axo.files.readBytes(sid, 'fifo'))).toMatchObject({ status: 400, code: 'NOT_REGULAR' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("a link to /etc/shadow reaches the container's file (or nothing), never the host's", async () => {
    symlinkSync('/etc/shadow', join(workdir, 'shadow'));
    expect(await failure(axo.files.readBytes(sid, 'shadow'))).toMatchObject({ status: 404 });
    await axo.exec(sid, { command: 'echo container-secret > /etc/shadow' });
    const read = text(await axo.files.readBytes(sid, 'shadow'));
    expect(read).toBe('container-secret\n');
  });

  it('watch reports create, modify and delete', async () => {
    await axo.files.mkdir(sid, 'w');
    const watch = await axo.files.watch(sid, 'w');
    const ops: string[] = [];
    const done = (async () => {
      for await (const event of watch) {
        if (event.name === 'f.txt') ops.push(event.op);
        if (event.op === 'remove') break;
      }
    })();
    await axo.exec(sid, { command: 'echo 1 > w/f.txt; sleep 0.2; echo 2 >> w/f.txt; sleep 0.2; rm w/f.txt' });
    await done;
    expect(ops[0]).toBe('create');
    expect(ops).toContain('write');
    expect(ops.at(-1)).toBe('remove');
  });

  it('a session token reaches its session (terminal WebSocket too) and nothing else; 401 once revoked', async () => {
    await axo.sessions.create({ id: 'client-other', workdir: server.workdir('other') });
    const made = await axo.sessions.tokens.create(sid, { ttlSeconds: 300 });
    const scoped = createClient({ baseUrl: server.url, token: made.token });
    expect((await scoped.sessions.get(sid)).id).toBe(sid);
    expect((await scoped.exec(sid, { argv: ['true'] })).exitCode).toBe(0);
    expect(await failure(scoped.sessions.get('client-other'))).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(await failure(scoped.exec('client-other', { argv: ['true'] }))).toMatchObject({ status: 403 });
    expect(await failure(scoped.sessions.list())).toMatchObject({ status: 403 });
    expect(await failure(scoped.sessions.tokens.create(sid))).toMatchObject({ status: 403 });

    // The terminal WebSocket, with the token as the axo.token.<t> subprotocol (as a browser does).
    const terminal = await scoped.terminals.open(sid, { command: 'sh', cols: 90, rows: 20 });
    const attached = await scoped.terminals.attach(sid, terminal.id);
    let screen = '';
    attached.onOutput((data) => {
      screen += data;
    });
    attached.write('echo hello-$((40+2))\r');
    for (let i = 0; i < 100 && !screen.includes('hello-42'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(screen).toContain('hello-42');
    attached.write('exit 5\r');
    expect(await attached.exited).toEqual({ exitCode: 5 });
    const otherTerminal = await axo.terminals.open('client-other', { command: 'sh' });
    expect(await failure(scoped.terminals.attach('client-other', otherTerminal.id))).toMatchObject({
      code: 'WEBSOCKET_FAILED',
    });

    expect((await axo.sessions.tokens.list(sid)).map((x) => x.id)).toEqual([made.id]);
    await axo.sessions.tokens.revoke(sid, made.id);
    expect(await failure(scoped.sessions.get(sid))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    await axo.sessions.delete('client-other');
  });
});
