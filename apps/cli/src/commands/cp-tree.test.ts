// Directory downloads against a hostile listing: whatever the session claims, nothing is
// written outside the destination, and a directory swapped for a link mid-copy is not
// followed.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { AgentFiles, FileEntry } from '@axo/runtime/agent';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseLocation } from '../files-reach';
import { downloadTree, isPlainName } from './cp-tree';

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
    await downloadTree(files, root, join(base, 'd'));
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
    await downloadTree(files, root, join(base, 'd'));
    expect(readdirSync(base).sort()).toEqual(['d']);
    expect(readdirSync(join(base, 'd'))).toEqual(['top']);
  });

  it.each([
    ['a path that climbs', entry('/r/../escape')],
    ['a path outside the root', entry('/elsewhere/x')],
    ['a name that does not match its path', entry('/r/a', 'file', { name: 'b' })],
    ['an empty element', entry('/r//x')],
  ])('refuses %s before creating anything', async (_name, bad) => {
    await expect(downloadTree(fakeFiles([bad]), root, join(base, 'd'))).rejects.toMatchObject({ code: 'AGENT_FAILED' });
    expect(existsSync(join(base, 'd'))).toBe(false);
  });

  it('refuses to merge into an existing destination', async () => {
    mkdirSync(join(base, 'd'));
    await expect(downloadTree(fakeFiles([entry('/r/a')]), root, join(base, 'd'))).rejects.toMatchObject({
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
    await downloadTree(files, root, dest);
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(join(dest, 'moved')).sort()).toEqual(['a', 'b']);
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
