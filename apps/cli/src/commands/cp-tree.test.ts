// Directory copies against a hostile session: whatever its listing claims, nothing is
// written outside the destination, a directory swapped for a link mid-copy is not followed,
// and an upload sends only what it pinned before the session could see anything.
import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { AgentFiles, FileEntry } from '@axo/runtime/agent';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseLocation } from '../files-reach';
import { O_PATH } from './cp-host';
import { downloadTree, type HostPlace, isPlainName, uploadTree } from './cp-tree';

const opened: number[] = [];
/** `path` as a place to create: its parent held by descriptor (closed after each test). */
function placeAt(path: string): HostPlace {
  const dirFd = openSync(dirname(path), O_PATH | constants.O_DIRECTORY);
  opened.push(dirFd);
  return { dirFd, name: basename(path), shown: path };
}
afterEach(() => {
  for (const fd of opened.splice(0)) closeSync(fd);
});

const entry = (path: string, type: FileEntry['type'] = 'file', extra: Partial<FileEntry> = {}): FileEntry => ({
  name: path.split('/').at(-1) as string,
  path,
  type,
  size: 1,
  mode: type === 'dir' ? 0o755 : 0o644,
  permissions: type === 'dir' ? 'drwxr-xr-x' : '-rw-r--r--',
  uid: 0,
  gid: 0,
  owner: 'root',
  group: 'root',
  mtime: '2024-05-06T07:08:09.123456789Z',
  ...extra,
});
const root = entry('/r', 'dir');

/** A session whose listing says `entries`, and whose files hold their own path. */
function fakeFiles(entries: FileEntry[], onRead: (path: string) => void = () => {}): AgentFiles {
  return {
    list: async () => ({ entries, truncated: false }),
    read: async (path: string) => {
      onRead(path);
      return { entry: entry(path), stream: Readable.from([Buffer.from(path)]) };
    },
  } as unknown as AgentFiles;
}

describe('downloadTree', () => {
  let base: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'axo-cp-tree-'));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
    vi.restoreAllMocks();
  });

  it('copies files, directories and links (as links), with plain modes only', async () => {
    const files = fakeFiles([
      entry('/r/a', 'dir'),
      entry('/r/a/f', 'file', { mode: 0o4755 }),
      entry('/r/up', 'symlink', { symlinkTarget: '../../..' }),
      entry('/r/top', 'symlink', { symlinkTarget: '/' }),
    ]);
    await downloadTree(files, root, placeAt(join(base, 'd')));
    expect(readFileSync(join(base, 'd/a/f'), 'utf8')).toBe('/r/a/f');
    expect(lstatSync(join(base, 'd/a/f')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(base, 'd/up')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(base, 'd/top')).isSymbolicLink()).toBe(true);
  });

  it('never writes below a link, even when the listing claims entries there', async () => {
    const files = fakeFiles([
      entry('/r/top', 'symlink', { symlinkTarget: base }),
      entry('/r/top/planted', 'file'),
      entry('/r/top/dir', 'dir'),
    ]);
    await downloadTree(files, root, placeAt(join(base, 'd')));
    expect(readdirSync(base).sort()).toEqual(['d']);
    expect(readdirSync(join(base, 'd'))).toEqual(['top']);
  });

  it.each([
    ['a path that climbs', entry('/r/../escape')],
    ['a path outside the root', entry('/elsewhere/x')],
    ['a name that does not match its path', entry('/r/a', 'file', { name: 'b' })],
    ['an empty element', entry('/r//x')],
  ])('refuses %s before creating anything', async (_name, bad) => {
    await expect(downloadTree(fakeFiles([bad]), root, placeAt(join(base, 'd')))).rejects.toMatchObject({
      code: 'AGENT_FAILED',
    });
    expect(existsSync(join(base, 'd'))).toBe(false);
  });

  it('refuses to merge into an existing destination', async () => {
    mkdirSync(join(base, 'd'));
    await expect(downloadTree(fakeFiles([entry('/r/a')]), root, placeAt(join(base, 'd')))).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('a directory swapped for a link mid-copy is not followed: files land in the directory it opened', async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    const dest = join(base, 'd');
    const files = fakeFiles([entry('/r/sub', 'dir'), entry('/r/sub/a'), entry('/r/sub/b')], (path) => {
      if (path === '/r/sub/a') {
        renameSync(join(dest, 'sub'), join(dest, 'moved'));
        symlinkSync(outside, join(dest, 'sub'));
      }
    });
    await downloadTree(files, root, placeAt(dest));
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(join(dest, 'moved')).sort()).toEqual(['a', 'b']);
  });

  it('a link the session plants under a name cp is about to create stops the copy, naming the host path', async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    const dest = join(base, 'd');
    const files = fakeFiles([entry('/r/a'), entry('/r/b')], (path) => {
      if (path === '/r/a') symlinkSync(join(outside, 'b'), join(dest, 'b'));
    });
    await expect(downloadTree(files, root, placeAt(dest))).rejects.toMatchObject({
      code: 'EEXIST',
      message: expect.stringContaining(`'${join(dest, 'b')}'`),
    });
    expect(readdirSync(outside)).toEqual([]);
  });
});

/** What a fake session was sent: files by content, directories and links. */
function recordingFiles(onMkdir: (path: string) => void = () => {}) {
  const sent: Record<string, string> = {};
  const files = {
    mkdir: async (path: string) => {
      sent[path] = 'dir';
      onMkdir(path);
    },
    write: async (path: string, chunks: AsyncIterable<Uint8Array>) => {
      const parts: Buffer[] = [];
      for await (const chunk of chunks) parts.push(Buffer.from(chunk));
      sent[path] = `file ${Buffer.concat(parts).toString()}`;
    },
    symlink: async (path: string, text: string) => {
      sent[path] = `link ${text}`;
    },
  } as unknown as AgentFiles;
  return { files, sent };
}

describe('uploadTree', () => {
  let base: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'axo-cp-up-'));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
    vi.restoreAllMocks();
  });

  /** Opens `path` the way cp does before uploading it. */
  const rootOf = (path: string) => {
    const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    opened.push(fd);
    return { fd, st: lstatSync(path) };
  };

  it('sends files, directories and links as links', async () => {
    const src = join(base, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'f'), 'deep');
    symlinkSync('/etc/passwd', join(src, 'l'));
    const { files, sent } = recordingFiles();
    const { fd, st } = rootOf(src);
    expect(await uploadTree(files, fd, st, '/t', src)).toBe(3);
    expect(sent).toEqual({ '/t': 'dir', '/t/l': 'link /etc/passwd', '/t/sub': 'dir', '/t/sub/f': 'file deep' });
  });

  it('the source swapped for a link once the session sees the copy begin: only what was pinned is sent', async () => {
    const src = join(base, 'src');
    const secret = join(base, 'secret');
    mkdirSync(join(src, 'sub'), { recursive: true });
    mkdirSync(join(secret, 'sub'), { recursive: true, mode: 0o700 });
    writeFileSync(join(src, 'key'), 'decoy');
    writeFileSync(join(src, 'sub', 'key'), 'decoy');
    writeFileSync(join(secret, 'key'), 'SECRET');
    writeFileSync(join(secret, 'sub', 'key'), 'SECRET');
    writeFileSync(join(secret, 'other'), 'SECRET');
    // The session watches its workdir: the moment a directory appears on its side, the
    // host directory being read is swapped for a link (the root first, then `sub`).
    const { files, sent } = recordingFiles((path) => {
      const [host, link] = path === '/t' ? [src, secret] : [join(`${src}.orig`, 'sub'), join(secret, 'sub')];
      renameSync(host, `${host}.orig`);
      symlinkSync(link, host);
    });
    const { fd, st } = rootOf(src);
    await uploadTree(files, fd, st, '/t', src);
    expect(sent).toEqual({ '/t': 'dir', '/t/key': 'file decoy', '/t/sub': 'dir', '/t/sub/key': 'file decoy' });
  });

  it('an entry swapped for a link before it is read is sent as a link, never followed', async () => {
    const src = join(base, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a'), 'a');
    writeFileSync(join(src, 'b'), 'b');
    writeFileSync(join(base, 'secret'), 'SECRET');
    const { files, sent } = recordingFiles();
    const write = files.write.bind(files);
    files.write = (async (path: string, chunks: AsyncIterable<Uint8Array>) => {
      if (path === '/t/a') {
        rmSync(join(src, 'b'));
        symlinkSync(join(base, 'secret'), join(src, 'b'));
      }
      return write(path, chunks as never);
    }) as AgentFiles['write'];
    const { fd, st } = rootOf(src);
    await uploadTree(files, fd, st, '/t', src);
    expect(sent['/t/b']).toBe(`link ${join(base, 'secret')}`);
  });
});

describe('cp arguments', () => {
  it('tells session paths, host paths and stdio apart as podman cp does', () => {
    expect(parseLocation('app-1:/tmp/x')).toEqual({ kind: 'session', session: 'app-1', path: '/tmp/x' });
    expect(parseLocation('app-1:')).toEqual({ kind: 'session', session: 'app-1', path: '.' });
    expect(parseLocation('app-1:rel/x')).toEqual({ kind: 'session', session: 'app-1', path: 'rel/x' });
    expect(parseLocation('-')).toEqual({ kind: 'stdio' });
    expect(parseLocation('./a:b')).toEqual({ kind: 'host', path: './a:b' });
    expect(parseLocation('/abs/a:b')).toEqual({ kind: 'host', path: '/abs/a:b' });
    expect(parseLocation('plain.txt')).toEqual({ kind: 'host', path: 'plain.txt' });
    expect(parseLocation('has space:x')).toEqual({ kind: 'host', path: 'has space:x' });
    expect(() => parseLocation('a\0b')).toThrow(/NUL/);
  });

  it('accepts only plain names', () => {
    for (const bad of ['', '.', '..', 'a/b', 'a\0b']) expect(isPlainName(bad), bad).toBe(false);
    for (const good of ['a', '...', '.hidden', 'a b', 'é']) expect(isPlainName(good), good).toBe(true);
  });
});
