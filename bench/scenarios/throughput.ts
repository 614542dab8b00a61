import { spawn } from 'node:child_process';
import { inChild, mb, REPS, type Row, ratioRow, type Scenario, spread, time, withSandbox } from '../lib';

const BYTES = 100_000_000;
const FLOOD = `head -c ${BYTES} /dev/zero`;
const rate = (msTaken: number) => BYTES / 1e6 / (msTaken / 1000);

/** Raw podman exec, output read and discarded by this process. */
function rawFlood(container: string): Promise<number> {
  return time(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn('podman', ['exec', container, 'sh', '-c', FLOOD], { stdio: ['ignore', 'pipe', 'inherit'] });
        let bytes = 0;
        child.stdout.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        child.once('exit', () => (bytes === BYTES ? resolve() : reject(new Error(`raw flood got ${bytes} bytes`))));
      }),
  );
}

/** Scenario 4: 100 MB through exec, and memory with `maxOutputBytes`. */
export const throughput: Scenario = {
  name: 'exec output throughput',
  compares: `axo \`exec\` streaming ${BYTES / 1e6} MB of stdout to an \`onStdout\` callback vs \`podman exec\` with stdout read by node; memory with \`maxOutputBytes\` in a fresh process`,
  async run(): Promise<Row[]> {
    const tp = await withSandbox('bench-tp', async (sandbox) => {
      const axo: number[] = [];
      const raw: number[] = [];
      for (let i = 0; i < REPS; i++) {
        let bytes = 0;
        const taken = await time(() =>
          sandbox.exec(['sh', '-c', FLOOD], {
            maxOutputBytes: 0,
            onStdout: (c) => {
              bytes += c.length;
            },
          }),
        );
        if (bytes !== BYTES) throw new Error(`axo flood got ${bytes} bytes`);
        axo.push(rate(taken));
        raw.push(rate(await rawFlood(sandbox.container)));
      }
      return ratioRow(
        '4. exec stdout throughput, 100 MB',
        axo,
        raw,
        (x) => `${x.toFixed(0)} MB/s`,
        { text: '≥ 0.9×', min: 0.9 },
        'raw',
      );
    });
    const cap = 8 * 1024 * 1024;
    const growth: number[] = [];
    for (let i = 0; i < 3; i++) growth.push((await inChild<{ growth: number }>('exec-memory', [String(cap)])).growth);
    const worst = Math.max(...growth);
    const memory: Row = {
      scenario: '4. host RSS growth, 100 MB exec with maxOutputBytes = 8 MiB',
      axo: spread(growth, mb),
      baseline: `cap: ${mb(cap)}`,
      ratio: `${(worst / cap).toFixed(2)}× cap (worst)`,
      target: '< 2× cap',
      met: worst < 2 * cap,
    };
    return [tp, memory];
  },
};
