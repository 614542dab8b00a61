// The built server as a child process, a process printing 300 MB, and a client that reads
// slowly: every byte arrives, and the server's memory stays bounded (backpressure reaches
// the command instead of a buffer growing in the server).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LABELS } from '@axo/podman-args';
import { podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const gate = podmanGate();
const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;
const TOTAL = 300_000_000;
const PATTERN = '0123456789abcdef\n';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

function expectedSha(): string {
  const hash = createHash('sha256');
  const block = Buffer.from(PATTERN.repeat(60_000));
  let left = TOTAL;
  while (left > 0) {
    const part = block.subarray(0, Math.min(left, block.length));
    hash.update(part);
    left -= part.length;
  }
  return hash.digest('hex');
}

describe.skipIf(!gate.ok)('a slow client of a streaming exec (built server, real podman)', () => {
  const base = tempDir('axo-slow-');
  const owner = uniqueOwner('slow');
  const token = 'slow-client-test-token-0123456789';
  let child: ChildProcess;
  let url: string;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`pnpm --filter @axo/server build\` first`);
    const root = join(base.path, 'root');
    mkdirSync(join(root, 'w'), { recursive: true });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        AXO_TOKEN: token,
        AXO_SERVER_HOST: '127.0.0.1',
        AXO_SERVER_PORT: String(port),
        AXO_SERVER_STATE_DIR: join(base.path, 'state'),
        AXO_SERVER_ROOTS: root,
        AXO_SERVER_DEFAULT_IMAGE: TEST_IMAGE,
        AXO_SERVER_INSTANCE_ID: owner,
        AXO_SERVER_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    for (let i = 0; ; i++) {
      const up = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (i > 200 || child.exitCode !== null) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const created = await fetch(`${url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'slow', workdir: join(root, 'w') }),
    });
    expect(created.status).toBe(201);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    base[Symbol.dispose]();
  });

  it('gets every byte of 300 MB through a slow reader while the server RSS stays bounded', async () => {
    const pid = child.pid as number;
    const baseline = rssKiB(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssKiB(pid));
    }, 100);

    const hash = createHash('sha256');
    let bytes = 0;
    let next = 0;
    let exit: { exitCode: number } | undefined;
    let pending = '';
    let received = 0;
    const started = Date.now();
    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${url}/v1/sessions/slow/processes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.end(JSON.stringify({ command: `yes ${PATTERN.trim()} | head -c ${TOTAL}` }));
    });
    expect(response.statusCode).toBe(200);
    // About 40 MB/s of NDJSON: far slower than the command can print.
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        pending += chunk.toString('latin1');
        let nl = pending.indexOf('\n');
        while (nl >= 0) {
          const line = JSON.parse(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          if (line.type === 'stdout') {
            expect(line.offset).toBe(next);
            const data = Buffer.from(line.data, 'base64');
            hash.update(data);
            bytes += data.length;
            next += data.length;
          } else if (line.type === 'exit') exit = line;
          nl = pending.indexOf('\n');
        }
        const due = started + (received / (40 * 1024 * 1024)) * 1000;
        setTimeout(callback, Math.max(0, due - Date.now()));
      },
    });
    await pipeline(response, slow);
    clearInterval(sampler);

    expect(exit).toMatchObject({ exitCode: 0, stdout: TOTAL });
    expect(bytes).toBe(TOTAL);
    expect(hash.digest('hex')).toBe(expectedSha());
    // 400 MB of NDJSON went through: a server that buffered would have grown by that much.
    const grewMiB = (peak - baseline) / 1024;
    expect(
      grewMiB,
      `server RSS grew by ${grewMiB.toFixed(0)} MiB (baseline ${(baseline / 1024).toFixed(0)} MiB)`,
    ).toBeLessThan(100);
  }, 180_000);
});
