// The server's cap on what a client may ask of the egress allowlist.
import { networkInterfaces } from 'node:os';
import { egressCovers, egressListSchema, egressReachesProtected, type SandboxPolicy } from '@axo/podman-args';
import { ApiError } from './problem';

const BRIDGES = ['cni-podman', 'podman', 'docker', 'br-', 'virbr', 'cni0'];

/** This host's own addresses, and the subnets of its container bridges (what the gateway guards too). */
export function hostEgressPrefixes(): string[] {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const bridge = BRIDGES.some((p) => name.startsWith(p));
    for (const a of addrs ?? []) {
      const addr = a.address.replace(/%.*$/, '');
      out.push(addr);
      if (bridge && a.cidr && !addr.startsWith('fe80:')) {
        const [, bits] = a.cidr.split('/');
        out.push(maskedPrefix(addr, Number(bits), a.family === 'IPv6'));
      }
    }
  }
  return out.filter((p) => p !== '');
}

function maskedPrefix(addr: string, bits: number, v6: boolean): string {
  if (!v6) {
    const n = addr.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
    const masked = n & ~((1n << BigInt(32 - bits)) - 1n);
    return `${[24n, 16n, 8n, 0n].map((s) => String((masked >> s) & 0xffn)).join('.')}/${bits}`;
  }
  // IPv6 bridges are rare; their own address stands in (the gateway guards each host address).
  return addr;
}

const deny = (message: string, hint?: string) => new ApiError(403, 'POLICY_DENIED', message, { hint });

/**
 * Checks a client's allowlist against the server's policy: under an `allowlist` server
 * every entry must be covered by the server's `egress`; under a `bridge` server anything
 * goes but entries that open this host's loopback, link-local, own or container-bridge
 * addresses (which `bridge` never reaches), unless the server's `egress` covers them.
 * Returns the canonical list; 400 for a malformed entry, 403 beyond the cap.
 */
export function capEgress(
  policy: SandboxPolicy,
  asked: readonly string[],
  hostPrefixes = hostEgressPrefixes(),
): string[] {
  const parsed = egressListSchema.safeParse(asked);
  if (!parsed.success) {
    throw new ApiError(400, 'INVALID_INPUT', parsed.error.issues[0]?.message ?? 'invalid egress entries');
  }
  const entries = parsed.data;
  const beyond = entries.filter((e) =>
    policy.network === 'allowlist'
      ? !egressCovers(policy.egress, e)
      : egressReachesProtected(e, hostPrefixes) && !egressCovers(policy.egress, e),
  );
  if (beyond.length > 0) {
    throw deny(
      `egress ${beyond.join(', ')} ${beyond.length === 1 ? 'is' : 'are'} beyond this server's policy`,
      policy.network === 'allowlist'
        ? `This server allows at most: ${policy.egress.join(', ') || 'nothing'}.`
        : 'Entries that reach this host itself (loopback, link-local, its own or its containers’ addresses) must be in the server’s egress list.',
    );
  }
  return entries;
}

/**
 * The network and allowlist a client gets: it may narrow the server's network (bridge >
 * allowlist > none), never widen it.
 */
export function narrowNetwork(
  policy: SandboxPolicy,
  asked: { network?: SandboxPolicy['network']; egress?: readonly string[] },
): { network: SandboxPolicy['network']; egress: string[] } {
  const network = asked.network ?? (asked.egress !== undefined ? 'allowlist' : policy.network);
  if (asked.egress !== undefined && network !== 'allowlist') {
    throw new ApiError(400, 'INVALID_INPUT', 'egress entries apply only to network "allowlist"');
  }
  const rank = { none: 0, allowlist: 1, bridge: 2 } as const;
  if (rank[network] > rank[policy.network]) {
    throw deny(
      policy.network === 'none'
        ? 'this server gives sessions no network'
        : `this server gives sessions at most an egress allowlist, not network "${network}"`,
    );
  }
  if (network !== 'allowlist') return { network, egress: [] };
  // No list asked for: the server's own (under a bridge server: nothing until asked).
  const egress = asked.egress ?? (policy.network === 'allowlist' ? policy.egress : []);
  return { network, egress: capEgress(policy, egress) };
}
