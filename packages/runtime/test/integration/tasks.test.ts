import { LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxoError, SessionSandbox } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('tasks');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The same task behaviour through the agent (tasks live in it) and through podman exec.
describe.skipIf(!gate.ok).each([
  ['agent', true],
  ['podman exec', false],
] as const)('background tasks via %s (real podman)', (_via, agent) => {
  const dir = tempDir();
  let sandbox: SessionSandbox;
  beforeAll(async () => {
    sandbox = await SessionSandbox.start({
      sessionId: `${owner}-${agent ? 'a' : 'p'}`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
      agent,
    });
    expect(sandbox.agent.status).toBe(agent ? 'running' : 'unavailable');
  });
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    dir[Symbol.dispose]();
  });
  const count = (pattern: string) =>
    podman(['exec', sandbox.container, 'sh', '-c', `ps -o args | grep -c "${pattern}" || true`]).trim();

  it('gives 100 tasks spawned at once 100 distinct ids', async () => {
    const ids = await Promise.all(Array.from({ length: 100 }, () => sandbox.spawnBackground('true')));
    expect(new Set(ids).size).toBe(100);
    await Promise.all(ids.map((id) => sandbox.waitTask(id)));
    const infos = await Promise.all(ids.map((id) => sandbox.getTask(id)));
    expect(infos.every((t) => t?.status === 'exited')).toBe(true);
  });

  it('reports running, then exited with a numeric code and timestamps, and keeps combined output', async () => {
    const id = await sandbox.spawnBackground('echo to-stdout; echo to-stderr >&2; sleep 0.5; exit 3');
    const running = await sandbox.getTask(id);
    expect(running).toMatchObject({ id, status: 'running', exitCode: null, endedAt: undefined });
    expect(running?.startedAt).toBeInstanceOf(Date);
    const done = await sandbox.waitTask(id);
    expect(done).toMatchObject({ status: 'exited', exitCode: 3, killed: false });
    expect(done.endedAt?.getTime()).toBeGreaterThanOrEqual(done.startedAt.getTime() + 400);
    expect((await sandbox.taskLog(id)).text).toBe('to-stdout\nto-stderr\n');
    expect((await sandbox.listTasks()).map((t) => t.id)).toContain(id);
  });

  it('killTask ends the task and its children inside the container', async () => {
    const id = await sandbox.spawnBackground('sleep 201 & sleep 202 & wait');
    await sleep(300);
    expect(count('^sleep 20[12]')).toBe('2');
    const killed = await sandbox.killTask(id);
    expect(killed).toMatchObject({ status: 'exited', killed: true });
    expect(killed.exitCode).toBe(137);
    expect(count('^sleep 20[12]')).toBe('0');
  });

  it('killTask right after spawning still kills the process that starts late', async () => {
    for (let i = 0; i < 3; i++) {
      const id = await sandbox.spawnBackground('sleep 203');
      await sandbox.killTask(id);
      await sleep(500);
      expect(count('^sleep 203'), `round ${i}`).toBe('0');
    }
  });

  it('keeps output in a 64 KiB ring that counts what it dropped and never splits a character', async () => {
    // 100 000 three-byte characters: 300 000 bytes.
    const id = await sandbox.spawnBackground(
      'i=0; while [ $i -lt 1000 ]; do printf "€%.0s" $(seq 100); i=$((i+1)); done',
    );
    const done = await sandbox.waitTask(id);
    expect(done.outputBytes).toBe(300_000);
    const log = await sandbox.taskLog(id);
    expect(log.text).toMatch(/^€+$/);
    expect(log.data.length).toBeLessThanOrEqual(64 * 1024);
    expect(log.data.length).toBeGreaterThan(64 * 1024 - 3);
    expect(done.droppedBytes).toBe(300_000 - 64 * 1024);
  });

  it('reads the log incrementally by offset', async () => {
    const id = await sandbox.spawnBackground('echo one; sleep 0.6; echo two');
    await sleep(300);
    const first = await sandbox.taskLog(id);
    expect(first.text).toBe('one\n');
    await sandbox.waitTask(id);
    expect((await sandbox.taskLog(id, first.to)).text).toBe('two\n');
  });

  it('honours a configured ring size', async () => {
    const id = await sandbox.spawnBackground('seq 1 10000', { logBytes: 1024 });
    await sandbox.waitTask(id);
    const log = await sandbox.taskLog(id);
    expect(log.data.length).toBe(1024);
    expect(log.text.endsWith('9999\n10000\n')).toBe(true);
  });

  it('throws NOT_FOUND for unknown task ids', async () => {
    const error = await sandbox.taskLog('task-nope').catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('NOT_FOUND');
    expect(await sandbox.getTask('task-nope')).toBeUndefined();
  });

  it('says the session ended when its container is gone', async () => {
    using other = tempDir();
    const doomed = await SessionSandbox.start({
      sessionId: `${owner}-doomed-${agent ? 'a' : 'p'}`,
      owner,
      workdir: other.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
      agent,
    });
    await doomed.stop();
    if (agent) {
      const error = await doomed.spawnBackground('echo hi').catch((e: unknown) => e);
      expect(AxoError.isInstance(error) && error.code).toBe('SESSION_ENDED');
      return;
    }
    // Without an agent the task is a podman client of this process: podman's own words.
    const id = await doomed.spawnBackground('echo hi');
    const done = await doomed.waitTask(id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/not running/);
    expect((await doomed.taskLog(id)).text).toMatch(/no such container|no container with name/i);
  });
});
