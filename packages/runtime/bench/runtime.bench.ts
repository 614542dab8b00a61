// Runtime benchmarks: axo against raw podman doing the same thing, interleaved in one run
// so machine noise hits both sides alike. Prints a Markdown table of min / median / max
// and the median ratio. Run: pnpm --filter @axo/runtime bench [-- --reps N]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunArgs, containerName } from '@axo/podman-args';
import { SessionSandbox } from '@axo/runtime';

const IMAGE = process.env.AXO_TEST_IMAGE ?? 'localhost/axo-test:busybox';
const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 7;
const owner = `bench-${process.pid}`;
const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-bench-')));
const podman = (args: string[]) => execFileSync('podman', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const time = async (fn: () => unknown) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0] ?? 0, median: s[Math.floor(s.length / 2)] ?? 0, max: s.at(-1) ?? 0 };
};
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const rows: string[] = [];
function report(name: string, axo: number[], raw: number[], rawName: string, target: string) {
  const a = stats(axo);
  const r = stats(raw);
  rows.push(
    `| ${name} | ${fmt(a.min)} / ${fmt(a.median)} / ${fmt(a.max)} | ${rawName}: ${fmt(r.min)} / ${fmt(r.median)} / ${fmt(r.max)} | ${(a.median / r.median).toFixed(2)}× | ${target} |`,
  );
}

let n = 0;
const nextId = () => `${owner}-${++n}`;

try {
  // 1. start to first successful exec
  const axoStart: number[] = [];
  const rawStart: number[] = [];
  for (let i = 0; i < reps; i++) {
    const id = nextId();
    axoStart.push(
      await time(async () => {
        const s = await SessionSandbox.start({
          sessionId: id,
          owner,
          workdir,
          policy: { defaultImage: IMAGE },
          provision: false,
        });
        await s.exec(['true']);
      }),
    );
    podman(['rm', '-f', '-t', '0', containerName(id)]);
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
  report('start → first exec', axoStart, rawStart, '`podman run -d` + `podman exec true`', '≤ 1.15×');

  // 2. exec round trip of `true`
  const sandbox = await SessionSandbox.start({
    sessionId: nextId(),
    owner,
    workdir,
    policy: { defaultImage: IMAGE },
    provision: false,
  });
  const axoExec: number[] = [];
  const rawExec: number[] = [];
  for (let i = 0; i < reps * 7; i++) {
    axoExec.push(await time(() => sandbox.exec(['true'])));
    rawExec.push(await time(() => podman(['exec', sandbox.container, 'true'])));
  }
  report('exec round trip (`true`)', axoExec, rawExec, '`podman exec true`', '≤ 1.10×');
  await sandbox.stop();

  // 3. stop: axo (--init, short grace) vs the reference (no --init, `podman rm -f`)
  const axoStop: number[] = [];
  const refStop: number[] = [];
  for (let i = 0; i < Math.min(reps, 3); i++) {
    const s = await SessionSandbox.start({
      sessionId: nextId(),
      owner,
      workdir,
      policy: { defaultImage: IMAGE },
      provision: false,
    });
    axoStop.push(await time(() => s.stop()));
    const refName = `axo-bench-ref-${process.pid}-${i}`;
    podman(['run', '-d', '--name', refName, '--label', `io.axo.owner=${owner}`, IMAGE, 'sleep', 'infinity']);
    refStop.push(await time(() => podman(['rm', '-f', refName])));
  }
  report('stop', axoStop, refStop, 'reference `podman rm -f` without --init', '< 1 s');
} finally {
  execFileSync('sh', [
    '-c',
    `podman ps -aq --filter label=io.axo.owner=${owner} | xargs -r podman rm -f -t 0 >/dev/null`,
  ]);
  rmSync(workdir, { recursive: true, force: true });
}

const version = execFileSync('podman', ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' }).trim();
process.stdout.write(
  `\npodman ${version}, ${reps} reps (exec: ${reps * 7}), interleaved; min / median / max\n\n` +
    '| scenario | axo | baseline | ratio (median) | target |\n| --- | --- | --- | --- | --- |\n' +
    `${rows.join('\n')}\n`,
);
