// Pausing freezes a session: state survives, no CPU is used, any call resumes it, and time
// spent paused does not count toward a command's timeout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxoError, pauseSupport, SessionSandbox } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('pause');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU time (ns) the session's cgroup has used, read on the host. */
function cpuNs(container: string): number {
  const pid = podman(['inspect', '--format', '{{.State.Pid}}', container]).trim();
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /:cpuacct|^0::/.test(l) && l.split(':')[1]?.includes('cpuacct'));
  const path = line?.split(':')[2] ?? '';
  return Number(readFileSync(join('/sys/fs/cgroup/cpuacct', path, 'cpuacct.usage'), 'utf8'));
}

describe.skipIf(!gate.ok || !pauseSupport().supported)('pause and resume (real podman)', () => {
  const dir = tempDir();
  let sandbox: SessionSandbox;
  beforeAll(async () => {
    sandbox = await SessionSandbox.start({
      sessionId: `${owner}-s`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
  });
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    dir[Symbol.dispose]();
  });
  const count = () => Number(readFileSync(join(dir.path, 'count'), 'utf8'));

  it('keeps a process’s memory across a pause, and a paused session uses no CPU', async () => {
    // A counter held only in the shell's memory, written out as it goes; plus a busy loop.
    await sandbox.spawnBackground('i=0; while :; do i=$((i+1)); echo $i > count; sleep 0.05; done');
    await sandbox.spawnBackground('while :; do :; done');
    await sleep(500);
    await sandbox.pause();
    expect(sandbox.paused).toBe(true);
    expect(podman(['inspect', '--format', '{{.State.Status}}', sandbox.container]).trim()).toBe('paused');
    const frozenAt = count();
    const cpuBefore = cpuNs(sandbox.container);
    await sleep(1000);
    expect(count()).toBe(frozenAt);
    // A busy loop would have used ~1e9 ns in that second; frozen, nothing (allow scheduler noise).
    expect(cpuNs(sandbox.container) - cpuBefore).toBeLessThan(20_000_000);
    const pausedMs = await sandbox.resume();
    expect(pausedMs).toBeGreaterThanOrEqual(1000);
    await sleep(400);
    // The same process went on counting from where it was, not from scratch.
    expect(count()).toBeGreaterThan(frozenAt);
    expect(count()).toBeLessThan(frozenAt + 40);
  });

  it('resumes on any call: an exec on a paused session just works', async () => {
    await sandbox.pause();
    const r = await sandbox.exec(['echo', 'awake']);
    expect(r.stdout).toBe('awake\n');
    expect(sandbox.paused).toBe(false);
    expect(podman(['inspect', '--format', '{{.State.Status}}', sandbox.container]).trim()).toBe('running');
  });

  it('does not count time spent paused toward a command’s timeout', async () => {
    const run = sandbox.exec(['sleep', '1'], { timeoutMs: 1500 });
    await sleep(300);
    await sandbox.pause();
    await sleep(2500);
    await sandbox.resume();
    const r = await run;
    expect(r).toMatchObject({ exitCode: 0, timedOut: false });
  });

  it('a second process sees the pause without asking podman, and resumes it on use', async () => {
    await sandbox.pause();
    const other = await SessionSandbox.attach({ sessionId: sandbox.sessionId, owner });
    expect(other.paused).toBe(true);
    expect((await other.exec(['echo', 'from-another'])).stdout).toBe('from-another\n');
    expect(sandbox.paused).toBe(false);
  });

  it('removes a paused session fast', async () => {
    using other = tempDir();
    const s = await SessionSandbox.start({
      sessionId: `${owner}-rm`,
      owner,
      workdir: other.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    await s.pause();
    const t = performance.now();
    await s.stop();
    expect(performance.now() - t).toBeLessThan(1500);
  });
});

describe.skipIf(!gate.ok || pauseSupport().supported)('pause where this host cannot (rootless on cgroup v1)', () => {
  it('fails with a clear error naming the reason, and nothing else breaks', async () => {
    using dir = tempDir();
    const s = await SessionSandbox.start({
      sessionId: `${owner}-rl`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    const error = await s.pause().catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('UNSUPPORTED');
    expect(String(error)).toMatch(/rootless podman on a cgroup v1 host has no freezer/);
    expect((await s.exec(['echo', 'fine'])).stdout).toBe('fine\n');
    await s.stop();
  });
});
