import { LABELS } from '@axo/podman-args';
import {
  DEBIAN_TEST_IMAGE,
  podmanGate,
  podmanResult,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionSandbox } from '../../src/index';

const owner = uniqueOwner('provision');

describe.skipIf(!podmanGate(DEBIAN_TEST_IMAGE).ok)('provisioning on Debian (real apt-get)', () => {
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it('installs a missing tool, and a second start finds it present and installs nothing', async () => {
    using dir = tempDir();
    const start = () =>
      SessionSandbox.start({
        sessionId: `${owner}-deb`,
        owner,
        workdir: dir.path,
        image: DEBIAN_TEST_IMAGE,
        policy: { defaultImage: DEBIAN_TEST_IMAGE },
        // git is in the image; less is not (minbase).
        provision: { tools: ['git', 'less'], timeoutMs: 240_000 },
        reattach: true,
      });
    const first = await start();
    expect(first.report?.provisioning).toMatchObject({
      status: 'installed',
      packageManager: 'apt-get',
      missing: ['less'],
      installed: ['less'],
    });
    expect((await first.exec(['less', '--version'])).exitCode).toBe(0);
    // The package lists and caches are gone: they would sit in the session's layer.
    expect(
      (await first.exec(['sh', '-c', 'ls /var/lib/apt/lists | grep -vc "^lock$\\|^partial$" || true'])).stdout.trim(),
    ).toBe('0');
    expect((await first.exec(['sh', '-c', 'ls /var/cache/apt/archives/*.deb 2>/dev/null | wc -l'])).stdout.trim()).toBe(
      '0',
    );

    // The second start reuses the provisioned container: the tool is found, nothing installed.
    const again = await start();
    expect(again.report?.reattached).toBe(true);
    expect(again.report?.provisioning).toMatchObject({ status: 'present', missing: [], installed: [] });
    expect(again.report?.provisioning.durationMs).toBeLessThan(first.report?.provisioning.durationMs ?? 0);
    await again.stop();
  });
});

describe.skipIf(!podmanGate(TEST_IMAGE).ok)('provisioning without a package manager', () => {
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it('reports unsupported and never fails the start', async () => {
    using dir = tempDir();
    const sandbox = await SessionSandbox.start({
      sessionId: `${owner}-bb`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: { tools: ['sh', 'git'] },
    });
    expect(sandbox.report?.provisioning).toMatchObject({ status: 'unsupported', missing: ['git'] });
    await sandbox.stop();
    expect(podmanResult(['container', 'exists', sandbox.container]).status).toBe(1);
  });
});
