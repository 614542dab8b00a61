// Which links on a host path `axo cp` may follow. A session's workdir is bind-mounted
// read-write into its container, so any link inside it may have been put there by the
// session — to point our reads or writes at /etc, or at a secret. The rule: a link on the
// host side of a copy is followed only when the directory holding it lies outside every axo
// session's workdir (running or stopped, of any owner this podman knows). A link you made
// in your home directory is followed; one inside a workdir is refused, with a hint to name
// its target yourself. The sessions are listed (one `podman ps`) only when a path actually
// holds a link, so ordinary copies cost no podman call.
import { closeSync, constants, fstatSync, openSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AxoError } from '@axo/podman-args/errors';
import { type LinkGuard, O_PATH, under } from './cp-host';

/** A host directory a session can write to, and the session. */
export interface Workdir {
  readonly session: string;
  readonly path: string;
}

const { O_DIRECTORY } = constants;
const keyOf = (st: { dev: bigint; ino: bigint }) => `${st.dev}:${st.ino}`;

/** Every axo session's workdir, from the labels podman keeps (no owner filter: all are hostile to us). */
async function sessionWorkdirs(): Promise<Workdir[]> {
  const [{ createPodman }, { buildPsArgs, parseManagedContainers }] = await Promise.all([
    import('@axo/runtime'),
    import('@axo/podman-args'),
  ]);
  const result = await createPodman().run(buildPsArgs(), { timeoutMs: 60_000 });
  if (result.exitCode !== 0) {
    throw new AxoError('PODMAN_FAILED', `cannot list the sessions: ${result.stderr.trim() || 'podman ps failed'}`, {
      hint: 'axo follows a link on a host path only once it knows the link is outside every session’s workdir. Name the path without the link.',
    });
  }
  return parseManagedContainers(result.stdout)
    .filter((c) => c.workdir !== '')
    .map((c) => ({ session: c.sessionId, path: c.workdir }));
}

/**
 * The workdir among `roots` (keyed by device and inode) that directory `dirFd` is, or lies
 * below: found by walking `..` up from the directory itself, so neither its name nor a bind
 * mount that shows it elsewhere can hide it.
 */
export function workdirHolding(dirFd: number, roots: ReadonlyMap<string, Workdir>): Workdir | undefined {
  let fd = openSync(under(dirFd), O_PATH | O_DIRECTORY);
  try {
    for (;;) {
      const st = fstatSync(fd, { bigint: true });
      const hit = roots.get(keyOf(st));
      if (hit) return hit;
      const up = openSync(under(fd, '..'), O_PATH | O_DIRECTORY);
      closeSync(fd);
      fd = up;
      const parent = fstatSync(fd, { bigint: true });
      if (parent.dev === st.dev && parent.ino === st.ino) return undefined;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The guard for a host path of `axo cp`: refuses a link inside any session's workdir.
 * `list` is where the workdirs come from (podman by default), asked at most once.
 */
export function workdirGuard(list: () => Promise<readonly Workdir[]> = sessionWorkdirs): LinkGuard {
  let roots: Promise<Map<string, Workdir>> | undefined;
  const load = async () => {
    const map = new Map<string, Workdir>();
    for (const workdir of await list()) {
      try {
        map.set(keyOf(statSync(workdir.path, { bigint: true })), workdir);
      } catch {
        // A workdir that is gone holds nothing to fear.
      }
    }
    return map;
  };
  return async (dirFd, name) => {
    roots ??= load();
    const workdir = workdirHolding(dirFd, await roots);
    if (workdir === undefined) return;
    const link = join(readlinkSync(under(dirFd).slice(0, -1)), name);
    throw new AxoError(
      'PERMISSION_DENIED',
      `${link} is a symbolic link inside the workdir of session ${workdir.session} (${workdir.path}), which that session can change: axo does not follow it`,
      {
        hint: 'Use a host path outside the session’s workdir, or name the link’s target yourself (see `realpath`) if you trust where it points.',
      },
    );
  };
}
