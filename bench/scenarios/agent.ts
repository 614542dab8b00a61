import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionSandbox } from '@axo/runtime';
import {
  helper,
  inChild,
  mb,
  ms,
  podman,
  REPS,
  type Row,
  ratioRow,
  type Scenario,
  settle,
  spread,
  stats,
  time,
  timedProcess,
  withSandbox,
} from '../lib';

const AXO = join(import.meta.dirname, '..', '..', 'apps', 'cli', 'dist', 'axo.js');
const FLOOD_BYTES = 100_000_000;
const rate = (bytes: number) => (msTaken: number) => bytes / 1e6 / (msTaken / 1000);

const percentile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))] ?? 0;

function p50Row(
  scenario: string,
  axo: number[],
  raw: number[],
  target: { text: string; maxMs: number },
  baselineName = 'raw podman exec',
): Row {
  const p50 = stats(axo).median;
  return {
    scenario,
    axo: `p50 ${ms(p50)}, p95 ${ms(percentile(axo, 0.95))} (n=${axo.length})`,
    baseline: `${baselineName}: p50 ${ms(stats(raw).median)}, p95 ${ms(percentile(raw, 0.95))} (n=${raw.length})`,
    ratio: `${(p50 / stats(raw).median).toFixed(3)}×`,
    target: target.text,
    met: p50 <= target.maxMs,
  };
}

/** The container's init (the agent) as the host sees it. */
function agentRss(container: string): number {
  const pid = podman(['inspect', '--format', '{{.State.Pid}}', container]).toString().trim();
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** Scenarios 9-14: the agent's round trip, concurrency, throughput and memory; `axo exec` as a process. */
export const agent: Scenario = {
  name: 'axo-agent',
  compares:
    'every command through the session agent (the default) vs `podman exec` on the same container, interleaved: ' +
    'library round trip of `true`; the built `axo exec <id> -- true` as a whole process (Node start included) vs ' +
    '`podman exec <c> true` as a process; 50 concurrent execs; 100 MB of stdout; the agent’s idle RSS from the host; ' +
    'host RSS under a 1 GB flood with `maxOutputBytes` in a fresh process; resume-on-use of a paused session',
  async run(): Promise<Row[]> {
    return withSandbox('bench-agent', async (sandbox: SessionSandbox) => {
      if (sandbox.agent.status !== 'running') throw new Error(`agent not running: ${JSON.stringify(sandbox.agent)}`);
      // Row 11's raw bursts, started before anything is measured (see child/podman-burst.ts).
      const rawBursts = helper<{ times: number[] }>('podman-burst', [sandbox.container]);
      try {
        const rows: Row[] = [];
        const env = { ...process.env, AXO_CONFIG: '/dev/null/none' };

        // 9. Library round trip: 200 agent execs and 30 podman execs, interleaved in blocks.
        const lib: number[] = [];
        const raw: number[] = [];
        for (let block = 0; block < 10; block++) {
          for (let i = 0; i < 20; i++) lib.push(await time(() => sandbox.exec(['true'])));
          for (let i = 0; i < 3; i++) raw.push(await time(() => podman(['exec', sandbox.container, 'true'])));
        }
        rows.push(
          p50Row('9. exec round trip of `true`, library', lib, raw, {
            text: 'p50 ≤ 3 ms (moonshot ≤ 1.5 ms)',
            maxMs: 3,
          }),
        );

        // 10. The CLI as a whole process, against podman exec as a whole process.
        const cli: number[] = [];
        const rawProc: number[] = [];
        for (let i = 0; i < 20; i++) {
          const a = async () =>
            void cli.push(await timedProcess(process.execPath, [AXO, 'exec', sandbox.sessionId, '--', 'true'], env));
          const r = async () => void rawProc.push(await timedProcess('podman', ['exec', sandbox.container, 'true']));
          for (const run of i % 2 === 0 ? [a, r] : [r, a]) await run();
        }
        rows.push(
          ratioRow(
            '10. `axo exec <id> -- true`, whole process',
            cli,
            rawProc,
            ms,
            { text: '≤ 0.6× raw', max: 0.6 },
            'raw podman exec',
          ),
        );

        // 11. 50 at once on one session. Each burst starts once the last one's podman exec
        // sessions are gone (settle), so neither side is measured against the other's tail;
        // raw podman's bursts are timed in a helper process (see child/podman-burst.ts).
        const burst: number[] = [];
        const rawBurst: number[] = [];
        const id = podman(['inspect', '--format', '{{.Id}}', sandbox.container]).toString().trim();
        for (let round = 0; round < 3; round++) {
          await settle(id);
          await Promise.all(
            Array.from({ length: 50 }, async () => void burst.push(await time(() => sandbox.exec(['true'])))),
          );
          await settle(id);
          rawBurst.push(...(await rawBursts.ask('50')).times);
        }
        rows.push(
          p50Row('11. 50 concurrent execs on one session', burst, rawBurst, { text: 'p50 ≤ 20 ms', maxMs: 20 }),
        );

        // 12. Throughput: 100 MB of stdout into a callback, vs podman exec read by node.
        const flood = `head -c ${FLOOD_BYTES} /dev/zero`;
        const tpAxo: number[] = [];
        const tpRaw: number[] = [];
        for (let i = 0; i < REPS; i++) {
          let bytes = 0;
          const taken = await time(() =>
            sandbox.exec(['sh', '-c', flood], {
              maxOutputBytes: 0,
              onStdout: (c) => {
                bytes += c.length;
              },
            }),
          );
          if (bytes !== FLOOD_BYTES) throw new Error(`agent flood got ${bytes} bytes`);
          tpAxo.push(rate(FLOOD_BYTES)(taken));
          tpRaw.push(rate(FLOOD_BYTES)(await timedProcess('podman', ['exec', sandbox.container, 'sh', '-c', flood])));
        }
        rows.push(
          ratioRow(
            '12. exec stdout throughput, 100 MB, library',
            tpAxo,
            tpRaw,
            (x) => `${x.toFixed(0)} MB/s`,
            { text: '≥ 1.0×', min: 1.0 },
            'raw podman exec',
          ),
        );

        // 17. Resume on use: pause, then the first exec (which resumes), against an exec on a
        // running session plus a raw `podman pause`d/`podman unpause` of the same container.
        const resumed: number[] = [];
        const baseline: number[] = [];
        for (let i = 0; i < 15; i++) {
          await sandbox.pause();
          resumed.push(await time(() => sandbox.exec(['true'])));
          podman(['pause', sandbox.container]);
          const unpause = await time(() => podman(['unpause', sandbox.container]));
          baseline.push(unpause + (await time(() => sandbox.exec(['true']))));
        }
        rows.push(
          ratioRow(
            '17. resume + first exec on a paused session',
            resumed,
            baseline,
            ms,
            { text: '≤ 1.5×', max: 1.5 },
            'exec + raw podman unpause',
          ),
        );

        // 13. The agent's own memory, idle, from the host side.
        await new Promise((r) => setTimeout(r, 500));
        const rss = agentRss(sandbox.container);
        rows.push({
          scenario: '13. agent RSS, idle (after the runs above)',
          axo: mb(rss),
          baseline: '—',
          ratio: '—',
          target: '≤ 15 MiB',
          met: rss <= 15 * 1024 * 1024,
        });

        // 14. Host memory under a 1 GB flood with a cap, in a fresh process.
        const cap = 8 * 1024 * 1024;
        const growth: number[] = [];
        for (let i = 0; i < 3; i++) {
          growth.push((await inChild<{ growth: number }>('exec-memory', [String(cap), '1000000000'])).growth);
        }
        rows.push({
          scenario: '14. host RSS growth, 1 GB exec with maxOutputBytes = 8 MiB',
          axo: spread(growth, mb),
          baseline: `cap: ${mb(cap)}`,
          ratio: `${(Math.max(...growth) / cap).toFixed(2)}× cap (worst)`,
          target: 'bounded: < 4× cap',
          met: Math.max(...growth) < 4 * cap,
        });
        return rows;
      } finally {
        rawBursts.close();
      }
    });
  },
};
