import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { podmanGate } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestServer, type TestServer } from './helpers';

const gate = podmanGate();
const LIMIT = 60 * 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(!gate.ok)('files over HTTP (real podman)', () => {
  let t: TestServer;
  let workdir: string;
  const sid = 'files';
  const url = (op: string, query: Record<string, string>) =>
    `${t.url}/v1/sessions/${sid}/files${op}?${new URLSearchParams(query)}`;
  const auth = () => ({ authorization: `Bearer ${t.token}` });
  const put = (path: string, body: NonNullable<RequestInit['body']>, query: Record<string, string> = {}) =>
    fetch(url('', { path, ...query }), {
      method: 'PUT',
      headers: { ...auth(), 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
  const get = (path: string, query: Record<string, string> = {}) =>
    fetch(url('', { path, ...query }), { headers: auth() });
  const problem = async (r: Response) => ({ status: r.status, json: (await r.json()) as Json });
  const exec = async (command: string) => (await t.api('POST', `/v1/sessions/${sid}/exec`, { command })).json;

  beforeAll(async () => {
    t = await startTestServer({ maxFileBytes: LIMIT });
    workdir = t.workdir('files');
    const created = await t.api('POST', '/v1/sessions', { id: sid, workdir });
    expect(created.status).toBe(201);
  });
  afterAll(async () => t?.close());

  it('a 50 MB upload, then a download, give the same sha256 (streamed both ways)', async () => {
    const data = randomBytes(50 * 1024 * 1024);
    // Sent as a stream (no content-length): the server reads it as it comes.
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < data.length; at += 1024 * 1024) c.enqueue(data.subarray(at, at + 1024 * 1024));
        c.close();
      },
    });
    const written = await put('big.bin', body);
    expect(written.status).toBe(200);
    expect(((await written.json()) as Json).entry).toMatchObject({ name: 'big.bin', type: 'file', size: data.length });
    expect(sha256(readFileSync(join(workdir, 'big.bin')))).toBe(sha256(data));

    const read = await get('big.bin');
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toBe('application/octet-stream');
    expect(read.headers.get('x-axo-file-size')).toBe(String(data.length));
    expect(sha256(new Uint8Array(await read.arrayBuffer()))).toBe(sha256(data));

    const empty = await put('empty.txt', new Uint8Array(0));
    expect(((await empty.json()) as Json).entry).toMatchObject({ size: 0 });
    expect(await (await get('empty.txt')).text()).toBe('');
    const slice = await get('big.bin', { offset: '1000', length: '10' });
    expect(Buffer.from(await slice.arrayBuffer())).toEqual(data.subarray(1000, 1010));
  });

  it('past the size limit: 413, and the earlier file stays (declared length, and a stream without one)', async () => {
    expect((await put('keep.txt', 'the earlier content\n')).status).toBe(200);
    const declared = await problem(await put('keep.txt', new Uint8Array(LIMIT + 1)));
    expect(declared).toMatchObject({ status: 413, json: { code: 'PAYLOAD_TOO_LARGE' } });
    // Far past the limit the server still lets the body finish, so the client reads the 413
    // instead of a reset (fetch reports a reset mid-upload as a network error).
    for (let i = 0; i < 3; i++) {
      const huge = await problem(await put('keep.txt', new Uint8Array(LIMIT * 3)));
      expect(huge).toMatchObject({ status: 413, json: { code: 'PAYLOAD_TOO_LARGE' } });
    }
    const chunk = new Uint8Array(1024 * 1024);
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += chunk.length;
        if (sent > LIMIT + 4 * chunk.length) c.close();
        else c.enqueue(chunk);
      },
    });
    const streamed = await problem(await put('keep.txt', endless));
    expect(streamed.status).toBe(413);
    expect(['PAYLOAD_TOO_LARGE', 'TOO_LARGE']).toContain(streamed.json.code);
    expect(readFileSync(join(workdir, 'keep.txt'), 'utf8')).toBe('the earlier content\n');
    expect(await (await get('keep.txt')).text()).toBe('the earlier content\n');
    // Nothing half-written is left next to it.
    expect((await exec('ls -a')).stdout).not.toMatch(/\.axo-write-/);
  });

  it('bad paths are 400: empty, NUL, longer than 4096 bytes', async () => {
    for (const path of ['', 'a\0b', 'x'.repeat(4097)]) {
      const r = await problem(await get(path));
      expect(r.status, JSON.stringify(path.slice(0, 10))).toBe(400);
      expect(r.json.code).toBe('INVALID_INPUT');
      expect(r.json.errors[0].field).toBe('query.path');
    }
    expect((await problem(await put('', 'x'))).status).toBe(400);
    const mkdir = await t.api('POST', `/v1/sessions/${sid}/files/mkdir`, { path: 'a\u0000b' });
    expect(mkdir.status).toBe(400);
  });

  it('writing over a directory is 409 IS_DIR; a missing file 404; a non-empty directory 409 NOT_EMPTY', async () => {
    expect((await t.api('POST', `/v1/sessions/${sid}/files/mkdir`, { path: 'adir/sub', parents: true })).status).toBe(
      201,
    );
    expect(await problem(await put('adir', 'x'))).toMatchObject({ status: 409, json: { code: 'IS_DIR' } });
    expect(await problem(await get('nope.txt'))).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
    expect(await problem(await get('adir'))).toMatchObject({ status: 409, json: { code: 'IS_DIR' } });
    const rm = await t.api('DELETE', `/v1/sessions/${sid}/files?path=adir`);
    expect(rm).toMatchObject({ status: 409, json: { code: 'NOT_EMPTY' } });
    expect((await t.api('DELETE', `/v1/sessions/${sid}/files?path=adir&recursive=true`)).status).toBe(204);
  });

  it('a FIFO is refused at once (400 NOT_REGULAR), never read', async () => {
    expect((await exec('mkfifo pipe')).exitCode).toBe(0);
    const started = Date.now();
    const r = await problem(await get('pipe'));
    expect(r).toMatchObject({ status: 400, json: { code: 'NOT_REGULAR' } });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("a link to /etc/shadow reads the container's file or fails, never the host's", async () => {
    symlinkSync('/etc/shadow', join(workdir, 'shadow-link'));
    // The test image has no /etc/shadow: the link leads nowhere inside the container.
    const missing = await get('shadow-link');
    expect(missing.status).toBe(404);
    // Once the container has one, the link reaches that one.
    expect((await exec('echo "root:container-only:0:::::" > /etc/shadow')).exitCode).toBe(0);
    const read = await get('shadow-link');
    expect(read.status).toBe(200);
    const body = Buffer.from(await read.arrayBuffer());
    expect(body.toString()).toBe('root:container-only:0:::::\n');
    // As a user who may not read it, it fails rather than reaching further.
    await exec('chmod 600 /etc/shadow');
    expect(await problem(await get('shadow-link', { user: 'nobody' }))).toMatchObject({
      status: 403,
      json: { code: 'PERMISSION' },
    });
  });

  it('stat, list, mkdir, move, symlink and remove answer with E2B-shaped entries', async () => {
    const base = `/v1/sessions/${sid}/files`;
    expect((await put('m/one.txt', 'one', { parents: 'true', mode: '600' })).status).toBe(200);
    const stat = await t.api('GET', `${base}/stat?path=m/one.txt`);
    expect(stat.json.entry).toMatchObject({
      name: 'one.txt',
      path: join(workdir, 'm/one.txt'),
      type: 'file',
      size: 3,
      mode: 0o600,
      permissions: '-rw-------',
    });
    expect((await t.api('POST', `${base}/mkdir`, { path: 'm/d', mode: 0o750 })).json.entry).toMatchObject({
      type: 'dir',
      mode: 0o750,
    });
    expect((await t.api('POST', `${base}/mkdir`, { path: 'm/d' })).json.code).toBe('EXISTS');
    const moved = await t.api('POST', `${base}/move`, { source: 'm/one.txt', destination: 'm/d/two.txt' });
    expect(moved.json.entry).toMatchObject({ name: 'two.txt', size: 3 });
    const link = await t.api('POST', `${base}/symlink`, { path: 'm/latest', target: 'd/two.txt' });
    expect(link).toMatchObject({ status: 201, json: { entry: { type: 'symlink', symlinkTarget: 'd/two.txt' } } });
    const list = await t.api('GET', `${base}/list?path=m&depth=2`);
    expect(list.json.truncated).toBe(false);
    expect(list.json.entries.map((e: { name: string }) => e.name).sort()).toEqual(['d', 'latest', 'two.txt']);
    expect(await (await get('m/latest')).text()).toBe('one');
    expect((await t.api('DELETE', `${base}?path=m/latest`)).status).toBe(204);
    expect((await t.api('GET', `${base}/stat?path=m/latest`)).status).toBe(404);
  });

  it('watch streams create, modify and delete as NDJSON until the client closes', async () => {
    await t.api('POST', `/v1/sessions/${sid}/files/mkdir`, { path: 'watched' });
    const abort = new AbortController();
    const r = await fetch(url('/watch', { path: 'watched' }), { headers: auth(), signal: abort.signal });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const events: Json[] = [];
    const next = async (): Promise<Json> => {
      for (;;) {
        const nl = buffered.indexOf('\n');
        if (nl >= 0) {
          const line = JSON.parse(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          return line;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the watch ended');
        buffered += decoder.decode(value, { stream: true });
      }
    };
    expect(await next()).toEqual({ type: 'start' });
    await exec('echo a > watched/w.txt; sleep 0.2; echo b >> watched/w.txt; sleep 0.2; rm watched/w.txt');
    while (!events.some((e) => e.op === 'remove')) events.push(await next());
    const ops = events.filter((e) => e.name === 'w.txt').map((e) => e.op);
    expect(ops).toContain('create');
    expect(ops).toContain('write');
    expect(ops.at(-1)).toBe('remove');
    expect(events[0]).toMatchObject({ type: 'event', path: join(workdir, 'watched/w.txt'), dir: false });
    abort.abort();
    // The watch is released: a session holds at most 16, and this one no longer counts.
    await expect(reader.read()).rejects.toThrow();
  });
});
