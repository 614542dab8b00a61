// What a new user and real repositories found: `axo up` reuses a running session, never
// destroys it on a failed start, says every downgrade out loud, and applies what a
// devcontainer.json asks beyond an image.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';

const AXO = join(import.meta.dirname, '..', '..', 'dist', 'axo.js');
const gate = podmanGate();
const owner = uniqueOwner('newuser');
const home = tempDir('axo-newuser-home-');
const configFile = join(home.path, 'config.json');
writeFileSync(configFile, JSON.stringify({ defaultImage: TEST_IMAGE, owner }));
const env = { ...process.env, AXO_CONFIG: configFile, NO_COLOR: '1' };
afterAll(() => {
  removeContainersByLabel(`${LABELS.owner}=${owner}`);
  const built = podman(['images', '--format', '{{.Repository}}', '--filter', `reference=localhost/axo-build-${owner}*`])
    .split('\n')
    .filter(Boolean);
  if (built.length > 0) podman(['rmi', '-f', ...built]);
  home[Symbol.dispose]();
});

function axo(args: string[]) {
  const r = spawnSync(process.execPath, [AXO, ...args], { env, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const running = (id: string) =>
  podman(['ps', '-a', '--filter', `label=${LABELS.session}=${id}`, '--format', '{{.Status}}'])
    .trim()
    .split(' ')[0]
    ?.toLowerCase() ?? '';

describe.skipIf(!gate.ok)('axo up as a new user meets it (real podman)', () => {
  it('reuses a running session and says so; a failed --replace leaves it exactly as it was', () => {
    using dir = tempDir();
    const id = `${owner}-keep`;
    expect(axo(['up', dir.path, '--id', id, '--no-provision']).code).toBe(0);
    expect(axo(['exec', id, '--', 'sh', '-c', 'echo state > /tmp/state']).code).toBe(0);

    const again = axo(['up', dir.path, '--id', id, '--no-provision']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/reattached to session/);
    expect(axo(['exec', id, '--', 'cat', '/tmp/state']).stdout).toBe('state\n');

    // The image check comes before anything running is touched.
    const bad = axo([
      'up',
      dir.path,
      '--id',
      id,
      '--no-provision',
      '--replace',
      '--allow-untrusted-image',
      '--image',
      'localhost/nope:1',
    ]);
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/image localhost\/nope:1 is not available/);
    expect(running(id)).toBe('up');
    expect(axo(['exec', id, '--', 'cat', '/tmp/state']).stdout).toBe('state\n');

    // --replace with good inputs recreates it.
    const replaced = axo(['up', dir.path, '--id', id, '--no-provision', '--replace']);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stdout).toMatch(/started session/);
    expect(axo(['exec', id, '--', 'cat', '/tmp/state']).code).not.toBe(0);
    axo(['down', id]);
  });

  it('says every downgrade on stderr, and --strict refuses it with nothing left behind', () => {
    using dir = tempDir();
    mkdirSync(join(dir.path, '.devcontainer'));
    writeFileSync(join(dir.path, '.devcontainer', 'devcontainer.json'), '{ "image": "docker.io/library/untrusted:1" }');
    const id = `${owner}-loud`;
    const loud = axo(['up', dir.path, '--id', id, '--no-provision', '--json']);
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stderr).toMatch(/^warning: image "docker\.io\/library\/untrusted:1" was requested but the policy/m);
    axo(['down', id]);
    const strict = axo(['up', dir.path, '--id', `${id}-strict`, '--no-provision', '--strict']);
    expect(strict.code).toBe(5);
    expect(strict.stderr).toMatch(/strict: image/);
    expect(running(`${id}-strict`)).toBe('');
  });

  it('applies what devcontainer.json asks beyond an image, and never runs initializeCommand', () => {
    using dir = tempDir();
    // remoteUser is nobody: the workspace must be open to it, as a real checkout is.
    chmodSync(dir.path, 0o755);
    mkdirSync(join(dir.path, '.devcontainer'));
    writeFileSync(
      join(dir.path, '.devcontainer', 'devcontainer.json'),
      `{
        // the kinds of keys real repositories use
        "build": { "dockerfile": "Dockerfile", "args": { "FLAVOUR": "built" } },
        "remoteEnv": { "GREETING": "from remoteEnv" },
        "containerEnv": { "LEVEL": "container" },
        "remoteUser": "nobody",
        "workspaceFolder": "/workspaces/app",
        "onCreateCommand": "echo onCreate > /tmp/order",
        "postCreateCommand": ["sh", "-c", "echo postCreate >> /tmp/order"],
        "postAttachCommand": { "hello": "echo postAttach >> /tmp/order" },
        "initializeCommand": "touch ${dir.path}/initialize-ran",
        "features": { "ghcr.io/devcontainers/features/node:1": {} },
        "postCreateCommand_unused": 1,
      }`,
    );
    writeFileSync(
      join(dir.path, '.devcontainer', 'Dockerfile'),
      `FROM ${TEST_IMAGE}\nARG FLAVOUR\nRUN echo $FLAVOUR > /flavour\n`,
    );
    const id = `${owner}-devc`;
    const up = axo(['up', dir.path, '--id', id, '--no-provision', '--allow-build', '--allow-post-create', '--json']);
    expect(up.code, up.stderr).toBe(0);
    const { report, devcontainer } = JSON.parse(up.stdout);
    expect(report.build.image).toMatch(/^localhost\/axo-build-/);
    expect(report.lifecycle.map((l: { stage: string; status: string }) => `${l.stage}:${l.status}`)).toEqual([
      'onCreate:ok',
      'postCreate:ok',
      'postAttach:ok',
    ]);
    expect(devcontainer.notApplied).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'initializeCommand', reason: expect.stringMatching(/never run/), line: 11 }),
        expect.objectContaining({ key: 'features', line: 12 }),
      ]),
    );
    expect(() => readFileSync(join(dir.path, 'initialize-ran'))).toThrow();
    const inside = axo(['exec', id, '--', 'sh', '-c', 'cat /flavour /tmp/order; echo "$GREETING/$LEVEL"; id -un; pwd']);
    expect(inside.stdout).toBe(
      'built\nonCreate\npostCreate\npostAttach\nfrom remoteEnv/container\nnobody\n/workspaces/app\n',
    );
    axo(['down', id]);
  });
});

describe.skipIf(!gate.ok || (process.getuid?.() !== 0 && !existsSync('/sys/fs/cgroup/cgroup.controllers')))(
  'axo pause and resume (real podman)',
  () => {
    it('pauses; an exec straight to the agent resumes it; a paused session goes down fast', () => {
      using dir = tempDir();
      const id = `${owner}-pause`;
      expect(axo(['up', dir.path, '--id', id, '--no-provision']).code).toBe(0);
      expect(axo(['pause', id])).toMatchObject({ code: 0, stdout: `paused ${id}\n` });
      expect(podman(['inspect', '--format', '{{.State.Status}}', `axo-ses-${id}`]).trim()).toBe('paused');
      expect(axo(['ls'])).toMatchObject({ stdout: expect.stringMatching(new RegExp(`^${id}\\s+paused`, 'm')) });
      expect(axo(['exec', id, '--', 'echo', 'woke'])).toMatchObject({ code: 0, stdout: 'woke\n' });
      expect(podman(['inspect', '--format', '{{.State.Status}}', `axo-ses-${id}`]).trim()).toBe('running');
      expect(axo(['pause', id]).code).toBe(0);
      const t = performance.now();
      expect(axo(['down', id]).code).toBe(0);
      expect(performance.now() - t).toBeLessThan(2500);
    });
  },
);
