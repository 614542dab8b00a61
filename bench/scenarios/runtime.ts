import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunArgs, containerName } from '@axo/podman-args';
import { SessionSandbox } from '@axo/runtime';
import { cleanup, IMAGE, ms, podman, REPS, type Row, ratioRow, type Scenario, time } from '../lib';

const owner = `bench-rt-${process.pid}`;
let n = 0;
const nextId = () => `${owner}-${++n}`;
const start = (workdir: string) =>
  SessionSandbox.start({ sessionId: nextId(), owner, workdir, policy: { defaultImage: IMAGE }, provision: false });

/** Scenarios 1-2: start to first exec, stop (the exec round trip is the agent scenario's). */
export const runtime: Scenario = {
  name: 'session start, exec round trip, stop',
  compares:
    'axo `SessionSandbox.start` (agent, in-force report) + `exec(["true"])` vs `podman run -d` (the same argv axo builds, limits on) + `podman exec true`; ' +
    'axo `stop()` vs the reference (`sleep infinity` as PID 1 without `--init`, `podman rm -f`)',
  async run(): Promise<Row[]> {
    const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-')));
    const rows: Row[] = [];
    try {
      const axoStart: number[] = [];
      const rawStart: number[] = [];
      for (let i = 0; i < REPS + 2; i++) {
        let sandbox: SessionSandbox | undefined;
        axoStart.push(
          await time(async () => {
            sandbox = await start(workdir);
            await sandbox.exec(['true']);
          }),
        );
        podman(['rm', '-f', '-t', '0', (sandbox as SessionSandbox).container]);
        const rawId = nextId();
        const args = buildRunArgs({
          sessionId: rawId,
          owner,
          workdir,
          image: IMAGE,
          limits: { memory: '2g', cpus: 2, pids: 512 },
        });
        rawStart.push(
          await time(() => {
            podman(args);
            podman(['exec', containerName(rawId), 'true']);
          }),
        );
        podman(['rm', '-f', '-t', '0', containerName(rawId)]);
      }
      rows.push(ratioRow('1. start → first exec', axoStart, rawStart, ms, { text: '≤ 1.15×', max: 1.15 }));

      const axoStop: number[] = [];
      const refStop: number[] = [];
      for (let i = 0; i < 3; i++) {
        const s = await start(workdir);
        axoStop.push(await time(() => s.stop()));
        const ref = `axo-bench-ref-${process.pid}-${i}`;
        podman(['run', '-d', '--name', ref, '--label', `io.axo.owner=${owner}`, IMAGE, 'sleep', 'infinity']);
        refStop.push(await time(() => podman(['rm', '-f', ref])));
      }
      const stop = ratioRow('2. stop', axoStop, refStop, ms, { text: 'axo < 1 s (reference ≈ 10 s)' }, 'reference');
      rows.push({ ...stop, met: Math.max(...axoStop) < 1000 });
    } finally {
      cleanup(owner);
      rmSync(workdir, { recursive: true, force: true });
    }
    return rows.sort((a, b) => a.scenario.localeCompare(b.scenario));
  },
};
