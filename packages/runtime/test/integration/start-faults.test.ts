import { createServer, type Server } from 'node:net';
import { LABELS } from '@axo/podman-args';
import {
  containersByLabel,
  podman,
  podmanGate,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { AxoError, type SandboxLogger, SessionSandbox, type StartOptions } from '../../src/index';
import { createFakePodman } from '../../src/testing/index';

const gate = podmanGate();
const owner = uniqueOwner('faults');
const CGROUP_ERROR =
  'Error: runc: runc create failed: unable to start container process: error during container init: ' +
  'error setting cgroup config for procHooks process: open /sys/fs/cgroup/pids.max: permission denied: OCI permission denied\n';

function listen(host: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (typeof address === 'object' && address) resolve({ server, port: address.port });
    });
  });
}

function recordingLogger(): SandboxLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, warn: (message) => void warnings.push(message) };
}

let n = 0;
const start = (workdir: string, extra: Partial<StartOptions> = {}) =>
  SessionSandbox.start({
    sessionId: `${owner}-${++n}`,
    owner,
    workdir,
    policy: { defaultImage: TEST_IMAGE },
    provision: false,
    ...extra,
  });
const ours = () => containersByLabel(`${LABELS.owner}=${owner}`);

describe.skipIf(!gate.ok)('start under faults', () => {
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it('drops only the host port that is really taken, and reports it', async () => {
    using dir = tempDir();
    const held = await listen('127.0.0.1');
    const free = await listen('127.0.0.1');
    const freePort = free.port;
    await new Promise((r) => free.server.close(r));
    try {
      const logger = recordingLogger();
      const sandbox = await start(dir.path, { ports: [held.port, freePort], logger });
      expect(sandbox.report?.ports.published).toEqual([{ hostIp: '127.0.0.1', port: freePort }]);
      expect(sandbox.report?.ports.dropped).toEqual([{ port: held.port, reason: 'host port already in use' }]);
      expect(logger.warnings.join('\n')).toContain(`host port ${held.port} is already in use`);
      expect(podman(['port', sandbox.container]).trim()).toBe(`${freePort}/tcp -> 127.0.0.1:${freePort}`);
      await sandbox.stop();
    } finally {
      held.server.close();
    }
  });

  it('retries without limits after a cgroup error and reports why', async () => {
    using dir = tempDir();
    using fake = createFakePodman({
      rules: [
        {
          command: 'run',
          argsInclude: ['--pids-limit'],
          times: 1,
          passthroughFirst: true,
          stderr: CGROUP_ERROR,
          exitCode: 126,
        },
      ],
    });
    const sandbox = await start(dir.path, { podman: { binary: fake.binary } });
    expect(sandbox.report?.limits).toMatchObject({
      applied: false,
      droppedReason: expect.stringContaining('pids.max'),
    });
    expect(sandbox.report?.warnings.join()).toMatch(/cannot apply container resource limits/);
    const runs = fake.calls().filter((c) => c[0] === 'run');
    expect(runs).toHaveLength(2);
    expect(runs[1]).not.toContain('--memory');
    // The failed first attempt's container (created before the error) was removed.
    expect(fake.calls().some((c) => c[0] === 'rm')).toBe(true);
    expect((await sandbox.exec(['true'])).exitCode).toBe(0);
    expect(ours()).toEqual([sandbox.container]);
    await sandbox.stop();
  });

  it('fails with LIMITS_UNAVAILABLE when limits are required, leaving nothing behind', async () => {
    using dir = tempDir();
    using fake = createFakePodman({
      rules: [{ command: 'run', passthroughFirst: true, stderr: CGROUP_ERROR, exitCode: 126 }],
    });
    const error = await start(dir.path, {
      podman: { binary: fake.binary },
      policy: { defaultImage: TEST_IMAGE, requireResourceLimits: true },
    }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('LIMITS_UNAVAILABLE');
    expect((error as AxoError).hint).toMatch(/requireResourceLimits/);
    expect((error as { stderr?: string }).stderr).toBe(CGROUP_ERROR);
    expect(ours()).toEqual([]);
  });

  it('drops every port when a conflict cannot be traced to one', async () => {
    using dir = tempDir();
    using fake = createFakePodman({
      rules: [{ command: 'run', times: 1, stderr: 'Error: proxy already running\n', exitCode: 126 }],
    });
    const sandbox = await start(dir.path, { ports: [39_411, 39_412], podman: { binary: fake.binary } });
    expect(sandbox.report?.ports.published).toEqual([]);
    expect(sandbox.report?.ports.dropped.map((d) => d.port)).toEqual([39_411, 39_412]);
    expect(sandbox.report?.warnings.join()).toMatch(/no ports are published/);
    await sandbox.stop();
  });

  it('times out a hanging podman with a clear error and cleans up', async () => {
    using dir = tempDir();
    using fake = createFakePodman({ rules: [{ command: 'run', hang: true }] });
    const started = Date.now();
    const error = await start(dir.path, { podman: { binary: fake.binary }, startTimeoutMs: 1500 }).catch(
      (e: unknown) => e,
    );
    expect(AxoError.isInstance(error) && error.code).toBe('TIMEOUT');
    expect(String(error)).toMatch(/did not start .* within 1500 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(ours()).toEqual([]);
  });

  it('removes the container when podman crashes after creating it', async () => {
    using dir = tempDir();
    using fake = createFakePodman({
      rules: [{ command: 'run', passthroughFirst: true, stderr: 'Error: unexpected EOF\n', exitCode: 125 }],
    });
    const error = await start(dir.path, { podman: { binary: fake.binary } }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('START_FAILED');
    expect(String(error)).toMatch(/unexpected EOF/);
    expect(ours()).toEqual([]);
  });

  it('says how to install podman when it is missing', async () => {
    using dir = tempDir();
    const error = await start(dir.path, { podman: { binary: '/nonexistent/podman' } }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('PODMAN_MISSING');
    expect((error as AxoError).hint).toMatch(/apt-get install podman/);
  });

  it('explains an image that cannot be had', async () => {
    using dir = tempDir();
    const error = await start(dir.path, {
      image: 'localhost/axo-does-not-exist:1',
      policy: { defaultImage: TEST_IMAGE, allowUntrustedImage: true },
    }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('START_FAILED');
    expect((error as AxoError).hint).toMatch(/local image/);
    expect(ours()).toEqual([]);
  });
});
