// @axo/client is typed for browsers too (fetch, streams): its sources need the DOM's types.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="dom.asynciterable" />
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@axo/client';
import { buildServer } from '@axo/server';
import { Sandbox } from 'e2b';
import { cleanup, IMAGE, ms, type Row, ratioRow, type Scenario } from '../lib';

const N = 40;
const WARMUP = 5;

/** Runs podman once (output discarded); resolves with its wall time. */
function timedPodman(args: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) =>
    execFile('podman', args, (error) => (error ? reject(error) : resolve(performance.now() - started))),
  );
}

/** Times each of `fns` `n` times, rotating which goes first, so drift hits them alike. */
async function interleaved(n: number, fns: ReadonlyArray<() => Promise<unknown>>): Promise<number[][]> {
  const out = fns.map(() => [] as number[]);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < fns.length; k++) {
      const at = (i + k) % fns.length;
      const started = performance.now();
      await (fns[at] as () => Promise<unknown>)();
      out[at]?.push(performance.now() - started);
    }
  }
  return out;
}

/** Scenarios 25-26: the official E2B SDK against axo-server's E2B façade. */
export const e2b: Scenario = {
  name: 'e2b',
  compares:
    "`sandbox.commands.run('true')` through the official E2B SDK (e2b 2.51.0, over E2B_API_URL/E2B_SANDBOX_URL) " +
    "against axo-server's E2B façade, vs `exec` of `true` through @axo/client on the same server and session, vs " +
    '`podman exec <container> sh -c true` on the same container; interleaved, ' +
    `${N} each after ${WARMUP} warm-up runs`,
  async run(): Promise<Row[]> {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-e2b-')));
    const root = join(base, 'root');
    mkdirSync(root);
    const owner = `bench-e2b-${process.pid}`;
    const key = `e2b_${randomBytes(20).toString('hex')}`;
    const s = await buildServer({
      port: 0,
      stateDir: join(base, 'state'),
      allowedRoots: [root],
      instanceId: owner,
      logLevel: 'silent',
      token: key,
      e2b: true,
      policy: { defaultImage: IMAGE },
    });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    // What an E2B user sets: the SDK itself is unchanged.
    process.env.E2B_API_URL = url;
    process.env.E2B_SANDBOX_URL = url;
    process.env.E2B_API_KEY = key;
    try {
      const sbx = await Sandbox.create();
      const client = createClient({ baseUrl: url, token: key });
      const container = `axo-ses-${sbx.sandboxId}`;
      const viaSdk = async () => {
        if ((await sbx.commands.run('true')).exitCode !== 0) throw new Error('SDK: true failed');
      };
      const viaClient = async () => {
        if ((await client.exec(sbx.sandboxId, { command: 'true' })).exitCode !== 0) throw new Error('client: failed');
      };
      const viaPodman = () => timedPodman(['exec', container, 'sh', '-c', 'true']);
      await interleaved(WARMUP, [viaSdk, viaClient, viaPodman]);
      const [sdk = [], cli = [], raw = []] = await interleaved(N, [viaSdk, viaClient, viaPodman]);
      await sbx.kill();
      return [
        ratioRow("27. E2B SDK `commands.run('true')`", sdk, cli, ms, { text: 'reported' }, '@axo/client exec'),
        ratioRow("28. E2B SDK `commands.run('true')`", sdk, raw, ms, { text: '≤ 0.5×', max: 0.5 }, 'podman exec'),
      ];
    } finally {
      await s.close();
      cleanup(owner);
      rmSync(base, { recursive: true, force: true });
    }
  },
};
