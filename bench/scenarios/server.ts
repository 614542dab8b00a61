import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionSandbox } from '@axo/runtime';
import { buildServer } from '@axo/server';
import { cleanup, IMAGE, ms, podman, type Row, type Scenario, stats } from '../lib';

const N = 20;
const steps = ['create', 'exec', 'delete'] as const;
type Step = (typeof steps)[number];

/** Scenario 6: 20 concurrent sessions through the HTTP API vs sequential library calls. */
export const server: Scenario = {
  name: 'server',
  compares: `${N} sessions at once, create → exec (\`echo\`) → delete, through axo-server's HTTP API, vs the same ${N} done one after another through @axo/runtime; p50 / p95 per step`,
  async run(): Promise<Row[]> {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-server-')));
    const root = join(base, 'root');
    const owner = `bench-srv-${process.pid}`;
    const libOwner = `bench-lib-${process.pid}`;
    for (let i = 0; i < N; i++) mkdirSync(join(root, `w${i}`), { recursive: true });
    const s = await buildServer({
      port: 0,
      stateDir: join(base, 'state'),
      allowedRoots: [root],
      instanceId: owner,
      logLevel: 'silent',
      maxSessions: N,
      policy: { defaultImage: IMAGE },
    });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const headers = { authorization: `Bearer ${s.token.token}`, 'content-type': 'application/json' };
    const http: Record<Step, number[]> = { create: [], exec: [], delete: [] };
    const lib: Record<Step, number[]> = { create: [], exec: [], delete: [] };
    const timed = async (into: number[], fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      into.push(performance.now() - t);
    };
    try {
      await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const id = `b${i}`;
          await timed(http.create, async () => {
            const r = await fetch(`${url}/v1/sessions`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ id, workdir: join(root, `w${i}`) }),
            });
            if (r.status !== 201) throw new Error(`create ${r.status}: ${await r.text()}`);
          });
          await timed(http.exec, async () => {
            const r = await fetch(`${url}/v1/sessions/${id}/exec`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ argv: ['echo', id] }),
            });
            if (((await r.json()) as { stdout: string }).stdout !== `${id}\n`) throw new Error('exec output');
          });
          await timed(http.delete, async () => {
            const r = await fetch(`${url}/v1/sessions/${id}`, { method: 'DELETE', headers });
            if (r.status !== 204) throw new Error(`delete ${r.status}`);
          });
        }),
      );
      const leaked = podman(['ps', '-aq', '--filter', `label=io.axo.owner=${owner}`])
        .toString()
        .trim();
      const leakedTerminals = s.sessions.terminalCount;

      for (let i = 0; i < N; i++) {
        let sandbox: SessionSandbox | undefined;
        await timed(lib.create, async () => {
          sandbox = await SessionSandbox.start({
            sessionId: `l${i}`,
            owner: libOwner,
            workdir: join(root, `w${i}`),
            policy: { defaultImage: IMAGE },
            provision: false,
          });
        });
        await timed(lib.exec, () => (sandbox as SessionSandbox).exec(['echo', `l${i}`]));
        await timed(lib.delete, () => (sandbox as SessionSandbox).stop());
      }
      return steps.map((step) => {
        const h = stats(http[step]);
        const l = stats(lib[step]);
        return {
          scenario: `6. ${N} sessions: ${step} (HTTP, concurrent)`,
          axo: `p50 ${ms(h.median)}, p95 ${ms(h.p95)}`,
          baseline: `library, sequential: p50 ${ms(l.median)}, p95 ${ms(l.p95)}`,
          ratio: `${(h.median / l.median).toFixed(2)}× (p50)`,
          target:
            step === 'delete'
              ? `no leaks (containers: ${leaked ? leaked.split('\n').length : 0}, terminals: ${leakedTerminals})`
              : 'reported',
          met: step === 'delete' ? leaked === '' && leakedTerminals === 0 : undefined,
        };
      });
    } finally {
      await s.close();
      cleanup(owner);
      cleanup(libOwner);
      rmSync(base, { recursive: true, force: true });
    }
  },
};
