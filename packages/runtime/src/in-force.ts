// What protection a session really has, read from the host side: container root can fake
// anything read from inside (the agent included), so nothing here asks the container.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Capability, type InspectFacts, parseInspect, parseProcStatus } from '@axo/podman-args';
import { assertOk, type Podman } from './podman';

/** The protections in force for a session's init process, as the host sees them. */
export interface InForce {
  /** Effective capabilities of the container's init (what root in the container holds). */
  readonly capabilities: readonly Capability[];
  /** The bounding set: nothing in the container can gain more than this. */
  readonly boundingCapabilities: readonly Capability[];
  /** CapEff as /proc prints it. */
  readonly capEff: string;
  readonly noNewPrivileges: boolean;
  readonly seccomp: 'disabled' | 'strict' | 'filter' | 'unknown';
  /** Limits the kernel enforces (from the container's cgroup; podman's record when unreadable). */
  readonly limits: {
    readonly memoryBytes: number | null;
    readonly cpus: number | null;
    readonly pids: number | null;
    /** The nproc rlimit standing in for pids where cgroups cannot apply. */
    readonly nproc: number | null;
    readonly source: 'cgroup' | 'podman';
  };
  readonly readOnlyRoot: boolean;
  /** Host addresses and ports published. */
  readonly ports: readonly { readonly hostIp: string; readonly port: number }[];
  /** The user namespace mapping of the init (`0 0 4294967295` is none). */
  readonly uidMap: string;
}

const UNLIMITED_MEMORY = 2 ** 62;

async function read(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

const NONE = { memoryBytes: null, cpus: null, pids: null } as const;

/**
 * Limits from the init's cgroup (v1 or v2); undefined where the files cannot be read. A
 * container without a cgroup of its own (rootless on cgroup v1) has no limits, whatever its
 * parent's cgroup says.
 */
async function cgroupLimits(
  pid: number,
  containerId: string,
): Promise<Omit<InForce['limits'], 'nproc' | 'source'> | undefined> {
  const table = await read(`/proc/${pid}/cgroup`);
  if (!table) return undefined;
  if (!table.includes(containerId)) return NONE;
  const paths = new Map<string, string>();
  for (const line of table.split('\n')) {
    const [, controllers = '', path = ''] = line.split(':');
    for (const c of controllers.split(',')) paths.set(c, path);
  }
  const num = (text: string | undefined) => (text === undefined || text === 'max' ? null : Number(text));
  const v2 = paths.get('');
  if (existsSync('/sys/fs/cgroup/cgroup.controllers') && v2 !== undefined) {
    const dir = join('/sys/fs/cgroup', v2);
    const memory = await read(join(dir, 'memory.max'));
    if (memory === undefined) return undefined;
    const [quota, period] = ((await read(join(dir, 'cpu.max'))) ?? 'max').split(' ');
    return {
      memoryBytes: num(memory),
      pids: num(await read(join(dir, 'pids.max'))),
      cpus: quota === 'max' || !period ? null : Number(quota) / Number(period),
    };
  }
  const memoryPath = paths.get('memory');
  const pidsPath = paths.get('pids');
  if (memoryPath === undefined || pidsPath === undefined) return undefined;
  const memory = await read(join('/sys/fs/cgroup/memory', memoryPath, 'memory.limit_in_bytes'));
  if (memory === undefined) return undefined;
  const cpuPath = paths.get('cpu') ?? '';
  const quota = Number(await read(join('/sys/fs/cgroup/cpu', cpuPath, 'cpu.cfs_quota_us')));
  const period = Number(await read(join('/sys/fs/cgroup/cpu', cpuPath, 'cpu.cfs_period_us')));
  const bytes = Number(memory);
  return {
    memoryBytes: bytes >= UNLIMITED_MEMORY ? null : bytes,
    pids: num(await read(join('/sys/fs/cgroup/pids', pidsPath, 'pids.max'))),
    cpus: quota > 0 && period > 0 ? quota / period : null,
  };
}

/** Reads what is in force for `container`: one podman inspect, then the host's /proc and cgroup files. */
export async function readInForce(podman: Podman, container: string): Promise<InForce> {
  return readInForceOf(await inspectContainer(podman, container));
}

/**
 * The podman half of readInForce: what podman recorded for `container`, with its init's host
 * pid. Split off so a start can run it while the agent comes up; the host's files are read
 * (readInForceOf) only once the init has exec'd, when its seccomp filter is surely in place.
 */
export async function inspectContainer(podman: Podman, container: string): Promise<InspectFacts> {
  const result = await podman.run(['container', 'inspect', '--format', 'json', container], { timeoutMs: 30_000 });
  assertOk(result, 'PODMAN_FAILED', `cannot inspect ${container}`);
  return parseInspect(result.stdout);
}

/** The host half of readInForce: the init's /proc and cgroup files, podman's record where they fail. */
export async function readInForceOf(facts: InspectFacts): Promise<InForce> {
  const [status, cgroup, uidMap] = await Promise.all([
    facts.pid > 0 ? read(`/proc/${facts.pid}/status`) : undefined,
    facts.pid > 0 ? cgroupLimits(facts.pid, facts.id) : undefined,
    read(`/proc/${facts.pid}/uid_map`),
  ]);
  const security = status ? parseProcStatus(status) : undefined;
  return {
    capabilities: security?.effective ?? [],
    boundingCapabilities: security?.bounding ?? [],
    capEff: security?.capEff ?? 'unknown',
    noNewPrivileges: security?.noNewPrivileges ?? false,
    seccomp: security?.seccomp ?? 'unknown',
    limits: cgroup
      ? { ...cgroup, nproc: facts.nproc, source: 'cgroup' }
      : { memoryBytes: facts.memoryBytes, cpus: facts.cpus, pids: facts.pids, nproc: facts.nproc, source: 'podman' },
    readOnlyRoot: facts.readOnlyRoot,
    ports: facts.ports.map((p) => ({ hostIp: p.hostIp, port: p.port })),
    uidMap: (uidMap ?? '').replace(/\s+/g, ' ').trim(),
  };
}
