import { LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxoError, SessionSandbox } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('tasks');

describe.skipIf(!gate.ok)('background tasks (real podman)', () => {
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

  it('gives 100 tasks spawned at once 100 distinct ids', async () => {
    const ids = Array.from({ length: 100 }, () => sandbox.spawnBackground('true'));
    expect(new Set(ids).size).toBe(100);
    await Promise.all(ids.map((id) => sandbox.waitTask(id)));
    expect(ids.every((id) => sandbox.getTask(id)?.status === 'exited')).toBe(true);
  });

  it('reports running, then exited with a numeric code and timestamps, and keeps combined output', async () => {
    const id = sandbox.spawnBackground('echo to-stdout; echo to-stderr >&2; sleep 0.5; exit 3');
    const running = sandbox.getTask(id);
    expect(running).toMatchObject({ id, status: 'running', exitCode: null, endedAt: undefined });
    expect(running?.startedAt).toBeInstanceOf(Date);
    const done = await sandbox.waitTask(id);
    expect(done).toMatchObject({ status: 'exited', exitCode: 3, killed: false });
    expect(done.endedAt?.getTime()).toBeGreaterThanOrEqual(done.startedAt.getTime() + 400);
    expect(sandbox.taskLog(id).text).toBe('to-stdout\nto-stderr\n');
    expect(sandbox.listTasks().map((t) => t.id)).toContain(id);
  });

  it('killTask ends the task and its children inside the container', async () => {
    const id = sandbox.spawnBackground('sleep 201 & sleep 202 & wait');
    await new Promise((r) => setTimeout(r, 300));
    const count = () =>
      podman(['exec', sandbox.container, 'sh', '-c', 'ps -o args | grep -c "^sleep 20[12]" || true']).trim();
    expect(count()).toBe('2');
    const killed = await sandbox.killTask(id);
    expect(killed).toMatchObject({ status: 'exited', killed: true });
    expect(killed.exitCode).toBe(137);
    expect(count()).toBe('0');
  });

  it('killTask right after spawning still kills the process that starts late', async () => {
    const count = () =>
      podman(['exec', sandbox.container, 'sh', '-c', 'ps -o args | grep -c "^sleep 203" || true']).trim();
    for (let i = 0; i < 3; i++) {
      const id = sandbox.spawnBackground('sleep 203');
      await sandbox.killTask(id);
      await new Promise((r) => setTimeout(r, 500));
      expect(count(), `round ${i}`).toBe('0');
    }
  });

  it('keeps output in a 64 KiB ring that counts what it dropped and never splits a character', async () => {
    // 100 000 three-byte characters: 300 000 bytes.
    const id = sandbox.spawnBackground('i=0; while [ $i -lt 1000 ]; do printf "€%.0s" $(seq 100); i=$((i+1)); done');
    const done = await sandbox.waitTask(id);
    expect(done.outputBytes).toBe(300_000);
    const log = sandbox.taskLog(id);
    expect(log.text).toMatch(/^€+$/);
    expect(log.data.length).toBeLessThanOrEqual(64 * 1024);
    expect(log.data.length).toBeGreaterThan(64 * 1024 - 3);
    expect(done.droppedBytes).toBe(300_000 - 64 * 1024);
  });

  it('reads the log incrementally by offset', async () => {
    const id = sandbox.spawnBackground('echo one; sleep 0.6; echo two');
    await new Promise((r) => setTimeout(r, 300));
    const first = sandbox.taskLog(id);
    expect(first.text).toBe('one\n');
    await sandbox.waitTask(id);
    expect(sandbox.taskLog(id, first.to).text).toBe('two\n');
  });

  it('honours a configured ring size', async () => {
    const id = sandbox.spawnBackground('seq 1 10000', { logBytes: 1024 });
    await sandbox.waitTask(id);
    const log = sandbox.taskLog(id);
    expect(log.data.length).toBe(1024);
    expect(log.text.endsWith('9999\n10000\n')).toBe(true);
  });

  it('throws NOT_FOUND for unknown task ids', () => {
    expect(() => sandbox.taskLog('task-nope')).toThrow(AxoError);
    expect(sandbox.getTask('task-nope')).toBeUndefined();
  });

  it("shows podman's own error in a task whose container is gone", async () => {
    using other = tempDir();
    const doomed = await SessionSandbox.start({
      sessionId: `${owner}-doomed`,
      owner,
      workdir: other.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    await doomed.stop();
    const id = doomed.spawnBackground('echo hi');
    const done = await doomed.waitTask(id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/not running/);
    expect(doomed.taskLog(id).text).toMatch(/no such container|no container with name/i);
  });
});
