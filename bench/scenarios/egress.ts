import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SessionSandbox } from '@axo/runtime';
import { cleanup, ms, REPS, type Row, ratioRow, type Scenario, stats } from '../lib';

const DEBIAN = process.env.AXO_TEST_DEBIAN_IMAGE ?? 'localhost/axo-test:debian';
const BYTES = 200 * 1024 * 1024;
const SETUPS = 100;
const run = promisify(execFile);

/** A server in its own process (so nothing here slows it) on the host's loopback: /big is BYTES of zeros, /small 2 bytes. */
async function hostServer(): Promise<{ port: number; child: ChildProcess }> {
  const script = `
    const http = require('node:http');
    const chunk = Buffer.alloc(1 << 20);
    const server = http.createServer((req, res) => {
      if (req.url !== '/big') return res.end('ok');
      res.writeHead(200, { 'content-length': ${BYTES} });
      let left = ${BYTES};
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    server.keepAliveTimeout = 1000;
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`host server exited ${code}`)));
  });
  return { port, child };
}

const mbps = (bytesPerSecond: number) => `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;

/** `curl -w` fields of one transfer, from the host or inside the session. */
function parseCurl(out: string): { speed: number; pretransfer: number; total: number; size: number } {
  const [speed, pretransfer, total, size] = out.trim().split(/\s+/).map(Number);
  if (!speed || pretransfer === undefined || total === undefined || size === undefined) {
    throw new Error(`unexpected curl output: ${out}`);
  }
  return { speed, pretransfer: pretransfer * 1000, total: total * 1000, size };
}

const W = '%{speed_download} %{time_pretransfer} %{time_total} %{size_download}\\n';

/** The whole body arrived (a short transfer would flatter the rate). */
function whole(c: ReturnType<typeof parseCurl> | undefined): number {
  if (c?.size !== BYTES) throw new Error(`a transfer moved ${c?.size} bytes, not ${BYTES}`);
  return c.speed;
}

/** Scenario: 200 MB from a server on the host's loopback, through the allowlist path vs on the host directly. */
export const egress: Scenario = {
  name: 'egress allowlist',
  compares:
    `${BYTES / 1024 / 1024} MiB from an HTTP server on the host's loopback (allowed by an IP entry), fetched with curl to /dev/null ` +
    'inside an allowlisted Debian session — through the agent’s proxy on 127.0.0.1:3128, a unix socket and the gateway ' +
    'container — as a plain proxied request and through a CONNECT tunnel (`curl -p`), vs the same curl on the host ' +
    'directly, interleaved; connection setup is curl’s time_pretransfer of a 2-byte request through a fresh CONNECT ' +
    `tunnel (${SETUPS} in a row, in one exec) vs a fresh direct TCP connect on the host`,
  async run(): Promise<Row[]> {
    const owner = `bench-egress-${process.pid}`;
    const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-egress-')));
    const server = await hostServer();
    const url = `http://127.0.0.1:${server.port}`;
    try {
      const sandbox = await SessionSandbox.start({
        sessionId: `${owner}-s`,
        owner,
        workdir,
        policy: { defaultImage: DEBIAN, network: 'allowlist', egress: [`127.0.0.1:${server.port}`] },
        provision: false,
      });
      // 127.0.0.1 is the session's own loopback by NO_PROXY; --noproxy '' sends it to the proxy (the host's).
      const inside = async (flags: string, path: string, times = 1) => {
        const r = await sandbox.exec(
          [
            'bash',
            '-c',
            `for i in $(seq ${times}); do curl -sS --noproxy '' ${flags} -o /dev/null -w '${W}' ${url}${path} || exit 1; done`,
          ],
          { timeoutMs: 300_000 },
        );
        if (r.exitCode !== 0) throw new Error(`curl in the session failed: ${r.stderr}`);
        return r.stdout.trim().split('\n').map(parseCurl);
      };
      const onHost = async (path: string) => {
        const { stdout } = await run('curl', [
          '-sS',
          '--noproxy',
          '*',
          '-o',
          '/dev/null',
          '-w',
          W.replace('\\n', '\n'),
          `${url}${path}`,
        ]);
        return parseCurl(stdout);
      };
      await inside('', '/small');
      const plain: number[] = [];
      const tunnel: number[] = [];
      const host: number[] = [];
      for (let i = 0; i < REPS; i++) {
        host.push(whole(await onHost('/big')));
        plain.push(whole((await inside('', '/big'))[0]));
        tunnel.push(whole((await inside('-p', '/big'))[0]));
      }
      const rows: Row[] = [
        ratioRow(
          'egress: 200 MiB plain HTTP through the allowlist (throughput)',
          plain,
          host,
          mbps,
          { text: '≥ 400 MB/s', min: 0 },
          'curl on the host',
        ),
        ratioRow(
          'egress: 200 MiB through a CONNECT tunnel (throughput)',
          tunnel,
          host,
          mbps,
          { text: '≥ 400 MB/s', min: 0 },
          'curl on the host',
        ),
      ];
      // The targets are absolute rates, not ratios.
      rows[0] = { ...(rows[0] as Row), met: stats(plain).median >= 400e6 };
      rows[1] = { ...(rows[1] as Row), met: stats(tunnel).median >= 400e6 };

      const setup = (await inside('-p', '/small', SETUPS)).map((c) => c.pretransfer);
      const direct: number[] = [];
      for (let i = 0; i < 20; i++) direct.push((await onHost('/small')).pretransfer);
      const p50 = stats(setup).median;
      rows.push({
        scenario: 'egress: connection setup through the allowlist (CONNECT to an allowed IP)',
        axo: `p50 ${ms(p50)}, p95 ${ms(stats(setup).p95)} (n=${setup.length})`,
        baseline: `direct TCP connect on the host: p50 ${ms(stats(direct).median)} (n=${direct.length})`,
        ratio: `${(p50 / Math.max(stats(direct).median, 0.001)).toFixed(1)}×`,
        target: 'p50 ≤ 5 ms',
        met: p50 <= 5,
      });
      await sandbox.stop();
      return rows;
    } finally {
      server.child.kill();
      cleanup(owner);
      rmSync(workdir, { recursive: true, force: true });
    }
  },
};
