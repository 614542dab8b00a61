// What a devcontainer.json asks beyond an image: lifecycle commands at their moments, a
// workspace folder, a user — and a replacement that fails without losing track.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { AxoError, SessionSandbox, type StartOptions } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('lifecycle');
let n = 0;
const start = (workdir: string, extra: Partial<StartOptions> = {}) =>
  SessionSandbox.start({
    sessionId: `${owner}-${++n}`,
    owner,
    workdir,
    policy: { defaultImage: TEST_IMAGE, allowPostCreate: true },
    provision: false,
    ...extra,
  });

describe.skipIf(!gate.ok)('lifecycle, workspace folder and replacement (real podman)', () => {
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it('runs every stage in order, in every form; postAttach again on reattach', async () => {
    using dir = tempDir();
    const lifecycle = {
      onCreate: ['echo onCreate >> order'],
      updateContent: [{ argv: ['sh', '-c', 'echo "updateContent $0" >> order', 'argv-form'] }],
      postCreate: [
        { name: 'a', command: 'echo postCreate-a >> order.a' },
        { name: 'b', command: 'echo postCreate-b >> order.b' },
      ],
      postStart: ['echo postStart >> order'],
      postAttach: ['echo postAttach >> order'],
    };
    const sandbox = await start(dir.path, { lifecycle });
    expect(readFileSync(join(dir.path, 'order'), 'utf8')).toBe(
      'onCreate\nupdateContent argv-form\npostStart\npostAttach\n',
    );
    expect(readFileSync(join(dir.path, 'order.a'), 'utf8')).toBe('postCreate-a\n');
    expect(sandbox.report?.lifecycle.map((l) => [l.stage, l.status])).toEqual([
      ['onCreate', 'ok'],
      ['updateContent', 'ok'],
      ['postCreate', 'ok'],
      ['postCreate', 'ok'],
      ['postStart', 'ok'],
      ['postAttach', 'ok'],
    ]);
    const again = await SessionSandbox.start({
      sessionId: sandbox.sessionId,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE, allowPostCreate: true },
      provision: false,
      lifecycle,
      reattach: true,
    });
    expect(again.report?.reattached).toBe(true);
    expect(again.report?.lifecycle.map((l) => l.stage)).toEqual(['postAttach']);
    expect(readFileSync(join(dir.path, 'order'), 'utf8').endsWith('postAttach\npostAttach\n')).toBe(true);
    await again.stop();
  });

  it('stops at the first failing command, and runs none without the policy', async () => {
    using dir = tempDir();
    const lifecycle = { onCreate: ['exit 3'], postCreate: ['touch should-not-exist'] };
    const failing = await start(dir.path, { lifecycle });
    expect(failing.report?.lifecycle.map((l) => [l.stage, l.status, l.exitCode])).toEqual([
      ['onCreate', 'failed', 3],
      ['postCreate', 'not-run', null],
    ]);
    expect(failing.report?.warnings.join('\n')).toMatch(/onCreate command failed \(exit 3\): exit 3/);
    await failing.stop();
    const refused = await start(dir.path, {
      lifecycle: { onCreate: ['touch nope'] },
      policy: { defaultImage: TEST_IMAGE },
    });
    expect(refused.report?.lifecycle).toEqual([
      { stage: 'onCreate', command: 'touch nope', status: 'skipped', exitCode: null },
    ]);
    expect(refused.report?.warnings.join('\n')).toMatch(/skipped 1 lifecycle command/);
    expect(() => readFileSync(join(dir.path, 'nope'))).toThrow();
    await refused.stop();
  });

  it('mounts the workdir at the workspace folder too and runs commands there', async () => {
    using dir = tempDir();
    const sandbox = await start(dir.path, { workspaceFolder: '/workspaces/app' });
    expect(sandbox.cwd).toBe('/workspaces/app');
    expect((await sandbox.exec(['sh', '-c', 'pwd; echo hi > from-ws'])).stdout).toBe('/workspaces/app\n');
    expect(readFileSync(join(dir.path, 'from-ws'), 'utf8')).toBe('hi\n');
    const other = await SessionSandbox.attach({ sessionId: sandbox.sessionId, owner });
    expect(other.cwd).toBe('/workspaces/app');
    expect((await other.exec(['pwd'])).stdout).toBe('/workspaces/app\n');
    await sandbox.stop();
  });

  it('checks the image before touching a running session; a failed replacement says the old one is gone', async () => {
    using dir = tempDir();
    const running = await start(dir.path);
    const base = { sessionId: running.sessionId, owner, workdir: dir.path, provision: false as const };
    // A missing image fails before anything running is touched.
    const missing = await SessionSandbox.start({
      ...base,
      image: 'localhost/axo-nope:1',
      policy: { defaultImage: TEST_IMAGE, allowUntrustedImage: true },
    }).catch((e: unknown) => e);
    expect(AxoError.isInstance(missing) && missing.code).toBe('START_FAILED');
    expect(podman(['inspect', running.container, '--format', '{{.State.Running}}']).trim()).toBe('true');
    expect((await running.exec(['echo', 'still'])).stdout).toBe('still\n');
    // A port held on the host fails the new container after the old one was removed.
    const held = await import('node:net').then(
      ({ createServer }) =>
        new Promise<import('node:net').Server>((resolve) => {
          const server = createServer().listen(39_411, '127.0.0.1', () => resolve(server));
        }),
    );
    try {
      const failed = await SessionSandbox.start({
        ...base,
        ports: [39_411],
        publishHost: '0.0.0.0',
        policy: { defaultImage: TEST_IMAGE, strict: true },
      }).catch((e: unknown) => e);
      expect(AxoError.isInstance(failed)).toBe(true);
      expect(String(failed)).toMatch(
        /port 39411 is not published.*earlier container of session .* was removed to replace it/,
      );
    } finally {
      held.close();
    }
  });
});

describe.skipIf(!gate.ok)('building the repository’s image (real podman)', () => {
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    const ours = podman([
      'images',
      '--format',
      '{{.Repository}}',
      '--filter',
      `reference=localhost/axo-build-${owner}*`,
    ])
      .split('\n')
      .filter(Boolean);
    if (ours.length > 0) podman(['rmi', '-f', ...ours]);
  });

  it('builds offline from a local base with the session’s confinement, and runs the session on it', async () => {
    using dir = tempDir();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(dir.path, '.devcontainer'));
    writeFileSync(
      join(dir.path, '.devcontainer', 'Dockerfile'),
      `FROM ${TEST_IMAGE}\nARG GREETING\nRUN echo "$GREETING" > /built && grep CapEff /proc/self/status > /build-caps && ls /sys/class/net > /build-net\n`,
    );
    const sandbox = await start(dir.path, {
      build: {
        dockerfile: join(dir.path, '.devcontainer', 'Dockerfile'),
        context: dir.path,
        args: { GREETING: 'hello from the build' },
      },
      policy: { defaultImage: TEST_IMAGE, allowBuild: true, network: 'none' },
    });
    const build = sandbox.report?.build;
    expect(build?.image).toMatch(/^localhost\/axo-build-/);
    expect(sandbox.report?.image.used).toBe(build?.image);
    expect(build?.notApplied.join('\n')).toMatch(/pids 512/);
    const r = await sandbox.exec(['cat', '/built', '/build-caps', '/build-net']);
    // Only a loopback in the build: its network was `none` (a bridge would add an interface).
    expect(r.stdout).toBe('hello from the build\nCapEff:\t00000000000000fb\nlo\n');
    await sandbox.stop();
  });

  it('without allowBuild, runs the default image and says why, loudly', async () => {
    using dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir.path, 'Dockerfile'), `FROM ${TEST_IMAGE}\n`);
    const request = { dockerfile: join(dir.path, 'Dockerfile'), context: dir.path };
    const sandbox = await start(dir.path, { build: request, policy: { defaultImage: TEST_IMAGE } });
    expect(sandbox.report?.image.used).toBe(TEST_IMAGE);
    expect(sandbox.report?.warnings[0]).toMatch(/asks to build its image .*builds are not allowed/);
    await sandbox.stop();
    const strict = await start(dir.path, { build: request, policy: { defaultImage: TEST_IMAGE, strict: true } }).catch(
      (e: unknown) => e,
    );
    expect(String(strict)).toMatch(/strict: the repository asks to build its image/);
  });

  it('refuses a build that reads outside the repository', async () => {
    using dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir.path, 'Dockerfile'), `FROM ${TEST_IMAGE}\nCOPY . /stolen\n`);
    const error = await start(dir.path, {
      build: { dockerfile: join(dir.path, 'Dockerfile'), context: '/etc' },
      policy: { defaultImage: TEST_IMAGE, allowBuild: true },
    }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('INVALID_INPUT');
    expect(String(error)).toMatch(/context \/etc resolves outside the session's workdir/);
  });
});
