import { inChild, mb, type Row, type Scenario, spread } from '../lib';

/** Scenario 8: a background task writing 200 MB. */
export const taskMemory: Scenario = {
  name: 'task memory',
  compares:
    'host RSS growth (peak over baseline, sampled every 10 ms in a fresh process) while a background task writes 200 MB',
  async run(): Promise<Row[]> {
    const results: number[] = [];
    for (let i = 0; i < 3; i++) results.push((await inChild<{ growth: number }>('task-memory')).growth);
    const worst = Math.max(...results);
    return [
      {
        scenario: '8. host RSS growth, background task writing 200 MB',
        axo: spread(results, mb),
        baseline: 'log ring: 64 KiB',
        ratio: `${mb(worst)} worst`,
        target: '< 10 MiB',
        met: worst < 10 * 1024 * 1024,
      },
    ];
  },
};
