// The official E2B SDK (the `e2b` package, pinned) drives axo-server's E2B façade on real
// podman, unchanged: only E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY point it here.
// Commands, streaming, background commands, stdin, kill, terminals, files, watches, and the
// errors an SDK user sees (its own classes).
import { podmanGate } from '@axo/test-utils';
import {
  CommandExitError,
  type CommandHandle,
  FileNotFoundError,
  FilesystemEventType,
  FileType,
  Sandbox,
  SandboxError,
  TimeoutError,
} from 'e2b';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVD_VERSION } from '../../../src/e2b/index';
import { type E2bTestServer, eventually, sleep, startE2bServer } from './setup';

const gate = podmanGate();

describe.skipIf(!gate.ok)('the E2B SDK against axo-server: commands and files (real podman)', () => {
  let t: E2bTestServer;
  let sbx: Sandbox;

  beforeAll(async () => {
    t = await startE2bServer();
    sbx = await Sandbox.create({ envs: { FROM_CREATE: 'create-env' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates a sandbox from base: the default image, E2B’s user and home, an access token', async () => {
    expect(sbx.sandboxId).toMatch(/^i[a-z0-9]{19}$/);
    const info = await sbx.getInfo();
    expect(info).toMatchObject({ sandboxId: sbx.sandboxId, templateId: 'base', state: 'running' });
    expect(info.envdVersion).toBe(ENVD_VERSION);
    const r = await sbx.commands.run('whoami; pwd; echo "$HOME $FROM_CREATE"');
    expect(r).toMatchObject({ exitCode: 0, stdout: 'user\n/home/user\n/home/user create-env\n', stderr: '' });
    expect((await sbx.commands.run('whoami', { user: 'root' })).stdout).toBe('root\n');
    expect(await sbx.isRunning()).toBe(true);
  });

  it('runs a command: exit code, stdout and stderr apart, cwd and envs', async () => {
    const r = await sbx.commands.run('echo out; echo err >&2; echo "$A" ; pwd', { envs: { A: 'b c' }, cwd: '/tmp' });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'out\nb c\n/tmp\n', stderr: 'err\n' });
  });

  it('a non-zero exit is CommandExitError with that exit code and the output', async () => {
    const failed = await sbx.commands.run('echo partial; echo bad >&2; exit 3').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(CommandExitError);
    expect(failed).toMatchObject({ exitCode: 3, stdout: 'partial\n', stderr: 'bad\n', error: 'exit status 3' });
  });

  it('streams output to onStdout and onStderr as it happens, before the command ends', async () => {
    const seen: Array<{ at: number; text: string }> = [];
    const errs: Array<{ at: number; text: string }> = [];
    // 3 s of sleep against a 1 s bound: a loaded machine delays delivery, not the sleep.
    const r = await sbx.commands.run('echo first; echo warn >&2; sleep 3; echo second; echo late >&2', {
      onStdout: (text) => void seen.push({ at: Date.now(), text }),
      onStderr: (text) => void errs.push({ at: Date.now(), text }),
    });
    const ended = Date.now();
    expect(r.stdout).toBe('first\nsecond\n');
    expect(r.stderr).toBe('warn\nlate\n');
    expect(seen[0]?.text).toBe('first\n');
    expect(errs[0]?.text).toBe('warn\n');
    // Each stream's first line reached its callback well before the command ended.
    expect(ended - (seen[0]?.at ?? ended)).toBeGreaterThanOrEqual(1000);
    expect(ended - (errs[0]?.at ?? ended)).toBeGreaterThanOrEqual(1000);
    expect(errs.map((e) => e.text).join('')).toBe('warn\nlate\n');
  });

  it('runs a command in the background and connects to it by pid', async () => {
    const handle = await sbx.commands.run('echo started; sleep 1; echo later', { background: true });
    expect(handle.pid).toBeGreaterThan(0);
    expect((await sbx.commands.list()).map((p) => p.pid)).toContain(handle.pid);
    await handle.disconnect();
    const chunks: string[] = [];
    const again = await sbx.commands.connect(handle.pid, { onStdout: (s) => void chunks.push(s) });
    const result = await again.wait();
    expect(result.exitCode).toBe(0);
    // envd's Connect delivers output from then on: "later" comes after the connect.
    expect(chunks.join('')).toContain('later');
    expect((await sbx.commands.list()).map((p) => p.pid)).not.toContain(handle.pid);
    await expect(sbx.commands.connect(handle.pid)).rejects.toThrow(/not found/);
  });

  it('forgets a background command that ended after its client left, without a List', async () => {
    const agent = t.server.sessions.list().find((s) => s.id === sbx.sandboxId)?.sandbox.agentClient;
    if (!agent) throw new Error('the sandbox runs without its agent');
    const ended = async () => (await agent.list()).filter((p) => p.id.startsWith('e2b-') && !p.running);
    const handle = await sbx.commands.run('sleep 0.3', { background: true });
    await handle.disconnect();
    await eventually(async () => (await ended()).length > 0, 15_000, 'the command ended unwatched');
    // The next command sweeps it, as envd forgets an ended process.
    expect((await sbx.commands.run('echo next')).stdout).toBe('next\n');
    await eventually(async () => (await ended()).length === 0, 15_000, 'the ended command forgotten');
  });

  it('sends stdin to a command, and closes it', async () => {
    const handle = await sbx.commands.run('read line; echo "got:$line"; cat; echo done', {
      background: true,
      stdin: true,
    });
    await sbx.commands.sendStdin(handle.pid, 'hello\n');
    await handle.sendStdin('more\n');
    await handle.closeStdin();
    const r = await handle.wait();
    expect(r.stdout).toBe('got:hello\nmore\ndone\n');
  });

  it('kills a command: wait() ends with the signal, and the pid is gone', async () => {
    const handle: CommandHandle = await sbx.commands.run('sleep 30', { background: true });
    const started = Date.now();
    expect(await handle.kill()).toBe(true);
    const err = await handle.wait().catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(CommandExitError);
    expect(err).toMatchObject({ exitCode: -1, error: 'signal: killed' });
    expect(await sbx.commands.kill(handle.pid)).toBe(false);
  });

  it('a command past its timeoutMs is killed, and the SDK says TimeoutError', async () => {
    const err = await sbx.commands.run('sleep 20', { timeoutMs: 800 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    await eventually(async () => !(await sbx.commands.list()).some((p) => p.args.join(' ').includes('sleep 20')));
  });

  it('runs a terminal (pty): input, output, resize, kill', async () => {
    let out = '';
    const term = await sbx.pty.create({
      cols: 80,
      rows: 24,
      onData: (d) => {
        out += Buffer.from(d).toString('utf8');
      },
    });
    await sbx.pty.sendInput(term.pid, new TextEncoder().encode('stty size; echo pty-$((6*7))\n'));
    await eventually(() => out.includes('pty-42') && out.includes('24 80'), 10_000, 'terminal output');
    await sbx.pty.resize(term.pid, { cols: 100, rows: 30 });
    await sbx.pty.sendInput(term.pid, new TextEncoder().encode('stty size\n'));
    await eventually(() => out.includes('30 100'), 10_000, 'resized terminal');
    // Reconnecting to a terminal: its output flows to the new handle.
    await term.disconnect();
    let again = '';
    const reattached = await sbx.pty.connect(term.pid, {
      onData: (d) => {
        again += Buffer.from(d).toString('utf8');
      },
    });
    await sbx.pty.sendInput(term.pid, new TextEncoder().encode('echo back-$((40+2))\n'));
    await eventually(() => again.includes('back-42'), 10_000, 'output after reconnecting');
    expect(await sbx.pty.kill(term.pid)).toBe(true);
    await reattached.wait().catch(() => undefined);
  });

  it('writes, reads, lists, stats, makes directories, renames and removes files', async () => {
    const w = await sbx.files.write('/home/user/notes/a.txt', 'hello axo');
    expect(w).toMatchObject({ path: '/home/user/notes/a.txt', name: 'a.txt' });
    expect(await sbx.files.read('/home/user/notes/a.txt')).toBe('hello axo');
    // Relative paths and ~ are the user's home, as in envd.
    expect(await sbx.files.read('notes/a.txt')).toBe('hello axo');
    const bytes = await sbx.files.read('~/notes/a.txt', { format: 'bytes' });
    expect(Buffer.from(bytes).toString()).toBe('hello axo');
    const binary = new Uint8Array([0, 255, 1, 254, 10, 13]);
    await sbx.files.write('/home/user/notes/bin', binary.buffer as ArrayBuffer);
    expect(new Uint8Array(await sbx.files.read('/home/user/notes/bin', { format: 'bytes' }))).toEqual(binary);
    await sbx.files.write([
      { path: '/home/user/many/one.txt', data: '1' },
      { path: '/home/user/many/two.txt', data: '22' },
    ]);
    expect(await sbx.files.read('/home/user/many/two.txt')).toBe('22');
    expect(await sbx.files.read('/home/user/notes/empty', { format: 'text' }).catch(() => 'missing')).toBe('missing');
    await sbx.files.write('/home/user/notes/empty', '');
    expect(await sbx.files.read('/home/user/notes/empty')).toBe('');

    const entries = await sbx.files.list('/home/user/notes');
    expect(entries.map((e) => e.name).sort()).toEqual(['a.txt', 'bin', 'empty']);
    const info = await sbx.files.getInfo('/home/user/notes/a.txt');
    expect(info).toMatchObject({ name: 'a.txt', type: FileType.FILE, size: 9, owner: 'user', mode: 0o644 });
    expect(info.modifiedTime).toBeInstanceOf(Date);
    expect((await sbx.files.getInfo('/home/user/notes')).type).toBe(FileType.DIR);
    expect(await sbx.files.exists('/home/user/notes/a.txt')).toBe(true);
    expect(await sbx.files.exists('/home/user/notes/nope')).toBe(false);

    expect(await sbx.files.makeDir('/home/user/deep/er/dir')).toBe(true);
    expect(await sbx.files.makeDir('/home/user/deep/er/dir')).toBe(false);
    const deep = await sbx.files.list('/home/user/deep', { depth: 3 });
    expect(deep.map((e) => e.path).sort()).toEqual(['/home/user/deep/er', '/home/user/deep/er/dir']);

    const moved = await sbx.files.rename('/home/user/notes/a.txt', '/home/user/moved/b.txt');
    expect(moved).toMatchObject({ path: '/home/user/moved/b.txt', name: 'b.txt', type: FileType.FILE });
    expect(await sbx.files.exists('/home/user/notes/a.txt')).toBe(false);

    await sbx.files.remove('/home/user/deep');
    expect(await sbx.files.exists('/home/user/deep')).toBe(false);
    // As envd: removing what is not there is no error.
    await sbx.files.remove('/home/user/deep');
    // What the SDK wrote, a command sees (and the other way round).
    expect((await sbx.commands.run('cat /home/user/moved/b.txt')).stdout).toBe('hello axo');
    await sbx.commands.run('printf from-shell > /home/user/shell.txt');
    expect(await sbx.files.read('/home/user/shell.txt')).toBe('from-shell');
  });

  it('streams a large file both ways, and uploads a stream', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 'x');
    big.write('head', 0);
    await sbx.files.write('/home/user/big.bin', new Blob([big]));
    const back = Buffer.from(await sbx.files.read('/home/user/big.bin', { format: 'bytes' }));
    expect(back.length).toBe(big.length);
    expect(back.equals(big)).toBe(true);
    const reader = (await sbx.files.read('/home/user/big.bin', { format: 'stream' })).getReader();
    let streamed = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) streamed += r.value.length;
    expect(streamed).toBe(big.length);
    const blob = await sbx.files.read('/home/user/big.bin', { format: 'blob' });
    expect(blob.size).toBe(big.length);
    const stream = new Blob(['streamed ', 'upload']).stream();
    await sbx.files.write('/home/user/streamed.txt', stream);
    expect(await sbx.files.read('/home/user/streamed.txt')).toBe('streamed upload');
    await sbx.files.write('/home/user/gz.txt', 'compressed both ways', { gzip: true });
    expect(await sbx.files.read('/home/user/gz.txt', { gzip: true })).toBe('compressed both ways');
  });

  it('a missing file is FileNotFoundError, from reads and from the filesystem service', async () => {
    await expect(sbx.files.read('/home/user/does-not-exist')).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(sbx.files.getInfo('/home/user/does-not-exist')).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(sbx.files.list('/home/user/does-not-exist')).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(sbx.files.rename('/home/user/does-not-exist', '/home/user/x')).rejects.toBeInstanceOf(
      FileNotFoundError,
    );
    // Reading a directory is the client's mistake, not a missing file.
    await expect(sbx.files.read('/home/user')).rejects.toBeInstanceOf(SandboxError);
  });

  it('acts as the user it is asked to: files belong to them, permissions are theirs', async () => {
    await sbx.files.write('/root/by-root.txt', 'r', { user: 'root' });
    expect((await sbx.files.getInfo('/root/by-root.txt', { user: 'root' })).owner).toBe('root');
    // axo's agent acts with the user's own permissions: `user` cannot write into /root.
    await expect(sbx.files.write('/root/by-user.txt', 'u')).rejects.toThrow();
    expect((await sbx.commands.run('id -un', { user: 'root' })).stdout).toBe('root\n');
    await expect(sbx.commands.run('true', { user: 'no-such-user' })).rejects.toThrow(/username/);
  });

  it('watches a directory: create, write, remove events with names relative to it', async () => {
    await sbx.files.makeDir('/home/user/watched');
    const events: Array<{ name: string; type: FilesystemEventType }> = [];
    const handle = await sbx.files.watchDir('/home/user/watched', (e) => void events.push(e), { recursive: true });
    await sbx.files.write('/home/user/watched/new.txt', 'x');
    await sbx.files.makeDir('/home/user/watched/sub');
    await sleep(200);
    await sbx.files.write('/home/user/watched/sub/inner.txt', 'y');
    await sbx.files.remove('/home/user/watched/new.txt');
    await eventually(
      () =>
        events.some((e) => e.name === 'new.txt' && e.type === FilesystemEventType.CREATE) &&
        events.some((e) => e.name === 'sub/inner.txt') &&
        events.some((e) => e.name === 'new.txt' && e.type === FilesystemEventType.REMOVE),
      10_000,
      `watch events (${JSON.stringify(events)})`,
    );
    await handle.stop();
    await expect(sbx.files.watchDir('/home/user/nope', () => undefined)).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it('signed download and upload URLs work without the sandbox header or the token', async () => {
    await sbx.files.write('/home/user/signed.txt', 'signed content');
    const down = await sbx.downloadUrl('/home/user/signed.txt');
    expect(down).toContain('signature=v1_');
    expect(new URL(down).searchParams.has('e2b-sandbox-id')).toBe(false);
    const got = await fetch(down);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('signed content');

    const up = await sbx.uploadUrl('/home/user/uploaded.txt', { useSignatureExpiration: 60 });
    const form = new FormData();
    form.append('file', new Blob(['via signed url']), 'uploaded.txt');
    const put = await fetch(up, { method: 'POST', body: form });
    expect(put.status).toBe(200);
    expect(await sbx.files.read('/home/user/uploaded.txt')).toBe('via signed url');

    // A tampered or expired signature is refused; so is a read signature used to write.
    const tampered = new URL(down);
    tampered.searchParams.set('path', '/home/user/big.bin');
    expect((await fetch(tampered)).status).toBe(401);
    const expired = await sbx.downloadUrl('/home/user/signed.txt', { useSignatureExpiration: -10 });
    expect((await fetch(expired)).status).toBe(401);
    expect((await fetch(down, { method: 'POST', body: form })).status).toBe(401);
  });
});
