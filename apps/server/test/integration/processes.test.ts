import { podmanGate } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/index';
import { openapiDocument } from '../../src/openapi';
import { type Json, startTestServer, type TestServer } from './helpers';

const gate = podmanGate();

/** Reads an NDJSON body line by line, noting when each line arrived. */
function lines(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  return {
    reader,
    async next(): Promise<{ line: Json; at: number } | undefined> {
      for (;;) {
        const nl = buffered.indexOf('\n');
        if (nl >= 0) {
          const line = JSON.parse(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          return { line, at: Date.now() };
        }
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffered += decoder.decode(value, { stream: true });
      }
    },
  };
}

/** Collects a whole stream: every line, and each output stream's bytes decoded. */
async function collect(body: ReadableStream<Uint8Array>) {
  const read = lines(body);
  const all: Json[] = [];
  const out: Record<string, Buffer[]> = { stdout: [], stderr: [] };
  for (let next = await read.next(); next; next = await read.next()) {
    all.push(next.line);
    if (next.line.type === 'stdout' || next.line.type === 'stderr') {
      out[next.line.type]?.push(Buffer.from(next.line.data, 'base64'));
    }
  }
  return { lines: all, stdout: Buffer.concat(out.stdout ?? []), stderr: Buffer.concat(out.stderr ?? []) };
}

describe.skipIf(!gate.ok)('processes: streaming exec over NDJSON (real podman)', () => {
  let t: TestServer;
  const sid = 'procs';
  const start = (body: object, signal?: AbortSignal) =>
    fetch(`${t.url}/v1/sessions/${sid}/processes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal && { signal }),
    });
  const stream = (pid: string, query: Record<string, string>, signal?: AbortSignal) =>
    fetch(`${t.url}/v1/sessions/${sid}/processes/${pid}/stream?${new URLSearchParams(query)}`, {
      headers: { authorization: `Bearer ${t.token}` },
      ...(signal && { signal }),
    });

  beforeAll(async () => {
    t = await startTestServer();
    expect((await t.api('POST', '/v1/sessions', { id: sid, workdir: t.workdir('procs') })).status).toBe(201);
  });
  afterAll(async () => t?.close());

  it('delivers the first line in under a second while the command sleeps, then the rest and the exit', async () => {
    const sent = Date.now();
    const r = await start({ command: 'echo first; sleep 2; echo second' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const read = lines(r.body as ReadableStream<Uint8Array>);
    const first = await read.next();
    expect(first?.line).toMatchObject({ type: 'start', running: true, stdout: 0, stderr: 0 });
    expect(first?.line.id).toMatch(/^p-/);
    const out = await read.next();
    expect(out?.line).toEqual({ type: 'stdout', offset: 0, data: Buffer.from('first\n').toString('base64') });
    expect((out?.at ?? Number.POSITIVE_INFINITY) - sent).toBeLessThan(1000);
    const second = await read.next();
    expect(Buffer.from(second?.line.data, 'base64').toString()).toBe('second\n');
    expect(second?.line.offset).toBe(6);
    expect((second?.at ?? 0) - sent).toBeGreaterThanOrEqual(1900);
    expect((await read.next())?.line).toEqual({
      type: 'exit',
      exitCode: 0,
      signal: null,
      timedOut: false,
      killed: false,
      stdout: 13,
      stderr: 0,
    });
    expect(await read.next()).toBeUndefined();
  });

  it('output that is not UTF-8 round-trips byte for byte (base64), stdout and stderr apart', async () => {
    const r = await start({ argv: ['sh', '-c', "printf '\\377\\376\\000abc\\303'; printf '\\200x' >&2"] });
    const { stdout, stderr, lines: all } = await collect(r.body as ReadableStream<Uint8Array>);
    expect(stdout).toEqual(Buffer.from([0xff, 0xfe, 0x00, 0x61, 0x62, 0x63, 0xc3]));
    expect(stderr).toEqual(Buffer.from([0x80, 0x78]));
    expect(all.at(-1)).toMatchObject({ type: 'exit', exitCode: 0, stdout: 7, stderr: 2 });
  });

  it('a client that disconnects leaves the process running; reattaching from its offsets gets the rest exactly once', async () => {
    const abort = new AbortController();
    const r = await start(
      { command: 'i=0; while [ $i -lt 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done', tag: 'counter' },
      abort.signal,
    );
    const read = lines(r.body as ReadableStream<Uint8Array>);
    const begin = (await read.next())?.line;
    const offsets = { stdout: 0, stderr: 0 };
    let seen = '';
    while (!seen.includes('line 5\n')) {
      const next = (await read.next())?.line;
      if (next?.type !== 'stdout') continue;
      expect(next.offset).toBe(offsets.stdout);
      const data = Buffer.from(next.data, 'base64');
      seen += data.toString();
      offsets.stdout += data.length;
    }
    // The first reader goes away mid-stream (as a killed client would).
    abort.abort();
    const listed = await t.api('GET', `/v1/sessions/${sid}/processes`);
    expect(listed.json.processes.find((p: Json) => p.id === begin.id)).toMatchObject({
      running: true,
      tag: 'counter',
      cmd: 'sh',
      args: ['-c', expect.stringContaining('line $i')],
    });
    await new Promise((r) => setTimeout(r, 500));
    // By pid, from the offsets seen.
    const again = await collect(
      (await stream(String(begin.pid), { stdout: String(offsets.stdout), stderr: '0' }))
        .body as ReadableStream<Uint8Array>,
    );
    expect(again.lines[0]).toMatchObject({ type: 'start', id: begin.id, stdout: offsets.stdout });
    expect(again.lines.some((l) => l.type === 'lost')).toBe(false);
    const expected = Array.from({ length: 40 }, (_, i) => `line ${i}\n`).join('');
    expect(seen + again.stdout.toString()).toBe(expected);
    expect(again.lines.at(-1)).toMatchObject({ type: 'exit', exitCode: 0, stdout: expected.length });
  });

  it('says what the ring dropped while nobody read, then every byte still held', async () => {
    const abort = new AbortController();
    const r = await start(
      { command: 'sleep 0.3; head -c 50000 /dev/zero | tr "\\0" a; echo END', ringBytes: 4096 },
      abort.signal,
    );
    const begin = (await lines(r.body as ReadableStream<Uint8Array>).next())?.line;
    abort.abort();
    for (let i = 0; i < 100; i++) {
      const p = (await t.api('GET', `/v1/sessions/${sid}/processes`)).json.processes.find(
        (x: Json) => x.id === begin.id,
      );
      if (!p.running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const again = await collect((await stream(begin.id, {})).body as ReadableStream<Uint8Array>);
    const lost = again.lines.find((l) => l.type === 'lost');
    expect(again.lines.filter((l) => l.type === 'lost')).toHaveLength(1);
    expect(lost).toMatchObject({ stream: 'stdout', from: 0 });
    expect(again.lines[0].stdout).toBe(lost.to);
    expect(again.stdout.length).toBe(50004 - lost.to);
    expect(again.stdout.toString().endsWith('aaaaEND\n')).toBe(true);
    // Without follow: what is held, then the offsets to continue from.
    const snapshot = await collect(
      (await stream(begin.id, { stdout: '49000', follow: 'false' })).body as ReadableStream<Uint8Array>,
    );
    expect(snapshot.stdout.toString()).toBe(`${'a'.repeat(1000)}END\n`);
    expect(snapshot.lines.at(-1)).toEqual({ type: 'end', stdout: 50004, stderr: 0 });
  });

  it('stdin, signals, resize and kill', async () => {
    // stdin: bytes, then close.
    const cat = await start({ cmd: 'cat', stdin: true });
    const catLines = lines(cat.body as ReadableStream<Uint8Array>);
    const catStart = (await catLines.next())?.line;
    const send = (pid: string, body: string, close = false) =>
      fetch(`${t.url}/v1/sessions/${sid}/processes/${pid}/stdin${close ? '?close=true' : ''}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
        body,
      });
    expect((await send(catStart.id, 'hello ')).status).toBe(204);
    expect((await send(String(catStart.pid), 'world\n', true)).status).toBe(204);
    let text = '';
    let last: Json;
    for (let next = await catLines.next(); next; next = await catLines.next()) {
      last = next.line;
      if (next.line.type === 'stdout') text += Buffer.from(next.line.data, 'base64').toString();
    }
    expect(text).toBe('hello world\n');
    expect(last).toMatchObject({ type: 'exit', exitCode: 0 });

    // A signal by its E2B name reaches the process itself.
    const sleeper = await start({ cmd: 'sleep', args: ['100'] });
    const sleeperLines = lines(sleeper.body as ReadableStream<Uint8Array>);
    const sleeping = (await sleeperLines.next())?.line;
    const signal = await t.api('POST', `/v1/sessions/${sid}/processes/${sleeping.id}/signal`, {
      signal: 'SIGNAL_SIGTERM',
    });
    expect(signal.status).toBe(204);
    let end: Json;
    for (let next = await sleeperLines.next(); next; next = await sleeperLines.next()) end = next.line;
    expect(end).toMatchObject({ type: 'exit', exitCode: null, signal: 'TERM', killed: false });
    expect(
      (await t.api('POST', `/v1/sessions/${sid}/processes/${sleeping.id}/signal`, { signal: 'BOGUS' })).status,
    ).toBe(400);

    // A PTY: resize, and the terminal says its new size.
    const shell = await start({ cmd: 'sh', pty: { cols: 80, rows: 24 }, stdin: true });
    const shellLines = lines(shell.body as ReadableStream<Uint8Array>);
    const sh = (await shellLines.next())?.line;
    expect((await t.api('POST', `/v1/sessions/${sid}/processes/${sh.id}/resize`, { cols: 100, rows: 30 })).status).toBe(
      204,
    );
    expect((await send(sh.id, 'stty size; exit 3\n')).status).toBe(204);
    let screen = '';
    for (let next = await shellLines.next(); next; next = await shellLines.next()) {
      if (next.line.type === 'stdout') screen += Buffer.from(next.line.data, 'base64').toString();
      else end = next.line;
    }
    expect(screen).toContain('30 100');
    expect(end).toMatchObject({ type: 'exit', exitCode: 3 });

    // DELETE kills the whole tree (a background child too) and answers how it ended.
    const tree = await start({ command: 'sleep 100 & sleep 100' });
    const treeStart = (await lines(tree.body as ReadableStream<Uint8Array>).next())?.line;
    const killed = await t.api('DELETE', `/v1/sessions/${sid}/processes/${treeStart.id}`);
    expect(killed).toMatchObject({ status: 200, json: { type: 'exit', killed: true } });
    const ps = await t.api('POST', `/v1/sessions/${sid}/exec`, { command: 'ps -o args | grep -c "^sleep 100"' });
    expect(ps.json.stdout.trim()).toBe('0');
    expect((await t.api('DELETE', `/v1/sessions/${sid}/processes/p-000000000000`)).status).toBe(404);
  });

  it('refuses bad starts with problem+json before any stream', async () => {
    for (const body of [{}, { cmd: 'ls', command: 'ls' }, { command: 'ls', args: ['-l'] }, { argv: [] }]) {
      const r = await start(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await start({ cmd: 'ls', user: 'no-such-user' })).status).toBe(400);
    const missing = await fetch(`${t.url}/v1/sessions/nope/processes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      body: '{"cmd":"ls"}',
    });
    expect(missing.status).toBe(404);
  });

  it('lists background tasks as processes too (one mechanism)', async () => {
    const task = await t.api('POST', `/v1/sessions/${sid}/tasks`, { command: 'echo from-task' });
    const procs = (await t.api('GET', `/v1/sessions/${sid}/processes`)).json.processes;
    expect(procs.some((p: Json) => p.id === task.json.id)).toBe(true);
  });

  it('serves the OpenAPI document the client is generated from', async () => {
    expect((await t.api('GET', '/openapi.json')).json).toEqual(openapiDocument());
  });

  // Last: it closes the shared server.
  it('a shutdown ends open streams at once; the process runs on and a new server reattaches', async () => {
    const r = await start({ command: 'sleep 2; echo done' });
    const read = lines(r.body as ReadableStream<Uint8Array>);
    const begin = (await read.next())?.line;
    const closing = Date.now();
    await t.server.close();
    expect(Date.now() - closing).toBeLessThan(2000);
    expect((await read.next())?.line).toMatchObject({ type: 'error', code: 'SHUTTING_DOWN' });
    expect(await read.next()).toBeUndefined();
    const again = await buildServer({ ...t.server.config, port: 0 });
    try {
      const url = await again.app.listen({ host: '127.0.0.1', port: 0 });
      const res = await fetch(`${url}/v1/sessions/${sid}/processes/${begin.id}/stream`, {
        headers: { authorization: `Bearer ${t.token}` },
      });
      const rest = await collect(res.body as ReadableStream<Uint8Array>);
      expect(rest.stdout.toString()).toBe('done\n');
      expect(rest.lines.at(-1)).toMatchObject({ type: 'exit', exitCode: 0 });
    } finally {
      await again.close();
    }
  });
});
