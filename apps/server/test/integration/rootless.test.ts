// What only a rootless run can show: run by scripts/test-rootless.sh as an unprivileged
// user with rootless podman (CI does), skipped with a reason as root.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { SessionSandbox } from '@axo/runtime';
import { podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';

const gate = podmanGate();
const rootless = process.getuid?.() !== 0;
const cgroupV1 = spawnSync('test', ['-e', '/sys/fs/cgroup/cgroup.controllers']).status !== 0;
const owner = uniqueOwner('rootless');
const SERVER = join(import.meta.dirname, '..', '..', 'dist', 'main.js');
const AXO = join(import.meta.dirname, '..', '..', '..', 'cli', 'dist', 'axo.js');

describe.skipIf(!gate.ok || !rootless)('rootless podman, as an unprivileged user', () => {
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it.skipIf(!cgroupV1)('on cgroup v1, starts uncapped and says so, with nproc as the fork-bomb brake', async () => {
    using dir = tempDir();
    const sandbox = await SessionSandbox.start({
      sessionId: `${owner}-caps`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    const r = sandbox.report;
    expect(r?.limits.applied).toBe(false);
    expect(r?.limits.droppedReason).toMatch(/memory 2g \(in force: none\)/);
    expect(r?.limits.droppedReason).toMatch(/ignored on cgroups V1 rootless systems/);
    expect(r?.inForce.limits).toMatchObject({ memoryBytes: null, pids: null, nproc: 512 });
    expect(r?.warnings.join('\n')).toMatch(/resource limits are not in force/);
    expect(r?.capabilities.effective).toEqual([
      'CHOWN',
      'DAC_OVERRIDE',
      'FOWNER',
      'FSETID',
      'KILL',
      'SETGID',
      'SETUID',
    ]);
    expect(r?.agent.status).toBe('running');
    expect((await sandbox.exec(['id', '-u'])).stdout).toBe('0\n');
    await sandbox.stop();
  });

  it.skipIf(!cgroupV1)('with limits required, fails with the explanation and leaves nothing behind', async () => {
    using dir = tempDir();
    const error = await SessionSandbox.start({
      sessionId: `${owner}-req`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE, requireResourceLimits: true },
      provision: false,
    }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('LIMITS_UNAVAILABLE');
    expect(String(error)).toMatch(/required but not in force/);
    const left = spawnSync('podman', ['ps', '-aq', '--filter', `label=${LABELS.session}=${owner}-req`], {
      encoding: 'utf8',
    });
    expect(left.stdout.trim()).toBe('');
  });

  it('the CLI runs up, exec and down as this user', () => {
    using dir = tempDir();
    using home = tempDir('axo-rl-home-');
    const env = { ...process.env, AXO_CONFIG: join(home.path, 'c.json'), AXO_IMAGE: TEST_IMAGE, AXO_OWNER: owner };
    const run = (args: string[]) => spawnSync(process.execPath, [AXO, ...args], { env, encoding: 'utf8' });
    const up = run(['up', dir.path, '--id', `${owner}-cli`, '--no-provision', '--allow-untrusted-image']);
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/agent +running/);
    expect(run(['exec', `${owner}-cli`, '--', 'sh', '-c', 'echo rootless; exit 3'])).toMatchObject({
      status: 3,
      stdout: 'rootless\n',
    });
    expect(run(['down', `${owner}-cli`]).status).toBe(0);
  });

  it('axo-server runs as this user: create, exec, delete over HTTP', async () => {
    using base = tempDir();
    const root = join(base.path, 'root');
    mkdirSync(join(root, 'w'), { recursive: true });
    const port = String(39_600 + (process.pid % 300));
    const token = 'rootless-test-token-0123456789abcdef';
    const proc: ChildProcess = spawn(process.execPath, [SERVER], {
      env: {
        ...process.env,
        AXO_SERVER_PORT: port,
        AXO_SERVER_ROOTS: root,
        AXO_SERVER_STATE_DIR: join(base.path, 'state'),
        AXO_SERVER_INSTANCE_ID: owner,
        AXO_TOKEN: token,
        AXO_SERVER_DEFAULT_IMAGE: TEST_IMAGE,
        AXO_SERVER_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (c) => {
      stderr += c;
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      for (
        let i = 0;
        i < 100 &&
        !(await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        ));
        i++
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const created = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ workdir: join(root, 'w') }),
      });
      expect(created.status, `${await created.clone().text()} ${stderr}`).toBe(201);
      const session = (await created.json()) as { id: string; report: { agent: { status: string } } };
      expect(session.report.agent.status).toBe('running');
      const exec = await fetch(`${url}/v1/sessions/${session.id}/exec`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ command: 'id -u; echo ok' }),
      });
      expect(await exec.json()).toMatchObject({ stdout: '0\nok\n', exitCode: 0 });
      expect((await fetch(`${url}/v1/sessions/${session.id}`, { method: 'DELETE', headers })).status).toBe(204);
    } finally {
      proc.kill('SIGTERM');
    }
  });
});
