// The main job, end to end: a hardened session container over a temporary working
// directory, a command run inside it, the file it wrote read back on the host, and the
// container removed. Uses the built @axo/podman-args and the local test image.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExecArgs, buildRmArgs, buildRunArgs, containerName } from '@axo/podman-args';

const image = process.env.AXO_TEST_IMAGE ?? 'localhost/axo-test:busybox';
const workdir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-demo-')));
const sessionId = `demo-${process.pid}`;
const podman = (args: string[]) => execFileSync('podman', args, { encoding: 'utf8' });
const step = (text: string) => process.stdout.write(`\n» ${text}\n`);

try {
  step(`starting session ${sessionId} over ${workdir} (image ${image})`);
  const run = buildRunArgs({ sessionId, owner: 'demo', workdir, image, ports: [38080] });
  console.log(`podman ${run.join(' ')}`);
  podman(run);

  step('running a command inside it');
  const script =
    'echo "hello from $(hostname) as $(id -un), in $(pwd)" | tee hello.txt; grep -E "NoNewPrivs|CapEff" /proc/self/status';
  process.stdout.write(podman(buildExecArgs(containerName(sessionId), ['sh', '-c', script])));

  step(`the file it wrote, read on the host: ${join(workdir, 'hello.txt')}`);
  process.stdout.write(readFileSync(join(workdir, 'hello.txt'), 'utf8'));

  step('published ports (loopback only)');
  process.stdout.write(podman(['port', containerName(sessionId)]));
} finally {
  const started = performance.now();
  podman(buildRmArgs([containerName(sessionId)]));
  step(`removed ${containerName(sessionId)} in ${Math.round(performance.now() - started)} ms`);
  rmSync(workdir, { recursive: true, force: true });
}
