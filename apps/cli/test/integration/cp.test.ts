// `axo cp` and `axo ls-files` as shell users run them: the built CLI against real sessions,
// byte-exact both ways, directory trees with hostile links, pipes that close early, and the
// sessions it must refuse.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const AXO = join(import.meta.dirname, '..', '..', 'dist', 'axo.js');
const gate = podmanGate();
const owner = uniqueOwner('cp');
const home = tempDir('axo-cp-home-');
const configFile = join(home.path, 'config.json');
writeFileSync(configFile, JSON.stringify({ defaultImage: TEST_IMAGE, owner }));
const env = { ...process.env, AXO_CONFIG: configFile, NO_COLOR: '1' };
afterAll(() => {
  removeContainersByLabel(`${LABELS.owner}=${owner}`);
  home[Symbol.dispose]();
});

const axo = (args: string[], input?: Buffer | string) => {
  const r = spawnSync(process.execPath, [AXO, ...args], { env, input, timeout: 120_000, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
};
const bash = (script: string) => {
  const r = spawnSync('bash', ['-c', `set -u; AXO="$AXO_NODE $AXO_JS"; ${script}`], {
    env: { ...env, AXO_NODE: process.execPath, AXO_JS: AXO },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const inside = (id: string, script: string) => podman(['exec', `axo-ses-${id}`, 'sh', '-c', script]);

/** Every path below `root` with what it is (file content hash, link text, or dir). */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const rel = relative(root, path);
      if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(path)}`;
      else if (st.isDirectory()) {
        out[rel] = 'dir';
        walk(path);
      } else out[rel] = `file ${sha(readFileSync(path))}`;
    }
  };
  walk(root);
  return out;
}

describe.skipIf(!gate.ok)('axo cp and axo ls-files', () => {
  const dir = tempDir('axo-cp-');
  const work = tempDir('axo-cp-host-');
  const id = `${owner}-a`;
  beforeAll(() => {
    const r = axo(['up', dir.path, '--id', id, '--no-provision', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.toString()).report.agent.status).toBe('running');
  });
  afterAll(() => {
    dir[Symbol.dispose]();
    work[Symbol.dispose]();
  });

  it('copies a file both ways byte for byte, and to and from stdin/stdout', () => {
    const data = randomBytes(5 * 1024 * 1024 + 3);
    writeFileSync(join(work.path, 'up.bin'), data, { mode: 0o640 });
    let r = axo(['cp', join(work.path, 'up.bin'), `${id}:/tmp/`]);
    expect(r.code, r.stderr).toBe(0);
    expect(inside(id, 'sha256sum /tmp/up.bin | cut -d" " -f1; stat -c %a /tmp/up.bin').split('\n')).toEqual([
      sha(data),
      '640',
      '',
    ]);
    r = axo(['cp', `${id}:/tmp/up.bin`, join(work.path, 'down.bin')]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(join(work.path, 'down.bin')))).toBe(sha(data));
    expect(statSync(join(work.path, 'down.bin')).mode & 0o777).toBe(0o640);
    // Into an existing host directory, under the source's name; nothing else left behind.
    mkdirSync(join(work.path, 'into'));
    expect(axo(['cp', `${id}:/tmp/up.bin`, join(work.path, 'into')]).code).toBe(0);
    expect(readdirSync(join(work.path, 'into'))).toEqual(['up.bin']);

    r = axo(['cp', '-', `${id}:from-stdin.txt`], 'piped in\n');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir.path, 'from-stdin.txt'), 'utf8')).toBe('piped in\n');
    r = axo(['cp', `${id}:/tmp/up.bin`, '-']);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(r.stdout)).toBe(sha(data));
  });

  it('copies a directory both ways, recreating links as links', () => {
    const src = join(work.path, 'src-tree');
    mkdirSync(join(src, 'a', 'b'), { recursive: true });
    writeFileSync(join(src, 'top.txt'), 'top');
    writeFileSync(join(src, 'a', 'b', 'deep.bin'), randomBytes(300_000));
    symlinkSync('../top.txt', join(src, 'a', 'rel-link'));
    symlinkSync('/etc/passwd', join(src, 'abs-link'));
    let r = axo(['cp', src, `${id}:/tmp/tree`]);
    expect(r.code, r.stderr).toBe(0);
    expect(inside(id, 'readlink /tmp/tree/abs-link; cat /tmp/tree/top.txt')).toBe('/etc/passwd\ntop');

    r = axo(['cp', `${id}:/tmp/tree`, join(work.path, 'back')]);
    expect(r.code, r.stderr).toBe(0);
    expect(tree(join(work.path, 'back'))).toEqual(tree(src));
    // Copying into an existing directory puts it under its own name; never merged over it.
    r = axo(['cp', `${id}:/tmp/tree`, join(work.path, 'back')]);
    expect(r.code, r.stderr).toBe(0);
    expect(tree(join(work.path, 'back', 'tree'))).toEqual(tree(src));
    r = axo(['cp', `${id}:/tmp/tree`, join(work.path, 'back')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/never merged|already exists|EEXIST/);
  });

  it('a downloaded tree holding links to / and ../../.. writes nothing outside its destination', () => {
    inside(
      id,
      'mkdir -p /tmp/evil/sub/deeper && echo x > /tmp/evil/sub/file && ln -s / /tmp/evil/root && ' +
        'ln -s ../../.. /tmp/evil/sub/up && ln -s /etc/passwd /tmp/evil/sub/deeper/passwd',
    );
    const parent = join(work.path, 'guarded');
    mkdirSync(parent);
    writeFileSync(join(parent, 'sentinel'), 'untouched');
    const before = tree(work.path);
    const r = axo(['cp', `${id}:/tmp/evil`, join(parent, 'dest')]);
    expect(r.code, r.stderr).toBe(0);
    const after = tree(work.path);
    const added = Object.keys(after).filter((k) => !(k in before));
    expect(
      added.every((k) => k === 'guarded/dest' || k.startsWith('guarded/dest/')),
      added.join(', '),
    ).toBe(true);
    for (const k of Object.keys(before)) expect(after[k], k).toBe(before[k]);
    expect(after).toMatchObject({
      'guarded/dest/root': 'link /',
      'guarded/dest/sub/up': 'link ../../..',
      'guarded/dest/sub/deeper/passwd': 'link /etc/passwd',
    });
    expect(readFileSync(join(parent, 'sentinel'), 'utf8')).toBe('untouched');
  });

  it('| head -c 10 gets 10 bytes, and axo exits 141 at once, quietly', () => {
    inside(id, 'head -c 200000000 /dev/zero > /tmp/big');
    const r = bash(
      `s=$(date +%s%N); $AXO cp ${id}:/tmp/big - 2>${work.path}/head-err | head -c 10 | wc -c; ` +
        `echo "rc=\${PIPESTATUS[0]} ms=$(( ($(date +%s%N) - s) / 1000000 ))"`,
    );
    const [count, status] = r.stdout.trim().split('\n');
    expect(count).toBe('10');
    const m = /rc=(\d+) ms=(\d+)/.exec(status ?? '');
    expect(Number(m?.[1])).toBe(141);
    expect(Number(m?.[2])).toBeLessThan(2000);
    expect(readFileSync(join(work.path, 'head-err'), 'utf8')).toBe('');
  });

  it('ls-files lists like ls -l, deeper with --depth, and as JSON', () => {
    inside(id, 'mkdir -p /tmp/ls/d && echo hi > /tmp/ls/d/f && ln -s d /tmp/ls/l');
    let r = axo(['ls-files', id, '/tmp/ls']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.toString().trim().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^drwxr-xr-x root root +\d+ \d{4}-\d\d-\d\d \d\d:\d\d d$/);
    expect(lines[1]).toMatch(/^lrwxrwxrwx root root +1 .* l -> d$/);
    r = axo(['ls-files', id, '/tmp/ls', '--depth', '2', '--json']);
    const listing = JSON.parse(r.stdout.toString());
    expect(listing.entries.map((e: { path: string }) => e.path).sort()).toEqual([
      '/tmp/ls/d',
      '/tmp/ls/d/f',
      '/tmp/ls/l',
    ]);
    expect(axo(['ls-files', id, '/tmp/ls', '--depth', '40']).code).toBe(2);
  });

  it('says what is wrong: a missing file (1), an unknown session (4), a session without an agent', () => {
    let r = axo(['cp', `${id}:/no/such/file`, '-']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/no\/such\/file/);
    r = axo(['cp', `no-such-session-${owner}:/etc/hostname`, '-']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no running session/);
    r = axo(['cp', join(work.path, 'nothing-here'), `${id}:/tmp/`]);
    expect(r.code).toBe(1);
    r = axo(['cp', 'a.txt', 'b.txt']);
    expect(r.code).toBe(2);

    using plainDir = tempDir('axo-cp-plain-');
    const plain = `${owner}-p`;
    expect(axo(['up', plainDir.path, '--id', plain, '--no-provision', '--no-agent']).code).toBe(0);
    r = axo(['cp', `${plain}:/etc/hostname`, '-']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no agent/);
    expect(r.stderr).toMatch(/axo up --replace/);
    r = axo(['ls-files', plain]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no agent/);
  });
});
