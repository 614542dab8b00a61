// Host paths resolved once and held by descriptor: links followed only where the guard
// allows, a later swap of any element cannot redirect what was resolved, and the workdir
// guard refuses exactly the links a session could have planted.
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AxoError } from '@axo/podman-args/errors';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type Destination,
  type LinkGuard,
  lstatAt,
  O_PATH,
  openSame,
  openSource,
  resolveDestination,
  under,
} from './cp-host';
import { type Workdir, workdirGuard } from './cp-workdirs';

const allowAll: LinkGuard = async () => {};
const refuseAll: LinkGuard = async () => {
  throw new AxoError('PERMISSION_DENIED', 'refused');
};

/** Where a descriptor's directory is now (the kernel's name for it). */
const whereIs = (fd: number) => realpathSync(under(fd));

describe('resolveDestination and openSource', () => {
  let base: string;
  const toClose: number[] = [];
  const keep = <T extends { dirFd: number } | { fd: number }>(held: T): T => {
    toClose.push('dirFd' in held ? held.dirFd : held.fd);
    return held;
  };
  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'axo-cp-host-')));
    mkdirSync(join(base, 'dir', 'sub'), { recursive: true });
    writeFileSync(join(base, 'dir', 'file'), 'content');
  });
  afterEach(() => {
    for (const fd of toClose.splice(0)) closeSync(fd);
    rmSync(base, { recursive: true, force: true });
  });

  const dest = async (path: string, guard = allowAll) => keep(await resolveDestination(path, guard));

  it('a new name is an entry of its (existing) parent; an existing directory is one to copy into', async () => {
    const fresh = (await dest(join(base, 'dir', 'new'))) as Extract<Destination, { kind: 'at' }>;
    expect(fresh).toMatchObject({ kind: 'at', name: 'new', existing: undefined, slash: false });
    expect(whereIs(fresh.dirFd)).toBe(join(base, 'dir'));
    const into = await dest(join(base, 'dir', 'sub'));
    expect(into.kind).toBe('into');
    expect(whereIs(into.dirFd)).toBe(join(base, 'dir', 'sub'));
    expect(await dest(`${join(base, 'dir', 'new')}/`)).toMatchObject({ kind: 'at', name: 'new', slash: true });
    expect(await dest(join(base, 'dir', 'file'))).toMatchObject({ kind: 'at', name: 'file' });
    expect((await dest(join(base, 'dir', 'file'))) as { existing?: unknown }).toHaveProperty('existing.size', 7);
  });

  it('resolves `.`, `..` and relative paths as the kernel would', async () => {
    const cwd = process.cwd();
    process.chdir(join(base, 'dir'));
    try {
      expect(whereIs((await dest('.')).dirFd)).toBe(join(base, 'dir'));
      expect(whereIs((await dest('sub/..')).dirFd)).toBe(join(base, 'dir'));
      expect(await dest('sub/../x')).toMatchObject({ kind: 'at', name: 'x' });
      expect(whereIs((await dest('/')).dirFd)).toBe('/');
    } finally {
      process.chdir(cwd);
    }
  });

  it('follows a link the guard allows, and consults it for every link', async () => {
    symlinkSync(join(base, 'dir'), join(base, 'to-dir'));
    symlinkSync('dir/sub', join(base, 'rel'));
    const guard = vi.fn(allowAll);
    const into = await dest(join(base, 'to-dir'), guard);
    expect(into.kind).toBe('into');
    expect(whereIs(into.dirFd)).toBe(join(base, 'dir'));
    expect(whereIs((await dest(join(base, 'rel', 'x'), guard)).dirFd)).toBe(join(base, 'dir', 'sub'));
    expect(guard).toHaveBeenCalledTimes(2);
    const [dirFd, name] = guard.mock.calls[1] as [number, string];
    expect(name).toBe('rel');
    expect(typeof dirFd).toBe('number');
  });

  it('refuses a link the guard refuses, on the way or as the last element', async () => {
    symlinkSync(join(base, 'dir'), join(base, 'to-dir'));
    await expect(dest(join(base, 'to-dir', 'x'), refuseAll)).rejects.toThrow('refused');
    await expect(dest(join(base, 'to-dir'), refuseAll)).rejects.toThrow('refused');
    await expect(openSource(join(base, 'to-dir'), refuseAll)).rejects.toThrow('refused');
    // Paths without links never ask.
    expect((await dest(join(base, 'dir', 'x'), refuseAll)).kind).toBe('at');
  });

  it('a last element that links to a non-directory is the entry to replace, not written through', async () => {
    symlinkSync(join(base, 'dir', 'file'), join(base, 'to-file'));
    symlinkSync(join(base, 'nowhere'), join(base, 'dangling'));
    const replaced = (await dest(join(base, 'to-file'))) as Extract<Destination, { kind: 'at' }>;
    expect(replaced).toMatchObject({ kind: 'at', name: 'to-file' });
    expect(replaced.existing?.isSymbolicLink()).toBe(true);
    expect(await dest(join(base, 'dangling'))).toMatchObject({ kind: 'at', name: 'dangling' });
  });

  it('says what is missing in the user’s terms, and gives up on link loops', async () => {
    await expect(dest(join(base, 'none', 'x'))).rejects.toMatchObject({
      code: 'ENOENT',
      message: expect.stringContaining(join(base, 'none', 'x')),
    });
    await expect(dest(join(base, 'dir', 'file', 'x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    symlinkSync('b', join(base, 'a'));
    symlinkSync('a', join(base, 'b'));
    await expect(dest(join(base, 'a', 'x'))).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(openSource(join(base, 'none'), allowAll)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('what was resolved stays put: an ancestor swapped for a link afterwards redirects nothing', async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    const at = await dest(join(base, 'dir', 'sub', 'new'));
    renameSync(join(base, 'dir'), join(base, 'moved'));
    symlinkSync(outside, join(base, 'dir'));
    writeFileSync(under(at.dirFd, 'new'), 'x');
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(join(base, 'moved', 'sub', 'new'), 'utf8')).toBe('x');
  });

  it('opens a source file or directory, checked, and refuses a FIFO without blocking', async () => {
    const file = keep(await openSource(join(base, 'dir', 'file'), allowAll));
    expect(file.st.isFile()).toBe(true);
    expect(readFileSync(file.fd, 'utf8')).toBe('content');
    const dir = keep(await openSource(`${join(base, 'dir')}/`, allowAll));
    expect(dir.st.isDirectory()).toBe(true);
    expect(readdirSync(`/proc/self/fd/${dir.fd}`).sort()).toEqual(['file', 'sub']);
    await expect(openSource(`${join(base, 'dir', 'file')}/`, allowAll)).rejects.toMatchObject({ code: 'ENOTDIR' });
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(base, 'fifo')]);
    await expect(openSource(join(base, 'fifo'), allowAll)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('openSame', () => {
  let base: string;
  let dirFd: number;
  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'axo-cp-same-')));
    mkdirSync(join(base, 'sub'));
    writeFileSync(join(base, 'file'), 'x');
    dirFd = openSync(base, O_PATH | constants.O_DIRECTORY);
  });
  afterEach(() => {
    closeSync(dirFd);
    rmSync(base, { recursive: true, force: true });
  });

  it('opens the very entry lstat saw', () => {
    const st = lstatAt(dirFd, 'file');
    const fd = openSame(dirFd, 'file', constants.O_RDONLY, st as Stats, 'shown');
    expect(readFileSync(fd, 'utf8')).toBe('x');
    closeSync(fd);
    expect(lstatAt(dirFd, 'none')).toBeUndefined();
  });

  it.each([
    ['another file in its place', 'file', () => writeFileSync(join(base, 'file.new'), 'y')],
    ['a link to it', 'file', () => symlinkSync(join(base, 'file.old'), join(base, 'file.new'))],
    ['a link to the directory', 'sub', () => symlinkSync(join(base, 'sub.old'), join(base, 'sub.new'))],
  ])('refuses %s as “replaced”, never following it', (_name, name, plant) => {
    const st = lstatAt(dirFd, name) as Stats;
    renameSync(join(base, name), join(base, `${name}.old`));
    plant();
    renameSync(join(base, `${name}.new`), join(base, name));
    const flags = st.isDirectory() ? constants.O_RDONLY | constants.O_DIRECTORY : constants.O_RDONLY;
    expect(() => openSame(dirFd, name, flags, st, '/shown/path')).toThrow(
      expect.objectContaining({ code: 'CONFLICT', message: expect.stringContaining('/shown/path was replaced') }),
    );
  });

  it('refuses an entry that is gone', () => {
    const st = lstatAt(dirFd, 'file') as Stats;
    rmSync(join(base, 'file'));
    expect(() => openSame(dirFd, 'file', constants.O_RDONLY, st, 'f')).toThrow(
      expect.objectContaining({ code: 'CONFLICT' }),
    );
  });
});

describe('workdirGuard', () => {
  let base: string;
  let workdir: string;
  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'axo-cp-guard-')));
    workdir = join(base, 'work');
    mkdirSync(join(workdir, 'deep', 'er'), { recursive: true });
    mkdirSync(join(base, 'victim'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  const sessions = (list: Workdir[]) => vi.fn(async () => list);

  it('refuses a link anywhere inside a session’s workdir, naming the session', async () => {
    symlinkSync(join(base, 'victim'), join(workdir, 'out'));
    symlinkSync(join(base, 'victim'), join(workdir, 'deep', 'er', 'out'));
    const list = sessions([
      { session: 'other', path: join(base, 'elsewhere') },
      { session: 's-1', path: workdir },
    ]);
    const guard = workdirGuard(list);
    for (const path of [join(workdir, 'out', 'x'), join(workdir, 'deep', 'er', 'out', 'x')]) {
      const error = await resolveDestination(path, guard).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining('session s-1') });
      expect((error as Error).message).toContain(`${path.slice(0, -2)} is a symbolic link`);
    }
    expect(list).toHaveBeenCalledTimes(1);
    expect(readdirSync(join(base, 'victim'))).toEqual([]);
  });

  it('refuses it also when the workdir is reached through a link of the user’s own', async () => {
    symlinkSync(join(base, 'victim'), join(workdir, 'out'));
    symlinkSync(workdir, join(base, 'to-work'));
    const guard = workdirGuard(sessions([{ session: 's-1', path: workdir }]));
    await expect(resolveDestination(join(base, 'to-work', 'out', 'x'), guard)).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    // The user's own link to the workdir, with no link inside it, is fine.
    const held = await resolveDestination(join(base, 'to-work', 'deep', 'x'), guard);
    closeSync(held.dirFd);
    expect(held).toMatchObject({ kind: 'at', name: 'x' });
  });

  it('follows a link outside every workdir, and asks podman nothing for a path without links', async () => {
    symlinkSync(join(base, 'victim'), join(base, 'mine'));
    const list = sessions([{ session: 's-1', path: workdir }]);
    const guard = workdirGuard(list);
    let held = await resolveDestination(join(workdir, 'deep', 'x'), guard);
    closeSync(held.dirFd);
    expect(list).not.toHaveBeenCalled();
    held = await resolveDestination(join(base, 'mine', 'x'), guard);
    closeSync(held.dirFd);
    expect(held.kind).toBe('at');
    expect(lstatSync(join(base, 'mine')).isSymbolicLink()).toBe(true);
  });

  it('refuses when the sessions cannot be listed: it cannot tell', async () => {
    symlinkSync(join(base, 'victim'), join(base, 'mine'));
    const guard = workdirGuard(async () => {
      throw new AxoError('PODMAN_FAILED', 'no podman');
    });
    await expect(resolveDestination(join(base, 'mine', 'x'), guard)).rejects.toMatchObject({ code: 'PODMAN_FAILED' });
  });
});
