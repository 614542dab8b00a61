// The E2B SDK on an image that has bash and git (the Debian test image, `setup-podman.sh
// --debian`), served as a trusted image by name: the SDK's `/bin/bash -l -c` is real bash,
// and `sandbox.git`, which runs git through commands.run, works as on E2B.
import { DEBIAN_TEST_IMAGE, podmanGate } from '@axo/test-utils';
import { Sandbox } from 'e2b';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type E2bTestServer, startE2bServer } from './setup';

describe.skipIf(!podmanGate(DEBIAN_TEST_IMAGE).ok)('the E2B SDK on a Debian image (real podman)', () => {
  let t: E2bTestServer;
  let sbx: Sandbox;

  beforeAll(async () => {
    t = await startE2bServer({ policy: { defaultImage: DEBIAN_TEST_IMAGE } });
    sbx = await Sandbox.create();
  });
  afterAll(async () => {
    await sbx?.kill();
    await t?.close();
  });

  it('runs commands in bash as E2B’s user', async () => {
    const r = await sbx.commands.run('echo "$0 $BASH_VERSINFO"; id -un; echo ~');
    expect(r.stdout).toMatch(/^(\/usr)?\/bin\/bash [45]\nuser\n\/home\/user\n$/);
  });

  it('sandbox.git: init, configure, add, commit, status and branches', async () => {
    const repo = '/home/user/repo';
    await sbx.git.init(repo, { initialBranch: 'main' });
    await sbx.git.configureUser('E2B User', 'user@example.com', { scope: 'local', path: repo });
    await sbx.files.write(`${repo}/a.txt`, 'one');
    expect((await sbx.git.status(repo)).fileStatus.map((f) => f.name)).toEqual(['a.txt']);
    await sbx.git.add(repo);
    await sbx.git.commit(repo, 'first');
    const status = await sbx.git.status(repo);
    expect(status).toMatchObject({ currentBranch: 'main', fileStatus: [] });
    expect((await sbx.git.branches(repo)).branches).toEqual(['main']);
    const log = await sbx.commands.run('git log --format=%an:%s', { cwd: repo });
    expect(log.stdout).toBe('E2B User:first\n');
  });
});
