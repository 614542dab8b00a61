// sandbox.files against a real session: bytes intact and memory bounded both ways, links
// resolved only inside the container and only with the requesting user's rights, atomic
// writes that leave the old file whenever anything fails, and watches.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LABELS } from '@axo/podman-args';
import {
  podman,
  podmanGate,
  removeContainersByLabel,
  retainedBytes,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxoError, FileError, type FileEvent, type SandboxFiles, SessionSandbox } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('files');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

/** Rejects with the error `promise` rejects with, or fails the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<FileError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(FileError.isInstance(error), `expected a FileError, got ${String(error)}`).toBe(true);
  return error as FileError;
}

describe.skipIf(!gate.ok)('sandbox.files in a real session', () => {
  const dir = tempDir('axo-files-');
  let sandbox: SessionSandbox;
  let files: SandboxFiles;

  beforeAll(async () => {
    // Other users must be able to enter the workdir, so a refusal is about the file asked for.
    chmodSync(dir.path, 0o755);
    sandbox = await SessionSandbox.start({
      sessionId: `${owner}-s`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    expect(sandbox.agent).toMatchObject({ status: 'running' });
    files = sandbox.files;
  });
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    dir[Symbol.dispose]();
  });

  it('writes 50 MB from a stream and reads it back with the same sha256, memory bounded both ways', async () => {
    const size = 50 * MiB;
    const hash = createHash('sha256');
    const base = await retainedBytes();
    // What this process holds (after a full collection) halfway through each transfer: with
    // backpressure, a few chunks; without it, most of the file.
    const held: Record<string, number> = {};
    // Generated as it is sent: the source itself holds one chunk.
    async function* random() {
      for (let sent = 0; sent < size; sent += MiB) {
        if (sent === size / 2) held.write = (await retainedBytes()) - base;
        const chunk = randomBytes(MiB);
        hash.update(chunk);
        yield chunk;
      }
    }
    const written = await files.write('big.bin', Readable.from(random(), { highWaterMark: 1 }));
    expect(written).toMatchObject({ type: 'file', size, path: join(dir.path, 'big.bin') });
    const want = hash.digest('hex');

    const { entry, stream } = await files.read('big.bin');
    expect(entry.size).toBe(size);
    // Nobody reads for a second: without backpressure the whole file would arrive now.
    await sleep(1000);
    held.paused = (await retainedBytes()) - base;
    // Then a slow consumer.
    const got = createHash('sha256');
    let bytes = 0;
    await pipeline(
      stream,
      new Writable({
        highWaterMark: 64 * 1024,
        async write(chunk: Buffer, _enc, done) {
          got.update(chunk);
          const before = bytes;
          bytes += chunk.length;
          if (before < size / 2 && bytes >= size / 2) held.read = (await retainedBytes()) - base;
          setTimeout(done, 1);
        },
      }),
    );
    expect(got.digest('hex')).toBe(want);
    expect(bytes).toBe(size);
    for (const [phase, n] of Object.entries(held)) expect(n, `${phase}: ${JSON.stringify(held)}`).toBeLessThan(8 * MiB);
    expect(Object.keys(held).sort()).toEqual(['paused', 'read', 'write']);
  });

  it('a link to /etc/shadow resolves inside the container, with the requesting user’s rights only', async () => {
    symlinkSync('/etc/shadow', join(dir.path, 'shadow-link'));
    // The busybox image has no /etc/shadow: the host's is never what answers.
    const missing = await failure(files.readFile('shadow-link'));
    expect(missing).toMatchObject({ code: 'NOT_FOUND', agentCode: 'NOT_FOUND' });
    expect(missing.message).toMatch(/shadow-link/);

    await files.write('/etc/shadow', 'root:container-only:1::::::\n', { mode: 0o600 });
    const asRoot = (await files.readFile('shadow-link')).toString('utf8');
    expect(asRoot).toBe('root:container-only:1::::::\n');

    const denied = await failure(files.readFile('shadow-link', { user: 'nobody' }));
    expect(denied).toMatchObject({ code: 'PERMISSION_DENIED', agentCode: 'PERMISSION' });
    // Asked for the link itself, the agent describes the link, never what it points at.
    expect(await files.stat('shadow-link')).toMatchObject({ type: 'symlink', symlinkTarget: '/etc/shadow' });
  });

  it('an ordinary link in the workdir still resolves to the container’s file, for any user', async () => {
    symlinkSync('/etc/hostname', join(dir.path, 'hostname-link'));
    const want = (await sandbox.exec(['cat', '/etc/hostname'])).stdout;
    expect(want).not.toBe('');
    expect((await files.readFile('hostname-link', { user: 'nobody' })).toString()).toBe(want);
    expect((await files.readFile('hostname-link')).toString()).toBe(want);
  });

  it('a user gets nothing through the agent’s /proc/1/fd while a root write holds a directory open', async () => {
    // The agent resolves with openat2 (RESOLVE_NO_MAGICLINKS) in podman's default seccomp
    // profile; without it, it says so in its log and walks paths itself.
    expect(podman(['logs', sandbox.container])).not.toMatch(/openat2 is not available/);
    const setup = await sandbox.exec([
      'sh',
      '-c',
      'chmod 700 /root && mkdir -p /root/pub && chmod 777 /root/pub && echo data >/root/pub/data',
    ]);
    expect(setup.exitCode).toBe(0);
    const nobody = { user: 'nobody' };
    expect(await failure(files.readFile('/root/pub/data', nobody))).toMatchObject({ code: 'PERMISSION_DENIED' });

    // A root write in progress: the agent holds a descriptor on /root/pub until it ends.
    const source = new Readable({ read() {} });
    source.push('x');
    const writing = files.write('/root/pub/big', source);
    let fd: string | undefined;
    for (let i = 0; i < 250 && fd === undefined; i++) {
      // Root may look at the agent's descriptors (and their link texts).
      const { entries } = await files.list('/proc/1/fd');
      fd = entries.find((e) => e.symlinkTarget === '/root/pub')?.name;
      if (fd === undefined) await sleep(20);
    }
    expect(fd, 'the agent holds a descriptor on /root/pub').toBeDefined();

    // An ordinary nobody process cannot get in there…
    const cat = await sandbox.exec(['cat', `/proc/1/fd/${fd}/data`], { user: 'nobody' });
    expect(cat.exitCode).not.toBe(0);
    expect(cat.stdout).toBe('');
    // …and neither can a file request acting as nobody: no listing, no read, no write.
    const denied = { code: 'PERMISSION_DENIED', agentCode: 'PERMISSION' };
    expect(await failure(files.list('/proc/1/fd', nobody))).toMatchObject(denied);
    expect(await failure(files.stat(`/proc/1/fd/${fd}`, nobody))).toMatchObject(denied);
    for (const via of [`/proc/1/fd/${fd}`, `/proc/self/fd/${fd}`, `/proc/thread-self/fd/${fd}`]) {
      expect(await failure(files.readFile(`${via}/data`, nobody))).toMatchObject(denied);
      expect(await failure(files.stat(`${via}/data`, { ...nobody, follow: true }))).toMatchObject(denied);
      expect(await failure(files.list(via, nobody))).toMatchObject(denied);
      expect(await failure(files.write(`${via}/planted`, 'planted', nobody))).toMatchObject(denied);
      expect(await failure(files.mkdir(`${via}/d`, nobody))).toMatchObject(denied);
      // Root gains nothing from a magic link, but follows none either.
      expect(await failure(files.readFile(`${via}/data`))).toMatchObject({
        code: 'INVALID_INPUT',
        agentCode: 'INVALID',
      });
    }
    // Nor through a link nobody plants, nor through the agent's root link, nor with a watch.
    await files.symlink('/tmp/via-agent-fd', `/proc/1/fd/${fd}`, nobody);
    expect(await failure(files.readFile('/tmp/via-agent-fd/data', nobody))).toMatchObject(denied);
    expect(await failure(files.readFile('/proc/1/root/root/pub/data', nobody))).toMatchObject(denied);
    expect(await failure(files.watch(`/proc/1/fd/${fd}`, nobody))).toMatchObject(denied);
    expect(await failure(files.watch('/tmp/via-agent-fd', { ...nobody, recursive: true }))).toMatchObject(denied);
    // Which descriptors the agent holds is not nobody's to learn: a missing one is refused alike.
    expect(await failure(files.stat('/proc/1/fd/999999/data', nobody))).toMatchObject(denied);
    expect(await failure(files.readFile('/proc/1/maps', nobody))).toMatchObject(denied);

    // The root write goes on and lands; nothing was planted.
    source.push(null);
    expect(await writing).toMatchObject({ path: '/root/pub/big', size: 1 });
    expect((await sandbox.exec(['ls', '-A', '/root/pub'])).stdout.split('\n').filter(Boolean).sort()).toEqual([
      'big',
      'data',
    ]);
  });

  it('refuses a FIFO at once, without blocking on it', async () => {
    execFileSync('mkfifo', [join(dir.path, 'fifo')]);
    const started = performance.now();
    const error = await failure(files.read('fifo'));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error).toMatchObject({ code: 'INVALID_INPUT', agentCode: 'NOT_REGULAR' });
    expect(error.message).toMatch(/fifo/);
    // A directory is not a file either.
    expect(await failure(files.read('/etc'))).toMatchObject({ code: 'CONFLICT', agentCode: 'IS_DIR' });
  });

  it('writes as the requesting user: refused where that user may not write, owned by them where it may', async () => {
    await files.mkdir('/srv/private', { parents: true, mode: 0o700 });
    const denied = await failure(files.write('/srv/private/x', 'data', { user: 'nobody' }));
    expect(denied).toMatchObject({ code: 'PERMISSION_DENIED', agentCode: 'PERMISSION' });
    expect(denied.message).toMatch(/\/srv\/private\/x/);

    const mine = await files.write('/tmp/owned-by-nobody', 'x', { user: 'nobody' });
    expect(mine).toMatchObject({ uid: 65534, owner: 'nobody' });
    expect(await files.stat('/tmp/owned-by-nobody')).toMatchObject({ uid: 65534 });
    const rootFile = await files.write('/tmp/owned-by-root', 'x');
    expect(rootFile.uid).toBe(0);
  });

  it('overwriting keeps the mode unless one is given', async () => {
    expect((await files.write('/tmp/m', 'one', { mode: 0o640 })).mode).toBe(0o640);
    expect((await files.write('/tmp/m', 'two')).mode).toBe(0o640);
    expect((await files.write('/tmp/m', 'three', { mode: 0o600 })).mode).toBe(0o600);
    expect((await files.readFile('/tmp/m')).toString()).toBe('three');
    // A new file without a mode gets 0644 less the umask.
    expect((await files.write('/tmp/fresh', 'x')).mode).toBe(0o644);
  });

  it('maxBytes refuses with TOO_LARGE and leaves the earlier file intact', async () => {
    await files.write('/tmp/cap', 'original');
    const error = await failure(files.write('/tmp/cap', Buffer.alloc(10_000, 1), { maxBytes: 1000 }));
    expect(error).toMatchObject({ code: 'TOO_LARGE', agentCode: 'TOO_LARGE' });
    expect((await files.readFile('/tmp/cap')).toString()).toBe('original');
    const left = (await files.list('/tmp')).entries.filter((e) => e.name.startsWith('.axo-write-'));
    expect(left).toEqual([]);
  });

  it('a source that fails or an abort leaves the earlier file intact and no temporary file behind', async () => {
    await files.write('/tmp/keep', 'kept');
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(MiB, 2));
    setTimeout(() => failing.destroy(new Error('source broke')), 100);
    await expect(files.write('/tmp/keep', failing)).rejects.toThrow('source broke');

    const controller = new AbortController();
    const endless = new Readable({ read() {} });
    endless.push(Buffer.alloc(MiB, 3));
    setTimeout(() => controller.abort(), 100);
    await expect(files.write('/tmp/keep', endless, { signal: controller.signal })).rejects.toThrow(/abort/i);

    expect((await files.readFile('/tmp/keep')).toString()).toBe('kept');
    // The agent removes its temporary file as soon as it sees the connection go.
    for (let i = 0; i < 50; i++) {
      const left = (await files.list('/tmp')).entries.filter((e) => e.name.startsWith('.axo-write-'));
      if (left.length === 0) break;
      await sleep(20);
    }
    expect((await files.list('/tmp')).entries.filter((e) => e.name.startsWith('.axo-write-'))).toEqual([]);
  });

  it('mkdir, list, move, symlink and remove, and the conflicts they report', async () => {
    await files.mkdir('/tmp/tree/a/b', { parents: true });
    await files.write('/tmp/tree/a/b/f.txt', 'hello');
    await files.symlink('/tmp/tree/up', '../..');
    const listing = await files.list('/tmp/tree', { depth: 3 });
    expect(listing.truncated).toBe(false);
    expect(listing.entries.map((e) => `${e.type} ${e.path}`).sort()).toEqual([
      'dir /tmp/tree/a',
      'dir /tmp/tree/a/b',
      'file /tmp/tree/a/b/f.txt',
      'symlink /tmp/tree/up',
    ]);
    expect(await failure(files.mkdir('/tmp/tree/a'))).toMatchObject({ code: 'CONFLICT', agentCode: 'EXISTS' });
    expect(await failure(files.remove('/tmp/tree/a'))).toMatchObject({ code: 'CONFLICT', agentCode: 'NOT_EMPTY' });
    const moved = await files.move('/tmp/tree/a/b/f.txt', '/tmp/tree/g.txt');
    expect(moved).toMatchObject({ name: 'g.txt', size: 5 });
    expect(await failure(files.stat('/tmp/tree/a/b/f.txt'))).toMatchObject({ code: 'NOT_FOUND' });
    await files.remove('/tmp/tree', { recursive: true });
    expect(await failure(files.stat('/tmp/tree'))).toMatchObject({ code: 'NOT_FOUND' });
    // Options are checked before anything is sent.
    await expect(files.list('/tmp', { depth: 33 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(files.stat('a\0b')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('watch reports create, write and remove', async () => {
    await files.mkdir('/tmp/watched');
    const watch = await files.watch('/tmp/watched');
    const seen: FileEvent[] = [];
    const collected = (async () => {
      for await (const event of watch) {
        seen.push(event);
        if (event.op === 'remove') break;
      }
    })();
    await files.write('/tmp/watched/new.txt', 'x');
    await sandbox.exec(['sh', '-c', 'echo more >> /tmp/watched/new.txt; rm /tmp/watched/new.txt']);
    await Promise.race([collected, sleep(5000)]);
    const ops = seen.filter((e) => e.path === '/tmp/watched/new.txt').map((e) => e.op);
    expect(ops).toContain('write');
    expect(ops.at(-1)).toBe('remove');
    // The atomic write lands as a rename of its temporary file: a create of the name.
    expect(ops).toContain('create');
    await watch.close();
  });

  it('a recursive watch of a link to a directory watches its subdirectories', async () => {
    const made = await sandbox.exec([
      'sh',
      '-c',
      'mkdir -p /tmp/linked/sub && chmod -R 777 /tmp/linked && ln -s linked /tmp/linked-link',
    ]);
    expect(made.exitCode).toBe(0);
    const watch = await files.watch('/tmp/linked-link', { recursive: true, user: 'nobody' });
    const seen: FileEvent[] = [];
    const collected = (async () => {
      for await (const event of watch) {
        seen.push(event);
        if (event.path === '/tmp/linked-link/sub/new/f') break;
      }
    })();
    await files.write('/tmp/linked/sub/a', 'x', { user: 'nobody' });
    await sandbox.exec(['sh', '-c', 'mkdir /tmp/linked/sub/new && touch /tmp/linked/sub/new/f'], { user: 'nobody' });
    await Promise.race([collected, sleep(5000)]);
    const paths = seen.map((e) => e.path);
    expect(paths).toContain('/tmp/linked-link/sub/a');
    expect(paths).toContain('/tmp/linked-link/sub/new');
    expect(paths).toContain('/tmp/linked-link/sub/new/f');
    await watch.close();
  });

  it('a watch nobody reads holds the agent back; the kernel’s dropped events come as overflow', async () => {
    await files.mkdir('/tmp/flood');
    const watch = await files.watch('/tmp/flood');
    // More events than the sockets, this process's bound (1024) and inotify's queue (16384) hold.
    const r = await sandbox.exec([
      'sh',
      '-c',
      'cd /tmp/flood && i=0; while [ $i -lt 40000 ]; do : > f$i; i=$((i+1)); done',
    ]);
    expect(r.exitCode).toBe(0);
    expect(watch.pending).toBeLessThanOrEqual(1024);
    let overflow = false;
    let count = 0;
    for await (const event of watch) {
      count++;
      if (event.op === 'overflow') {
        overflow = true;
        break;
      }
    }
    expect(overflow).toBe(true);
    expect(count).toBeLessThan(40000);
  });

  it('a session without the agent has no files, and says why', async () => {
    using other = tempDir();
    const plain = await SessionSandbox.start({
      sessionId: `${owner}-plain`,
      owner,
      workdir: other.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
      agent: false,
    });
    let error: unknown;
    try {
      void plain.files;
    } catch (e) {
      error = e;
    }
    expect(AxoError.isInstance(error) && error.code).toBe('AGENT_UNAVAILABLE');
    expect(String(error)).toMatch(/no agent/);
    await plain.stop();
  });
});
