import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunArgs, containerName } from '@axo/podman-args';
import { loadNodePty, PtyTerminal } from '@axo/pty';
import { IMAGE, REPS, type Row, ratioRow, type Scenario, stats } from '../lib';

const FLOOD_BYTES = 50_000_000;
const FLOOD = `head -c ${FLOOD_BYTES} /dev/zero | tr '\\0' x`;
const KEYS = 40;

interface Pty {
  onData(listener: (data: string) => void): unknown;
  write(data: string): void;
  readonly exited: Promise<unknown>;
  kill(): unknown;
}

/** Scenario 5: terminal flood throughput and keystroke-to-echo latency. */
export const terminal: Scenario = {
  name: 'terminal',
  compares: `an axo \`PtyTerminal\` vs node-pty running \`podman exec -it\` directly: a ${FLOOD_BYTES / 1e6} MB flood, and p50 of ${KEYS} keystrokes to their echo (\`cat\`)`,
  async run(): Promise<Row[]> {
    const sessionId = `bench-pty-${process.pid}`;
    const container = containerName(sessionId);
    const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-')));
    const nodePty = await loadNodePty();
    const spawnAxo = async (command: string): Promise<Pty> => PtyTerminal.spawn({ container, command });
    const spawnRaw = async (command: string): Promise<Pty> => {
      const p = nodePty.spawn('podman', ['exec', '-it', '--detach-keys=', container, 'sh', '-c', command], {
        name: 'xterm-256color',
        cols: 80,
        rows: 24,
      });
      const exited = new Promise((resolve) => p.onExit(resolve));
      return { onData: (l) => p.onData(l), write: (d) => p.write(d), exited, kill: () => p.kill() };
    };
    const flood = async (spawn: (c: string) => Promise<Pty>) => {
      const started = performance.now();
      const t = await spawn(FLOOD);
      let bytes = 0;
      t.onData((d) => {
        bytes += d.length;
      });
      await t.exited;
      if (bytes < FLOOD_BYTES) throw new Error(`flood delivered only ${bytes} bytes`);
      return FLOOD_BYTES / 1e6 / ((performance.now() - started) / 1000);
    };
    const keystrokes = async (spawn: (c: string) => Promise<Pty>) => {
      const t = await spawn('cat');
      let seen = '';
      let waiter: (() => void) | undefined;
      t.onData((d) => {
        seen += d;
        waiter?.();
      });
      await new Promise((r) => setTimeout(r, 300));
      const latencies: number[] = [];
      for (let i = 0; i < KEYS; i++) {
        const key = String.fromCharCode(97 + (i % 26));
        seen = '';
        const echoed = new Promise<void>((resolve) => {
          waiter = () => seen.includes(key) && resolve();
        });
        const t0 = performance.now();
        t.write(key);
        await echoed;
        latencies.push(performance.now() - t0);
      }
      t.kill();
      return stats(latencies).median;
    };

    execFileSync('podman', buildRunArgs({ sessionId, owner: `bench-pty-${process.pid}`, workdir, image: IMAGE }));
    try {
      const axoRate: number[] = [];
      const rawRate: number[] = [];
      const axoKeys: number[] = [];
      const rawKeys: number[] = [];
      const settle = () => new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < Math.max(4, REPS - 1); i++) {
        // Alternate who goes first, so neither side always follows the heavier run.
        const pairs: Array<[() => Promise<void>, () => Promise<void>]> = [
          [async () => void axoRate.push(await flood(spawnAxo)), async () => void rawRate.push(await flood(spawnRaw))],
          [
            async () => void axoKeys.push(await keystrokes(spawnAxo)),
            async () => void rawKeys.push(await keystrokes(spawnRaw)),
          ],
        ];
        for (const [axo, raw] of pairs) {
          for (const run of i % 2 === 0 ? [axo, raw] : [raw, axo]) {
            await settle();
            await run();
          }
        }
      }
      return [
        ratioRow(
          '5. terminal flood throughput, 50 MB',
          axoRate,
          rawRate,
          (x) => `${x.toFixed(1)} MB/s`,
          { text: '≥ 0.8×', min: 0.8 },
          'node-pty',
        ),
        ratioRow(
          '5. keystroke → echo, p50',
          axoKeys,
          rawKeys,
          (x) => `${x.toFixed(2)} ms`,
          { text: '≤ 1.2×', max: 1.2 },
          'node-pty',
        ),
      ];
    } finally {
      execFileSync('podman', ['rm', '-f', '-t', '0', container]);
      rmSync(workdir, { recursive: true, force: true });
    }
  },
};
