import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionSandbox } from '@axo/runtime';
import { ms, REPS, type Row, ratioRow, type Scenario, stats, time, timedProcess, withSandbox } from '../lib';

const AXO = join(import.meta.dirname, '..', '..', 'apps', 'cli', 'dist', 'axo.js');
const MB = 1_000_000;

/** Runs `a` and `b` `n` times each, alternating which goes first, so drift hits both alike. */
async function interleaved(n: number, a: () => Promise<number>, b: () => Promise<number>) {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < n; i++) {
    const runA = async () => void as.push(await a());
    const runB = async () => void bs.push(await b());
    for (const run of i % 2 === 0 ? [runA, runB] : [runB, runA]) await run();
  }
  return [as, bs] as const;
}

/** Reads a whole file through the library, as a consumer would (the bytes counted, not kept). */
async function readAll(sandbox: SessionSandbox, path: string): Promise<number> {
  const { stream } = await sandbox.files.read(path);
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

/** Scenarios 18-24: copying files in and out of a session, against `podman cp` on the same container. */
export const files: Scenario = {
  name: 'files',
  compares:
    'file copies through the session agent vs `podman cp` of the same file to the same container path, ' +
    'interleaved: the built `axo cp` as a whole process (Node start included) and the library ' +
    '(`sandbox.files.write`/`read`), 1 MB and 100 MB, both directions; a 1 KB write through the library',
  async run(): Promise<Row[]> {
    return withSandbox('bench-files', async (sandbox: SessionSandbox) => {
      if (sandbox.agent.status !== 'running') throw new Error(`agent not running: ${JSON.stringify(sandbox.agent)}`);
      const rows: Row[] = [];
      const env = { ...process.env, AXO_CONFIG: '/dev/null/none' };
      const host = mkdtempSync(join(tmpdir(), 'axo-bench-files-'));
      const id = sandbox.sessionId;
      const c = sandbox.container;
      const axoCp = (from: string, to: string) => timedProcess(process.execPath, [AXO, 'cp', from, to], env);
      const podmanCp = (from: string, to: string) => timedProcess('podman', ['cp', from, to]);
      try {
        for (const [size, label, reps, target] of [
          [MB, '1 MB', 20, { text: '≤ 0.5× (≥ 2× faster)', max: 0.5 }],
          [100 * MB, '100 MB', REPS, { text: '≤ 1.0×', max: 1.0 }],
        ] as const) {
          const src = join(host, `up-${size}.bin`);
          writeFileSync(src, randomBytes(size));
          await sandbox.files.write(`/tmp/down-${size}.bin`, randomBytes(size));
          const n = rows.length + 18;

          const [cliUp, rawUp] = await interleaved(
            reps,
            () => axoCp(src, `${id}:/tmp/axo-up.bin`),
            () => podmanCp(src, `${c}:/tmp/podman-up.bin`),
          );
          rows.push(ratioRow(`${n}. upload ${label}, \`axo cp\` process`, cliUp, rawUp, ms, target, 'podman cp'));

          const [cliDown, rawDown] = await interleaved(
            reps,
            () => axoCp(`${id}:/tmp/down-${size}.bin`, join(host, 'axo-down.bin')),
            () => podmanCp(`${c}:/tmp/down-${size}.bin`, join(host, 'podman-down.bin')),
          );
          rows.push(
            ratioRow(`${n + 1}. download ${label}, \`axo cp\` process`, cliDown, rawDown, ms, target, 'podman cp'),
          );

          // The files API itself, without a Node process's start: what the server and library pay.
          {
            const data = randomBytes(size);
            const [libUp, rawLibUp] = await interleaved(
              reps,
              () => time(() => sandbox.files.write('/tmp/lib-up.bin', data)),
              () => podmanCp(src, `${c}:/tmp/podman-up.bin`),
            );
            rows.push(ratioRow(`${n + 2}. upload ${label}, library`, libUp, rawLibUp, ms, target, 'podman cp'));
            const [libDown, rawLibDown] = await interleaved(
              reps,
              () => time(() => readAll(sandbox, `/tmp/down-${size}.bin`)),
              () => podmanCp(`${c}:/tmp/down-${size}.bin`, join(host, 'podman-down.bin')),
            );
            rows.push(ratioRow(`${n + 3}. download ${label}, library`, libDown, rawLibDown, ms, target, 'podman cp'));
          }
        }

        // 26. A small write's round trip through the library.
        const small = randomBytes(1024);
        const smallSrc = join(host, 'small.bin');
        writeFileSync(smallSrc, small);
        const lib: number[] = [];
        const raw: number[] = [];
        for (let block = 0; block < 10; block++) {
          for (let i = 0; i < 20; i++) lib.push(await time(() => sandbox.files.write('/tmp/small.bin', small)));
          for (let i = 0; i < 2; i++) raw.push(await podmanCp(smallSrc, `${c}:/tmp/small-podman.bin`));
        }
        const p50 = stats(lib).median;
        rows.push({
          scenario: '26. write 1 KB, library',
          axo: `p50 ${ms(p50)}, p95 ${ms(stats(lib).p95)} (n=${lib.length})`,
          baseline: `podman cp: p50 ${ms(stats(raw).median)} (n=${raw.length})`,
          ratio: `${(p50 / stats(raw).median).toFixed(3)}×`,
          target: 'p50 ≤ 5 ms',
          met: p50 <= 5,
        });
        return rows;
      } finally {
        rmSync(host, { recursive: true, force: true });
      }
    });
  },
};
