// `axo cp` and `axo ls-files` as shell users run them: the built CLI against real sessions,
// byte-exact both ways, directory trees with hostile links, pipes that close early, the
// sessions it must refuse, and a session that attacks the host side of a copy through its
// workdir (planted links, directories swapped mid-copy).
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
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

describe.skipIf(!gate.ok)('axo cp against a session that attacks the host side through its workdir', () => {
  // The workdir is a host directory the container writes to: it plants links there and
  // swaps directories for links while the CLI works. `host` is outside every workdir: the
  // victims and secrets live there, made by this test's own user (also when rootless).
  const workdir = tempDir('axo-cp-hostile-');
  const host = tempDir('axo-cp-victims-');
  const W = workdir.path;
  const id = `${owner}-h`;
  const container = `axo-ses-${id}`;
  beforeAll(() => {
    const r = axo(['up', W, '--id', id, '--no-provision']);
    expect(r.code, r.stderr).toBe(0);
    inside(
      id,
      'mkdir -p /tmp/x/tree/sub && echo report > /tmp/x/report && echo f > /tmp/x/tree/sub/f && chmod 777 /tmp/x/tree',
    );
  });
  afterAll(() => {
    workdir[Symbol.dispose]();
    host[Symbol.dispose]();
  });

  /** What must never change in a host directory the session aims at: contents, modes, times. */
  const snapshot = (root: string) => {
    const state: Record<string, string> = {};
    for (const rel of ['.', ...Object.keys(tree(root))]) {
      const st = lstatSync(join(root, rel));
      state[rel] = `${(st.mode & 0o7777).toString(8)} ${st.mtimeMs}`;
    }
    return { tree: tree(root), state };
  };
  /** A directory only its owner can enter, holding `key`. */
  const secretDir = (name: string) => {
    const path = join(host.path, name);
    mkdirSync(path, { mode: 0o700 });
    writeFileSync(join(path, 'key'), 'SECRET-KEY', { mode: 0o600 });
    return path;
  };
  /** Waits (bounded) for `path` to appear: a watcher in the container says it is done. */
  const waitFor = (path: string) => {
    const deadline = Date.now() + 20_000;
    while (!existsSync(path)) {
      if (Date.now() > deadline) throw new Error(`${path} never appeared`);
      spawnSync('sleep', ['0.05']);
    }
  };

  it('a link planted in the workdir is never followed, either way: refused, its target untouched', () => {
    const victim = join(host.path, 'victim');
    mkdirSync(victim);
    chmodSync(victim, 0o755);
    writeFileSync(join(victim, 'sentinel'), 'untouched');
    const secret = secretDir('secret');
    inside(id, `ln -s ${victim} ${W}/out && ln -s ${secret} ${W}/data && mkdir ${W}/w1 && ln -s ${victim} ${W}/w1/out`);
    // The user's own link to the workdir does not make a link inside it trusted.
    symlinkSync(W, join(host.path, 'to-workdir'));
    const before = snapshot(victim);
    for (const args of [
      [`${id}:/tmp/x/report`, `${W}/out/`],
      [`${id}:/tmp/x/report`, `${W}/out`],
      [`${id}:/tmp/x/report`, `${W}/w1/out/report`],
      [`${id}:/tmp/x/tree`, `${W}/out/`],
      [`${id}:/tmp/x/tree`, `${W}/w1/out/tree`],
      [`${id}:/tmp/x/report`, `${host.path}/to-workdir/w1/out/`],
      [`${W}/data`, `${id}:/tmp/leak-dir`],
      [`${W}/data/key`, `${id}:/tmp/leak-key`],
    ]) {
      const r = axo(['cp', ...args]);
      expect(r.code, `axo cp ${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`is a symbolic link inside the workdir of session ${id}`));
      expect(r.stderr).toMatch(/outside the session’s workdir/);
    }
    expect(snapshot(victim)).toEqual(before);
    expect(inside(id, 'ls /tmp')).not.toMatch(/leak/);
    // Without a link on the way, the workdir is an ordinary destination and source.
    expect(axo(['cp', `${id}:/tmp/x/tree`, `${W}/fresh`]).code).toBe(0);
    expect(tree(join(W, 'fresh'))).toMatchObject({ sub: 'dir', 'sub/f': expect.stringMatching(/^file /) });
    expect(statSync(join(W, 'fresh')).mode & 0o777).toBe(0o777);
    expect(axo(['cp', `${W}/fresh`, `${id}:/tmp/fresh-back`]).code).toBe(0);
    expect(inside(id, 'cat /tmp/fresh-back/sub/f')).toBe('f\n');
  });

  it('a link of the user’s own, outside every workdir, is followed both ways', () => {
    const real = join(host.path, 'real');
    mkdirSync(real);
    symlinkSync(real, join(host.path, 'link-to-dir'));
    symlinkSync('real', join(host.path, 'relative-link'));
    let r = axo(['cp', `${id}:/tmp/x/report`, `${host.path}/link-to-dir/`]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(real, 'report'), 'utf8')).toBe('report\n');
    r = axo(['cp', `${id}:/tmp/x/tree`, join(host.path, 'relative-link')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(real, 'tree', 'sub', 'f'), 'utf8')).toBe('f\n');
    r = axo(['cp', join(host.path, 'link-to-dir'), `${id}:/tmp/via-link`]);
    expect(r.code, r.stderr).toBe(0);
    expect(inside(id, 'cat /tmp/via-link/report /tmp/via-link/tree/sub/f')).toBe('report\nf\n');
  });

  it('a source directory swapped for a link to a secret once the upload shows: the secret never reaches the session', () => {
    const secret = secretDir('secret-up');
    const src = join(W, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'key'), 'decoy');
    // A big first file keeps the upload busy long after the swap: before the fix, `key` was
    // then looked up by path, through the link (1/1), or the listing came from the secret.
    const fd = openSync(join(src, 'a-big'), 'w');
    ftruncateSync(fd, 64 * 1024 * 1024);
    closeSync(fd);
    for (let i = 0; i < 3; i++) {
      const target = `/tmp/up-${i}`;
      // The watcher: the moment the CLI's mkdir shows in the session, swap the host source
      // (it spins to win the race, so it gives up after 30 s if the copy never gets there).
      podman([
        'exec',
        '-d',
        container,
        'sh',
        '-c',
        `timeout 30 sh -c 'while [ ! -d ${target} ]; do :; done' && mv ${src} ${src}.orig && ln -s ${secret} ${src} && touch ${W}/swapped-${i}`,
      ]);
      const r = axo(['cp', src, `${id}:${target}`]);
      waitFor(join(W, `swapped-${i}`));
      expect(r.code, r.stderr).toBe(0);
      expect(inside(id, `ls ${target}; cat ${target}/key; grep -rl SECRET ${target} || true`)).toBe(
        'a-big\nkey\ndecoy',
      );
      inside(id, `rm -rf ${target}`);
      unlinkSync(src);
      renameSync(`${src}.orig`, src);
    }
  });

  it('a destination whose parent the session keeps swapping for a link: no host directory is ever written or chmodded', () => {
    // victims/vN is where `W/p/vN` leads while `p` is the link; the session copies a 0777
    // tree there (a directory's mode is applied last, to what was created).
    const victims = join(host.path, 'victims');
    mkdirSync(victims);
    for (let i = 0; i < 30; i++) mkdirSync(join(victims, `v${i}`), { mode: 0o755 });
    const before = snapshot(victims);
    mkdirSync(join(W, 'p'));
    podman([
      'exec',
      '-d',
      container,
      'sh',
      '-c',
      `cd ${W} && n=0; while [ ! -e stop ]; do mv p p.real && ln -s ${victims} p && rm p && mv p.real p; n=$((n+1)); done; echo $n > stopped.tmp && mv stopped.tmp stopped`,
    ]);
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const r =
          i % 2 === 0
            ? axo(['cp', `${id}:/tmp/x/tree`, `${W}/p/v${i}`])
            : axo(['cp', `${id}:/tmp/x/report`, `${W}/p/`]);
        // Copied into the real `p`, or refused: `p` was a link in the workdir, or missing.
        outcomes.push(r.code === 0 ? 'copied' : `${r.code} ${r.stderr.trim().split('\n')[0]}`);
      }
    } finally {
      writeFileSync(join(W, 'stop'), '');
      waitFor(join(W, 'stopped'));
    }
    expect(snapshot(victims)).toEqual(before);
    // The attack ran all along: the session swapped `p` for the link over and over.
    expect(Number(readFileSync(join(W, 'stopped'), 'utf8'))).toBeGreaterThan(30);
    // What was copied landed in the workdir, where the user asked; the rest was refused.
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome !== 'copied') {
        expect(outcome).toMatch(/^[12] .*(is a symbolic link inside the workdir|ENOENT|does not exist|was replaced)/);
      } else if (i % 2 === 0) expect(readFileSync(join(W, 'p', `v${i}`, 'sub', 'f'), 'utf8')).toBe('f\n');
      else expect(readFileSync(join(W, 'p', 'report'), 'utf8')).toBe('report\n');
    }
  });

  it('directories swapped for links to a canary inside the tree while it downloads: nothing reaches the canary', () => {
    // The CVE-2018-15664 pattern: while cp fills W/dl/tN, the session renames every
    // directory of it it can see and puts a link to the canary (a host path) in its place,
    // as fast as it can. cp holds each directory it created by descriptor, so at worst it
    // notices the swap and stops; a write, chmod (the tree is 0777) or utimes through a
    // link would show in the canary.
    inside(
      id,
      'for a in 0 1 2 3 4 5; do for b in 0 1 2; do mkdir -p /tmp/race/d$a/d$b && ' +
        'for c in 0 1 2 3; do head -c 20000 /dev/urandom > /tmp/race/d$a/d$b/f$c; done; done; done && ' +
        'find /tmp/race -type d -exec chmod 777 {} +',
    );
    const canary = join(host.path, 'canary');
    mkdirSync(join(canary, 'd0'), { recursive: true, mode: 0o755 });
    const before = snapshot(canary);
    mkdirSync(join(W, 'dl'));
    podman([
      'exec',
      '-d',
      container,
      'sh',
      '-c',
      // `./` keeps a `/` in every name, so `${d%/*}/x${d##*/}` is its sibling `x…`; what
      // was moved aside is attacked further in.
      `cd ${W}/dl && while [ ! -e ../stop-race ]; do for d in ./*/*/d* ./*/d* ./t*; do ` +
        `if [ -d "$d" ] && [ ! -L "$d" ]; then mv "$d" "\${d%/*}/x\${d##*/}" 2>/dev/null && ln -s ${canary} "$d"; fi; ` +
        'done; done; touch ../race-stopped',
    ]);
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        const r = axo(['cp', `${id}:/tmp/race`, `${W}/dl/t${i}`]);
        outcomes.push(r.code === 0 ? 'copied' : `${r.code} ${r.stderr.trim().split('\n')[0]}`);
      }
    } finally {
      writeFileSync(join(W, 'stop-race'), '');
      waitFor(join(W, 'race-stopped'));
    }
    expect(snapshot(canary)).toEqual(before);
    for (const outcome of outcomes) expect(outcome).toMatch(/^copied$|^1 .*was replaced while axo was copying it/);
    // The attack was real: directories inside the trees were swapped while cp worked.
    const swapped = Object.keys(tree(join(W, 'dl'))).filter((rel) => /\/xd\d$/.test(rel));
    expect(swapped.length, outcomes.join('\n')).toBeGreaterThan(0);
  });

  it('a tree holding links to host secrets uploads them as links: no secret reaches the session', () => {
    const secret = secretDir('secret-links');
    const src = join(W, 'linky');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'plain'), 'plain');
    symlinkSync(secret, join(src, 'to-dir'));
    symlinkSync(join(secret, 'key'), join(src, 'sub', 'to-key'));
    symlinkSync(relative(join(src, 'sub'), join(secret, 'key')), join(src, 'sub', 'rel-key'));
    const r = axo(['cp', src, `${id}:/tmp/linky`]);
    expect(r.code, r.stderr).toBe(0);
    expect(
      inside(
        id,
        'cd /tmp/linky && for l in to-dir sub/to-key sub/rel-key; do readlink $l; done; cat plain; grep -rl SECRET . || true',
      ),
    ).toBe(`${secret}\n${join(secret, 'key')}\n${relative(join(src, 'sub'), join(secret, 'key'))}\nplain`);
  });
});
