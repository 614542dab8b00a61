// A helper process that runs bursts of `podman exec <container> true` and reports each
// one's wall time: one JSON line per line "N" read on stdin. The raw side's bursts run
// here, so the measuring process does not fork fifty children between its own bursts.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const container = process.argv[2] ?? '';

function burst(n: number): Promise<number[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<number>((resolve, reject) => {
          const started = performance.now();
          const child = spawn('podman', ['exec', container, 'true'], { stdio: ['ignore', 'pipe', 'inherit'] });
          child.stdout.resume();
          child.once('exit', (code) =>
            code === 0 ? resolve(performance.now() - started) : reject(new Error(`podman exec exited ${code}`)),
          );
        }),
    ),
  );
}

for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(`${JSON.stringify({ times: await burst(Number(line)) })}\n`);
}
