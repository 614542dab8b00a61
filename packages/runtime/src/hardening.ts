import { type Capability, memoryBytes, type SandboxPolicy } from '@axo/podman-args';
import type { InForce } from './in-force';
import type { HardeningReport } from './report';

/** What a start asked for, to hold against what is in force. */
export interface Requested {
  readonly policy: SandboxPolicy;
  /** Set when the image asked for was refused and another runs. */
  readonly imageRefused?: string | undefined;
  /** Ports asked for and not published, with why. */
  readonly portsDropped: readonly { readonly port: number; readonly reason: string }[];
  /** Why podman did not apply limits (its own words), when it said so. */
  readonly limitsNote?: string | undefined;
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

/**
 * Holds what was requested against what the host shows is in force, and says in words
 * every way they differ: the report's `differences`, and what `strict` refuses.
 */
export function assessHardening(
  inForce: InForce,
  r: Requested,
): Pick<HardeningReport, 'capabilities' | 'noNewPrivileges' | 'readOnlyRoot' | 'limits' | 'differences'> {
  const { policy } = r;
  const differences: string[] = [];
  if (r.imageRefused) differences.push(r.imageRefused);

  const asked = new Set<Capability>(policy.capabilities);
  for (const cap of asked)
    if (!inForce.capabilities.includes(cap)) differences.push(`capability ${cap} is not in force`);
  for (const cap of inForce.capabilities) {
    if (!asked.has(cap)) differences.push(`capability ${cap} is in force but was not asked for`);
  }
  if (!inForce.noNewPrivileges) differences.push('no-new-privileges is not in force');
  if (inForce.seccomp !== 'filter') differences.push(`seccomp filtering is not in force (mode: ${inForce.seccomp})`);
  if (policy.readOnlyRoot && !inForce.readOnlyRoot) differences.push('the read-only root file system is not in force');

  let applied = true;
  const missing: string[] = [];
  if (policy.limits !== false) {
    const l = inForce.limits;
    const wantMemory = memoryBytes(policy.limits.memory);
    if (l.memoryBytes === null || Math.abs(l.memoryBytes - wantMemory) > 4096) {
      missing.push(
        `memory ${policy.limits.memory} (in force: ${l.memoryBytes === null ? 'none' : mib(l.memoryBytes)})`,
      );
    }
    if (l.cpus === null || Math.abs(l.cpus - policy.limits.cpus) > 0.01) {
      missing.push(`cpus ${policy.limits.cpus} (in force: ${l.cpus ?? 'none'})`);
    }
    if (l.pids === null || l.pids !== policy.limits.pids) {
      missing.push(
        `pids ${policy.limits.pids} (in force: ${l.pids ?? 'none'}${l.nproc !== null ? `; an nproc rlimit of ${l.nproc} stands in as the fork-bomb brake` : ''})`,
      );
    }
    applied = missing.length === 0;
    for (const m of missing) differences.push(`limit ${m}`);
  }
  for (const d of r.portsDropped) differences.push(`port ${d.port} is not published: ${d.reason}`);

  const droppedReason = applied
    ? undefined
    : `${missing.join('; ')}${r.limitsNote ? ` — podman said: ${r.limitsNote}` : ''}`;
  return {
    capabilities: { requested: [...asked], effective: inForce.capabilities },
    noNewPrivileges: inForce.noNewPrivileges,
    readOnlyRoot: { requested: policy.readOnlyRoot, inForce: inForce.readOnlyRoot },
    limits: { requested: policy.limits, applied, ...(droppedReason && { droppedReason }) },
    differences,
  };
}
