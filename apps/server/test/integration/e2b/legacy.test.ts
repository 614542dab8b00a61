// The oldest E2B SDK that can be pointed at axo-server with the two environment variables:
// e2b 2.7.0 (the first with E2B_SANDBOX_URL). It creates with POST /sandboxes, connects
// with POST /sandboxes/{id}/connect, uploads files as multipart only, and sends its stdin
// flag only when asked (envd then gives a stdin pipe).
import { podmanGate } from '@axo/test-utils';
import { CommandExitError, NotFoundError, Sandbox } from 'e2b-legacy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type E2bTestServer, startE2bServer } from './setup';

const gate = podmanGate();

describe.skipIf(!gate.ok)('e2b 2.7.0 (POST /sandboxes) against axo-server (real podman)', () => {
  let t: E2bTestServer;

  beforeAll(async () => {
    t = await startE2bServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates, runs, streams, writes and reads, connects, and kills', async () => {
    const sbx = await Sandbox.create({ metadata: { sdk: 'legacy' } });
    try {
      const seen: string[] = [];
      const r = await sbx.commands.run('echo one; echo two >&2; whoami', { onStdout: (s) => void seen.push(s) });
      expect(r).toMatchObject({ exitCode: 0, stdout: 'one\nuser\n', stderr: 'two\n' });
      expect(seen.join('')).toBe('one\nuser\n');
      const failed = await sbx.commands.run('exit 7').catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(CommandExitError);
      expect((failed as CommandExitError).exitCode).toBe(7);

      await sbx.files.write('/home/user/legacy.txt', 'multipart upload');
      expect(await sbx.files.read('/home/user/legacy.txt')).toBe('multipart upload');
      await sbx.files.write([
        { path: '/home/user/l/a.txt', data: 'A' },
        { path: '/home/user/l/b.txt', data: 'B' },
      ]);
      expect((await sbx.files.list('/home/user/l')).map((e) => e.name).sort()).toEqual(['a.txt', 'b.txt']);
      await expect(sbx.files.read('/home/user/missing')).rejects.toBeInstanceOf(NotFoundError);

      const bg = await sbx.commands.run('read x; echo "x=$x"', { background: true, stdin: true });
      await sbx.commands.sendStdin(bg.pid, 'legacy\n');
      expect((await bg.wait()).stdout).toBe('x=legacy\n');

      const again = await Sandbox.connect(sbx.sandboxId);
      expect((await again.commands.run('cat /home/user/legacy.txt')).stdout).toBe('multipart upload');
      const info = await again.getInfo();
      expect(info).toMatchObject({ sandboxId: sbx.sandboxId, templateId: 'base', metadata: { sdk: 'legacy' } });
      expect((await Sandbox.list().nextItems()).map((s) => s.sandboxId)).toContain(sbx.sandboxId);
    } finally {
      await sbx.kill();
    }
    expect(await Sandbox.kill(sbx.sandboxId)).toBe(false);
    expect(await sbx.isRunning()).toBe(false);
    await expect(Sandbox.connect(sbx.sandboxId)).rejects.toBeInstanceOf(NotFoundError);
  });
});
