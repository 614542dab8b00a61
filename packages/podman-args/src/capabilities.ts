import { z } from 'zod';

/** Linux capabilities by bit number (linux/capability.h), as podman names them without `CAP_`. */
export const CAPABILITY_NAMES = Object.freeze([
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const);

export type Capability = (typeof CAPABILITY_NAMES)[number];

/**
 * What a session keeps after `--cap-drop=ALL`: the least a development container needs,
 * each for a reason shown by trying without it (packages/podman-args README):
 * CHOWN (package installs, useradd, chown), DAC_OVERRIDE (root reading other users' 0600
 * files; apt's `_apt` cache dirs), FOWNER (chmod/touch of others' files), FSETID (setgid
 * bits survive installs), KILL (root signalling other users' processes; the agent's kills),
 * SETGID and SETUID (switching users: su, apt's sandbox, the agent running commands as the
 * session user). podman's default adds SETPCAP, NET_BIND_SERVICE, SYS_CHROOT and SETFCAP;
 * low ports are opened to every user with a sysctl instead of NET_BIND_SERVICE.
 */
export const DEFAULT_CAPABILITIES = Object.freeze([
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
] as const satisfies readonly Capability[]);

/** A capability name, with or without `CAP_`, any case; normalised to podman's spelling. */
export const capabilitySchema = z
  .string()
  .transform((s) => s.toUpperCase().replace(/^CAP_/, ''))
  .refine((s): s is Capability => (CAPABILITY_NAMES as readonly string[]).includes(s), {
    message: 'unknown capability (use names like CHOWN or NET_BIND_SERVICE)',
  });

/** Decodes a capability mask as /proc/<pid>/status prints it (`CapEff: 00000000000000fb`). */
export function decodeCapabilities(hex: string): Capability[] {
  if (!/^[0-9a-f]{1,16}$/i.test(hex)) throw new RangeError(`not a capability mask: ${hex}`);
  const mask = BigInt(`0x${hex}`);
  return CAPABILITY_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The security facts of a process, from its /proc/<pid>/status text. */
export interface ProcessSecurity {
  readonly capEff: string;
  readonly effective: readonly Capability[];
  readonly bounding: readonly Capability[];
  readonly noNewPrivileges: boolean;
  readonly seccomp: 'disabled' | 'strict' | 'filter' | 'unknown';
}

/** Parses /proc/<pid>/status; throws when a field it needs is missing. */
export function parseProcStatus(text: string): ProcessSecurity {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s*(\\S+)\\s*$`, 'm').exec(text);
    if (!m?.[1]) throw new Error(`/proc status has no ${name} line`);
    return m[1];
  };
  const seccomp = ({ '0': 'disabled', '1': 'strict', '2': 'filter' } as const)[field('Seccomp') as '0' | '1' | '2'];
  const capEff = field('CapEff');
  return {
    capEff,
    effective: decodeCapabilities(capEff),
    bounding: decodeCapabilities(field('CapBnd')),
    noNewPrivileges: field('NoNewPrivs') === '1',
    seccomp: seccomp ?? 'unknown',
  };
}
