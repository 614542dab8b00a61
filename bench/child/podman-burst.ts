// A helper process that runs bursts of `podman exec <container> true` and reports each
// one's wall time: one JSON line per line "N" read on stdin. The raw side's bursts run
// here, so the measuring process does not fork fifty children between its own bursts.
import { createInterface } from 'node:readline';
import { timedProcess } from '../lib';

const container = process.argv[2] ?? '';

const burst = (n: number) =>
  Promise.all(Array.from({ length: n }, () => timedProcess('podman', ['exec', container, 'true'])));

for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(`${JSON.stringify({ times: await burst(Number(line)) })}\n`);
}
