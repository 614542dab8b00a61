import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, ms, podman, REPS, type Row, ratioRow, type Scenario } from '../lib';

const AXO = join(import.meta.dirname, '..', '..', 'apps', 'cli', 'dist', 'axo.js');

/** Scenario 15: what a new user runs first, with the CLI's defaults, against raw podman. */
export const defaultPath: Scenario = {
  name: 'default path (CLI)',
  compares:
    'the built `axo up <dir>` then `axo exec <id> -- true`, each a whole process, with the default config ' +
    '`axo image bootstrap` writes (its Debian image with the default dev tools, provisioning on, the agent), vs ' +
    '`podman run -d <same image> sleep infinity` + `podman exec <c> true`, interleaved; then `axo down` vs `podman rm -f`',
  async run(): Promise<Row[]> {
    const owner = `bench-default-${process.pid}`;
    const home = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-default-')));
    const env = { ...process.env, AXO_CONFIG: join(home, 'config.json'), AXO_OWNER: owner };
    const axo = (args: string[]) => {
      const r = spawnSync(process.execPath, [AXO, ...args], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`axo ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      // Builds what is missing (localhost/axo:debian needs mmdebstrap and the Debian archive once).
      axo(['image', 'bootstrap']);
      const image = JSON.parse(readFileSync(env.AXO_CONFIG, 'utf8')).defaultImage as string;
      const work = join(home, 'app');
      execFileSync('mkdir', ['-p', work]);
      const up: number[] = [];
      const raw: number[] = [];
      const down: number[] = [];
      const rawDown: number[] = [];
      for (let i = 0; i < REPS + 1; i++) {
        const a = () => {
          const t = performance.now();
          const out = axo(['up', work, '--json']);
          const id = JSON.parse(out).sessionId as string;
          axo(['exec', id, '--', 'true']);
          if (i > 0) up.push(performance.now() - t);
          const d = performance.now();
          axo(['down', id]);
          if (i > 0) down.push(performance.now() - d);
        };
        const r = () => {
          const name = `${owner}-raw-${i}`;
          const t = performance.now();
          podman(['run', '-d', '--name', name, '--label', `io.axo.owner=${owner}`, image, 'sleep', 'infinity']);
          podman(['exec', name, 'true']);
          if (i > 0) raw.push(performance.now() - t);
          const d = performance.now();
          podman(['rm', '-f', '-t', '0', name]);
          if (i > 0) rawDown.push(performance.now() - d);
        };
        // The first round warms both up and is not counted.
        for (const run of i % 2 === 0 ? [a, r] : [r, a]) run();
      }
      return [
        ratioRow(
          `15. default path: \`axo up\` + \`axo exec true\` (${image})`,
          up,
          raw,
          ms,
          { text: '≤ 1.5×', max: 1.5 },
          'podman run -d + exec',
        ),
        ratioRow('15. default path: `axo down`', down, rawDown, ms, { text: 'reported' }, 'podman rm -f -t 0'),
      ];
    } finally {
      cleanup(owner);
      rmSync(home, { recursive: true, force: true });
    }
  },
};
