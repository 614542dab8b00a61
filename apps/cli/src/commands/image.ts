import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AxoError } from '@axo/runtime';
import { execa } from 'execa';
import { updateConfigFile } from '../config';
import { writeText } from '../io';
import { color, spinner } from '../ui';

export const BUSYBOX_IMAGE = 'localhost/axo:busybox';
export const DEBIAN_IMAGE = 'localhost/axo:debian';
// Marks the images this command builds, so a rebuild may remove the one it replaced.
const SOURCE_LABEL = 'org.axo.image.source';
// Everything provisioning checks for by default (DEFAULT_DEV_TOOLS: bash git curl less vim)
// is in the image, so a default session starts offline with nothing to install.
const DEBIAN_PACKAGES = ['bash', 'git', 'curl', 'ca-certificates', 'python3', 'less', 'vim', 'procps'];

async function isStatic(path: string): Promise<boolean> {
  const head = await readFile(path).then((b) => b.subarray(0, 4096).toString('latin1'));
  // A dynamic ELF names its interpreter; a static one does not.
  return head.startsWith('\x7fELF') && !head.includes('/ld-linux') && !head.includes('ld-musl');
}

/** Builds a minimal image from the host's static busybox with `podman import`. */
async function buildBusybox(name: string): Promise<void> {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox || !(await isStatic(busybox))) {
    throw new AxoError('INVALID_INPUT', 'no static busybox on this host', { hint: 'apt-get install busybox-static' });
  }
  const root = await mkdtemp(join(tmpdir(), 'axo-image-'));
  try {
    for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'home']) await mkdir(join(root, d));
    await chmod(join(root, 'tmp'), 0o1777);
    await copyFile(busybox, join(root, 'bin', 'busybox'));
    const applets = (await execa(busybox, ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
    for (const applet of applets) await symlink('busybox', join(root, 'bin', applet));
    await writeFile(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/sh\n',
    );
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    const tar = `${root}.tar`;
    await execa('tar', ['--numeric-owner', '-C', root, '-cf', tar, '.']);
    const sha = createHash('sha256')
      .update(await readFile(busybox))
      .digest('hex');
    await execa('podman', [
      'import',
      '--quiet',
      '--change',
      'CMD ["/bin/sh"]',
      '--change',
      `LABEL ${SOURCE_LABEL}=busybox-${sha.slice(0, 12)}`,
      tar,
      name,
    ]);
    await rm(tar, { force: true });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The id `name` points at now, if any. */
async function imageId(name: string): Promise<string | undefined> {
  const r = await execa('podman', ['image', 'inspect', '--format', '{{.Id}}', name], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/**
 * Builds `name` again and removes the image it replaced, when that one was built by this
 * command and nothing else uses it: each rebuild would otherwise leave an untagged copy.
 */
async function rebuild(name: string, build: () => Promise<void>): Promise<void> {
  const before = await imageId(name);
  await build();
  if (before === undefined || before === (await imageId(name))) return;
  const old = await execa(
    'podman',
    ['image', 'inspect', '--format', `{{index .Labels "${SOURCE_LABEL}"}} {{len .RepoTags}}`, before],
    {
      reject: false,
    },
  );
  const [source, tags] = old.stdout.trim().split(' ');
  // Tagged elsewhere, not ours, or in use by a container (rmi refuses): it stays.
  if (old.exitCode === 0 && source && source !== '<no' && tags === '0') {
    await execa('podman', ['rmi', before], { reject: false });
  }
}

/** Builds a Debian development image with mmdebstrap (needs the Debian archive). */
async function buildDebian(name: string, suite: string): Promise<void> {
  const tar = join(await mkdtemp(join(tmpdir(), 'axo-debian-')), 'root.tar');
  try {
    await execa('mmdebstrap', ['--quiet', '--variant=minbase', `--include=${DEBIAN_PACKAGES.join(',')}`, suite, tar]);
    await execa('podman', [
      'import',
      '--quiet',
      '--change',
      'CMD ["/bin/bash"]',
      '--change',
      `LABEL ${SOURCE_LABEL}=debian-${suite}`,
      tar,
      name,
    ]);
  } finally {
    await rm(join(tar, '..'), { recursive: true, force: true });
  }
}

export interface BootstrapOptions {
  readonly debian?: boolean;
  readonly suite: string;
  readonly json?: boolean;
}

/** `axo image bootstrap`: builds local images without any registry and trusts the best one. */
export async function bootstrap(o: BootstrapOptions): Promise<number> {
  const hasMmdebstrap = (await execa('sh', ['-c', 'command -v mmdebstrap'], { reject: false })).exitCode === 0;
  const wantDebian = o.debian ?? hasMmdebstrap;
  if (o.debian && !hasMmdebstrap) {
    throw new AxoError('INVALID_INPUT', 'mmdebstrap is needed for the Debian image', {
      hint: 'apt-get install mmdebstrap',
    });
  }
  const built: string[] = [];
  const progress = spinner(`building ${BUSYBOX_IMAGE} from the host's busybox`);
  try {
    await rebuild(BUSYBOX_IMAGE, () => buildBusybox(BUSYBOX_IMAGE));
    built.push(BUSYBOX_IMAGE);
    if (wantDebian) {
      progress.update(
        `building ${DEBIAN_IMAGE} (Debian ${o.suite} with ${DEBIAN_PACKAGES.join(', ')}) — about a minute`,
      );
      await rebuild(DEBIAN_IMAGE, () => buildDebian(DEBIAN_IMAGE, o.suite));
      built.push(DEBIAN_IMAGE);
    }
  } finally {
    progress.stop();
  }
  const defaultImage = built.at(-1) as string;
  await updateConfigFile((c) => ({
    ...c,
    defaultImage,
    trustedImages: [...new Set([...(c.trustedImages ?? []), ...built])],
  }));
  if (o.json) {
    writeText(1, `${JSON.stringify({ built, defaultImage }, null, 2)}\n`);
  } else {
    for (const image of built) writeText(1, `${color.green('✔')} built ${image}\n`);
    writeText(1, `default image is now ${color.bold(defaultImage)} (trusted)\n`);
    if (!wantDebian) writeText(1, color.dim('install mmdebstrap for a Debian image with git, curl and python3\n'));
  }
  return 0;
}
