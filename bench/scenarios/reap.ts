import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunArgs, containerName } from '@axo/podman-args';
import { reapOrphans } from '@axo/runtime';
import { cleanup, execFileAsync, IMAGE, ms, podman, type Row, ratioRow, type Scenario, time } from '../lib';

const N = 50;

async function make(owner: string, workdir: string): Promise<string[]> {
  const ids = Array.from({ length: N }, (_, i) => `${owner}-${i}`);
  // Four at a time: creating them is not what is measured.
  for (let i = 0; i < ids.length; i += 4) {
    await Promise.all(
      ids
        .slice(i, i + 4)
        .map((id) => execFileAsync('podman', buildRunArgs({ sessionId: id, owner, workdir, image: IMAGE }))),
    );
  }
  return ids.map(containerName);
}

/** Scenario 7: reaping 50 orphans vs 50 sequential `podman rm -f`. */
export const reap: Scenario = {
  name: 'reaping',
  compares: `\`reapOrphans\` over ${N} orphaned session containers vs ${N} sequential \`podman rm -f\` of the same kind of containers`,
  async run(): Promise<Row[]> {
    const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-')));
    const axo: number[] = [];
    const raw: number[] = [];
    try {
      for (let round = 0; round < 2; round++) {
        const owner = `bench-reap-${process.pid}-${round}`;
        await make(owner, workdir);
        axo.push(await time(() => reapOrphans([], { owner })));
        const names = await make(`${owner}-raw`, workdir);
        raw.push(
          await time(() => {
            for (const n of names) podman(['rm', '-f', n]);
          }),
        );
        cleanup(owner);
        cleanup(`${owner}-raw`);
      }
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
    const row = ratioRow(`7. reap ${N} orphans`, axo, raw, ms, { text: '≤ 0.5×', max: 0.5 }, 'sequential rm -f');
    return [row];
  },
};
