/** Why podman failed, read from its stderr. Only this module looks at podman's wording. */
export type PodmanFailureKind =
  | 'cgroup'
  | 'port-conflict'
  | 'name-in-use'
  | 'no-such-container'
  | 'container-not-running'
  | 'image-unavailable'
  | 'unknown';

const PORT_CONFLICT_PATTERNS = [
  'port is already allocated',
  'address already in use',
  'bind: address',
  'rootlessport',
  'proxy already running',
  'cannot listen on the tcp port',
];

const CGROUP_PATTERNS = ['cgroup', 'memory.max', 'pids.max', 'cpu.max', 'cpu.cfs_quota', 'memory.limit_in_bytes'];

/** True when podman failed because the host cannot apply cgroup resource limits. */
export function isCgroupError(stderr: string): boolean {
  const lc = stderr.toLowerCase();
  return CGROUP_PATTERNS.some((p) => lc.includes(p));
}

/** True when podman failed because a published host port is taken. */
export function isPortConflict(stderr: string): boolean {
  const lc = stderr.toLowerCase();
  return PORT_CONFLICT_PATTERNS.some((p) => lc.includes(p));
}

/**
 * The host port a conflict message names: the first `:NNNNN` with a value from 1024 to
 * 65535 (lower numbers in such messages are addresses' parts, not our published ports).
 */
export function extractConflictingPort(stderr: string): number | undefined {
  for (const match of stderr.matchAll(/:(\d+)/g)) {
    const digits = match[1] ?? '';
    if (digits.length > 5) continue;
    const port = Number(digits);
    if (port >= 1024 && port <= 65535) return port;
  }
  return undefined;
}

/** Classifies podman's stderr once, so callers branch on a kind, not on wording. */
export function classifyPodmanFailure(stderr: string): PodmanFailureKind {
  const lc = stderr.toLowerCase();
  if (isPortConflict(stderr)) return 'port-conflict';
  if (lc.includes('is already in use') && lc.includes('name')) return 'name-in-use';
  if (lc.includes('no such container') || lc.includes('no container with name or id')) return 'no-such-container';
  if (lc.includes('container state improper') || lc.includes('is not running')) return 'container-not-running';
  if (
    lc.includes('image not known') ||
    lc.includes('initializing source') ||
    lc.includes('manifest unknown') ||
    lc.includes('unable to pull') ||
    lc.includes('pinging container registry')
  ) {
    return 'image-unavailable';
  }
  if (isCgroupError(stderr)) return 'cgroup';
  return 'unknown';
}

/** True when podman failed because the container does not exist or is not running. */
export function isContainerGone(stderr: string): boolean {
  const kind = classifyPodmanFailure(stderr);
  return kind === 'no-such-container' || kind === 'container-not-running';
}
