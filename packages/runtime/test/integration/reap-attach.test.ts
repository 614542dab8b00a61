import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildRunArgs, LABELS } from '@axo/podman-args';
import {
  containersByLabel,
  podman,
  podmanGate,
  podmanResult,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { sessionRunDir } from '../../src/agent/paths';
import { AxoError, listSessions, reapOrphans, removeSessions, SessionSandbox } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('reap');
const otherOwner = uniqueOwner('reap-other');
const sweepOwner = uniqueOwner('reap-sweep');
const run = promisify(execFile);

describe.skipIf(!gate.ok)('reapOrphans and attach (real podman)', () => {
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    removeContainersByLabel(`${LABELS.owner}=${otherOwner}`);
    removeContainersByLabel(`${LABELS.owner}=${sweepOwner}`);
    podmanResult(['rm', '-f', '-t', '0', `axo-ses-${owner}-impostor`]);
  });

  it('removes only unknown sessions of its owner, never unlabelled look-alikes', async () => {
    using dir = tempDir();
    const make = (sessionId: string, o = owner) =>
      podman(buildRunArgs({ sessionId, owner: o, workdir: dir.path, image: TEST_IMAGE }));
    make(`${owner}-known`);
    make(`${owner}-orphan1`);
    make(`${owner}-orphan10`);
    make(`${owner}-other`, otherOwner);
    // Named like ours, but without our labels: must never be touched.
    const impostor = `axo-ses-${owner}-impostor`;
    podman(['run', '-d', '--name', impostor, TEST_IMAGE, 'sleep', '600']);

    const result = await reapOrphans([`${owner}-known`], { owner });
    expect([...result.removed].sort()).toEqual([`axo-ses-${owner}-orphan1`, `axo-ses-${owner}-orphan10`]);
    expect(result.kept).toEqual([`axo-ses-${owner}-known`]);
    expect(containersByLabel(`${LABELS.owner}=${owner}`)).toEqual([`axo-ses-${owner}-known`]);
    expect(containersByLabel(`${LABELS.owner}=${otherOwner}`)).toEqual([`axo-ses-${owner}-other`]);
    expect(podman(['inspect', impostor, '--format', '{{.State.Running}}']).trim()).toBe('true');
  });

  it('sweeps the run dir of a session removed behind its back, and nothing else', async () => {
    using dir = tempDir();
    const start = (sessionId: string) =>
      SessionSandbox.start({
        sessionId,
        owner: sweepOwner,
        workdir: dir.path,
        policy: { defaultImage: TEST_IMAGE },
        provision: false,
      });
    const gone = await start(`${sweepOwner}-gone`);
    const live = await start(`${sweepOwner}-live`);
    podman(['rm', '-f', '-t', '0', gone.container]); // not through axo: its run dir stays behind
    const goneDir = sessionRunDir(`${sweepOwner}-gone`);
    const liveDir = sessionRunDir(`${sweepOwner}-live`);
    // A session being started right now (run dir made, no container yet) and a dir that is not ours.
    const fresh = sessionRunDir(`${sweepOwner}-fresh`);
    mkdirSync(join(fresh, 's'), { recursive: true });
    writeFileSync(join(fresh, 'token'), 'x');
    const foreign = sessionRunDir(`${sweepOwner}-foreign`);
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes'), 'keep me');
    const old = new Date(Date.now() - 11 * 60_000);
    for (const d of [goneDir, liveDir, foreign]) utimesSync(d, old, old);
    try {
      await reapOrphans([`${sweepOwner}-live`], { owner: sweepOwner });
      expect(existsSync(goneDir)).toBe(false);
      expect(existsSync(liveDir)).toBe(true);
      expect(existsSync(fresh)).toBe(true);
      expect(existsSync(join(foreign, 'notes'))).toBe(true);
      expect((await live.exec(['true'])).exitCode).toBe(0);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
      rmSync(foreign, { recursive: true, force: true });
      await live.stop();
    }
  });

  it('lets a second process attach to a sandbox and use it', async () => {
    using dir = tempDir();
    const sessionId = `${owner}-shared`;
    const starter = await SessionSandbox.start({
      sessionId,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    await starter.exec(['sh', '-c', 'echo written-by-first > shared.txt']);

    // Another node process, resolving @axo/runtime by name on its TypeScript sources.
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const child = await run(process.execPath, [
      '--import',
      tsx,
      '--conditions=@axo/source',
      join(import.meta.dirname, '..', 'fixtures', 'attach-child.ts'),
      sessionId,
      owner,
    ]);
    expect(JSON.parse(child.stdout)).toEqual({ root: dir.path, stdout: 'written-by-first\n', exitCode: 0 });
    await starter.stop();
  });

  it('refuses to attach to a session that is not running', async () => {
    const error = await SessionSandbox.attach({ sessionId: `${owner}-never`, owner }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('NOT_FOUND');
  });

  it('lists and removes sessions of its owner only, running or not', async () => {
    using dir = tempDir();
    const listOwner = uniqueOwner('list');
    try {
      podman(buildRunArgs({ sessionId: `${listOwner}-a`, owner: listOwner, workdir: dir.path, image: TEST_IMAGE }));
      podman(['stop', '-t', '0', `axo-ses-${listOwner}-a`]);
      podman(buildRunArgs({ sessionId: `${listOwner}-b`, owner: listOwner, workdir: dir.path, image: TEST_IMAGE }));
      const sessions = await listSessions({ owner: listOwner });
      expect(sessions.map((s) => [s.sessionId, s.state]).sort()).toEqual([
        [`${listOwner}-a`, 'exited'],
        [`${listOwner}-b`, 'running'],
      ]);
      expect(sessions[0]?.workdir).toBe(dir.path);
      // Another owner's removal request touches nothing of ours.
      expect(await removeSessions([`${listOwner}-a`], { owner })).toEqual([]);
      expect(
        await removeSessions([`${listOwner}-a`, `${listOwner}-b`, `${listOwner}-zz`], { owner: listOwner }),
      ).toEqual([`${listOwner}-a`, `${listOwner}-b`]);
      expect(await listSessions({ owner: listOwner })).toEqual([]);
    } finally {
      removeContainersByLabel(`${LABELS.owner}=${listOwner}`);
    }
  });

  it('streams exec output to callbacks as it arrives', async () => {
    using dir = tempDir();
    const sandbox = await SessionSandbox.start({
      sessionId: `${owner}-stream`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    const arrivals: Array<[string, number]> = [];
    const t0 = Date.now();
    const result = await sandbox.exec(['sh', '-c', 'echo a; sleep 0.6; echo b >&2'], {
      // Only stream: nothing is kept.
      maxOutputBytes: 0,
      onStdout: (c) => arrivals.push([`out:${c.toString().trim()}`, Date.now() - t0]),
      onStderr: (c) => arrivals.push([`err:${c.toString().trim()}`, Date.now() - t0]),
    });
    expect(arrivals.map(([what]) => what)).toEqual(['out:a', 'err:b']);
    expect(result).toMatchObject({ stdout: '', stderr: '', truncated: true, exitCode: 0 });
    const [[, first], [, second]] = arrivals as [[string, number], [string, number]];
    expect(second - first).toBeGreaterThanOrEqual(500);
    await sandbox.stop();
  });
});
