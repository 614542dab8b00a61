// Egress allowlist entries, as the Go gateway (packages/agent/internal/egress) parses
// them: both sides read testdata/egress-entries.json in their tests. The gateway makes
// every decision; this side validates what people and clients ask for, spells entries
// canonically, and answers whether one list covers another (a server's cap).
import { z } from 'zod';

/** What an entry matches. */
export type EgressEntryKind = 'name' | 'suffix' | 'prefix';

/** A parsed allowlist entry. */
export interface EgressEntry {
  readonly kind: EgressEntryKind;
  /** `name`: the name; `suffix`: the suffix without `*.`. */
  readonly name?: string;
  /** `prefix`: the address family, network address (as a bigint) and length. */
  readonly prefix?: { readonly v6: boolean; readonly addr: bigint; readonly bits: number };
  /** Inclusive port ranges; null means 80 and 443. */
  readonly ports: readonly (readonly [number, number])[] | null;
  /** The canonical spelling. */
  readonly canonical: string;
}

/** Ports of an entry that names none. */
export const DEFAULT_EGRESS_PORTS = Object.freeze([80, 443] as const);

class EntryError extends Error {}

const fail = (entry: string, why: string): never => {
  throw new EntryError(`invalid egress entry "${entry.length > 80 ? `${entry.slice(0, 80)}…` : entry}": ${why}`);
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseV4(text: string): bigint | undefined {
  if (!IPV4.test(text)) return undefined;
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** Parses an IPv6 address (with an optional embedded IPv4 tail) into 128 bits. */
function parseV6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return undefined;
  let tail: bigint[] = [];
  let head = text;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >> 16n, v4 & 0xffffn];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const parseGroups = (s: string) => {
    if (s === '') return [];
    const groups = s.split(':');
    if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
    return groups.map((g) => BigInt(Number.parseInt(g, 16)));
  };
  let groups: bigint[];
  const parts = head.split('::');
  if (parts.length > 2) return undefined;
  if (parts.length === 2) {
    const left = parseGroups(parts[0] as string);
    const right = parseGroups(parts[1] as string);
    if (!left || !right) return undefined;
    const missing = 8 - left.length - right.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...left, ...Array<bigint>(missing).fill(0n), ...right, ...tail];
  } else {
    const all = parseGroups(head);
    if (!all) return undefined;
    groups = [...all, ...tail];
    if (groups.length !== 8) return undefined;
  }
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** RFC 5952 text of 128 bits (the longest run of two or more zero groups becomes "::"). */
function formatV6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt((7 - i) * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
}

function parsePrefixText(entry: string, text: string, v6: boolean): NonNullable<EgressEntry['prefix']> {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  if (addrText.includes('%')) fail(entry, 'zone indexes are not allowed');
  let addr = v6 ? parseV6(addrText) : parseV4(addrText);
  if (addr === undefined) fail(entry, 'not an IP address');
  let isV6 = v6;
  if (v6 && (addr as bigint) >> 32n === 0xffffn) {
    if (bitsText !== undefined) fail(entry, 'write an IPv4 prefix in IPv4 notation');
    addr = (addr as bigint) & 0xffffffffn;
    isV6 = false;
  }
  const width = isV6 ? 128 : 32;
  let bits = width;
  if (bitsText !== undefined) {
    if (!/^(0|[1-9]\d{0,2})$/.test(bitsText) || Number(bitsText) > width) {
      fail(entry, `the prefix length must be 0-${width}`);
    }
    bits = Number(bitsText);
  }
  const hostMask = (1n << BigInt(width - bits)) - 1n;
  if (((addr as bigint) & hostMask) !== 0n) {
    const masked = (addr as bigint) & ~hostMask;
    fail(
      entry,
      `bits are set past the prefix length (did you mean ${isV6 ? formatV6(masked) : formatV4(masked)}/${bits}?)`,
    );
  }
  return { v6: isV6, addr: addr as bigint, bits };
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

function parsePortSpec(entry: string, spec: string): [number, number] {
  if (spec === '*') return [1, 65535];
  const dash = spec.indexOf('-');
  const lo = parsePort(dash < 0 ? spec : spec.slice(0, dash));
  if (lo === undefined) return fail(entry, 'a port is a number from 1 to 65535, a range LO-HI, or *');
  if (dash < 0) return [lo, lo];
  const hi = parsePort(spec.slice(dash + 1));
  if (hi === undefined || hi < lo) return fail(entry, 'a port range is LO-HI with LO ≤ HI');
  return [lo, hi];
}

/** inet_aton's loose IPv4 forms (127.1, 2130706433, 0x7f000001, 0177.0.0.1): refused in entries. */
function isLooseIPv4(text: string): boolean {
  const parts = text.replace(/\.$/, '').split('.');
  return parts.length <= 4 && parts.every((p) => /^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9]\d*)$/.test(p));
}

function parseName(entry: string, text: string): string {
  const name = text.replace(/\.$/, '').toLowerCase();
  if (name === '') fail(entry, 'empty name');
  if (name.length > 253) fail(entry, 'a DNS name has at most 253 characters');
  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') fail(entry, 'empty label');
    if (label.length > 63) fail(entry, 'a label has at most 63 characters');
    if (!/^[a-z0-9_-]+$/.test(label)) fail(entry, `"${label}" has characters no DNS name has`);
    if (label.startsWith('-') || label.endsWith('-')) fail(entry, 'a label must not start or end with -');
  }
  if (isLooseIPv4(name)) fail(entry, 'write IPv4 addresses as four decimal numbers (like 127.0.0.1)');
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels.at(-1) as string)) fail(entry, 'ends in a number but is not an IPv4 address');
  return name;
}

function formatPrefix(p: NonNullable<EgressEntry['prefix']>): string {
  const addr = p.v6 ? formatV6(p.addr) : formatV4(p.addr);
  return p.bits === (p.v6 ? 128 : 32) ? addr : `${addr}/${p.bits}`;
}

/**
 * Parses an allowlist entry: `host`, `host:port`, `*.suffix[:port]`, `ipv4[/n][:port]`,
 * `ipv6[/n]` or `[ipv6[/n]]:port`; a port is `N`, `LO-HI` or `*`; no port means 80 and
 * 443. Throws InvalidInputError-compatible messages through egressEntrySchema.
 */
export function parseEgressEntry(entry: string): EgressEntry {
  if (entry === '') fail(entry, 'empty');
  if (entry.length > 300) fail(entry, 'longer than 300 characters');
  let host = entry;
  let portSpec: string | undefined;
  let bracketed = false;
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    if (end < 0) fail(entry, 'unterminated [');
    host = entry.slice(1, end);
    const rest = entry.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) fail(entry, 'text after ]');
      portSpec = rest.slice(1);
    }
    if (!host.includes(':')) fail(entry, 'brackets are for IPv6 addresses');
    bracketed = true;
  } else if ((entry.match(/:/g) ?? []).length <= 1) {
    const colon = entry.indexOf(':');
    if (colon >= 0) {
      host = entry.slice(0, colon);
      portSpec = entry.slice(colon + 1);
    }
  }
  const ports = portSpec === undefined ? null : [parsePortSpec(entry, portSpec)];
  let kind: EgressEntryKind;
  let name: string | undefined;
  let prefix: EgressEntry['prefix'];
  if (bracketed || host.includes(':')) {
    kind = 'prefix';
    prefix = parsePrefixText(entry, host, true);
  } else if (/^[\d.]+(\/\d*)?$/.test(host) && (host.split('/')[0]?.match(/\./g) ?? []).length === 3) {
    kind = 'prefix';
    prefix = parsePrefixText(entry, host, false);
  } else if (host.startsWith('*.')) {
    kind = 'suffix';
    name = parseName(entry, host.slice(2));
  } else {
    if (host.includes('*')) fail(entry, 'a wildcard is only allowed as a leading "*." (like *.example.com)');
    kind = 'name';
    name = parseName(entry, host);
  }
  let text = kind === 'prefix' ? formatPrefix(prefix as NonNullable<EgressEntry['prefix']>) : (name as string);
  if (kind === 'suffix') text = `*.${text}`;
  if (ports) {
    if (prefix?.v6) text = `[${text}]`;
    const [lo, hi] = ports[0] as [number, number];
    text += lo === 1 && hi === 65535 ? ':*' : lo === hi ? `:${lo}` : `:${lo}-${hi}`;
  }
  return { kind, ...(name !== undefined && { name }), ...(prefix && { prefix }), ports, canonical: text };
}

/** An allowlist entry, validated and spelled canonically (`Deb.Debian.org.` → `deb.debian.org`). */
export const egressEntrySchema = z.string().transform((value, ctx) => {
  try {
    return parseEgressEntry(value).canonical;
  } catch (error) {
    if (!(error instanceof EntryError)) throw error;
    ctx.addIssue({ code: 'custom', message: error.message });
    return z.NEVER;
  }
});

/** A list of entries, canonical and without duplicates (at most 256). */
export const egressListSchema = z
  .array(egressEntrySchema)
  .max(256, 'at most 256 egress entries')
  .transform((entries) => [...new Set(entries)]);

function hostCovers(cap: EgressEntry, e: EgressEntry): boolean {
  if (e.kind === 'prefix') {
    const p = e.prefix as NonNullable<EgressEntry['prefix']>;
    const q = cap.prefix;
    if (cap.kind !== 'prefix' || !q || q.v6 !== p.v6 || q.bits > p.bits) return false;
    const width = BigInt(p.v6 ? 128 : 32);
    const shift = width - BigInt(q.bits);
    return p.addr >> shift === q.addr >> shift;
  }
  const name = e.name as string;
  if (cap.kind === 'suffix') return name.endsWith(`.${cap.name}`) || (e.kind === 'suffix' && name === cap.name);
  return cap.kind === 'name' && e.kind === 'name' && cap.name === name;
}

function portsOf(e: EgressEntry): (readonly [number, number])[] {
  return e.ports ? [...e.ports] : DEFAULT_EGRESS_PORTS.map((p) => [p, p] as const);
}

/**
 * Whether `caps` allow everything `entry` allows: some entries of caps cover its hosts
 * (a wildcard covers names below it and narrower wildcards; a prefix covers narrower
 * prefixes) and, between them, every port it names.
 */
export function egressCovers(caps: readonly string[], entry: string): boolean {
  const e = parseEgressEntry(entry);
  const ranges = caps
    .map(parseEgressEntry)
    .filter((c) => hostCovers(c, e))
    .flatMap(portsOf)
    .sort((a, b) => a[0] - b[0]);
  return portsOf(e).every(([lo, hi]) => {
    let next = lo;
    for (const [a, b] of ranges) {
      if (a > next) break;
      if (b >= next) next = b + 1;
      if (next > hi) return true;
    }
    return next > hi;
  });
}

/** Ranges only an IP entry inside them opens (the gateway refuses them to names). */
export const PROTECTED_EGRESS_PREFIXES = Object.freeze([
  '127.0.0.0/8',
  '::1',
  '0.0.0.0/8',
  '::',
  '169.254.0.0/16',
  'fe80::/10',
  '224.0.0.0/4',
  'ff00::/8',
  '255.255.255.255',
  // Cloud metadata services outside link-local (AWS IPv6, Alibaba, Azure WireServer).
  'fd00:ec2::254',
  '100.100.100.200',
  '168.63.129.16',
]);

/**
 * Whether an entry opens part of a protected range (loopback, link-local, unspecified,
 * multicast) or of `hostPrefixes` (this host's own addresses and container bridges): the
 * gateway opens those only to an IP entry that lies inside them (a wide entry like
 * 0.0.0.0/0 never does), so this is an entry that lies inside one — what a network-wide
 * `bridge` policy does not grant by itself.
 */
export function egressReachesProtected(entry: string, hostPrefixes: readonly string[] = []): boolean {
  const e = parseEgressEntry(entry);
  if (e.kind !== 'prefix') return false;
  const p = e.prefix as NonNullable<EgressEntry['prefix']>;
  const inside = (x: { v6: boolean; addr: bigint; bits: number }) =>
    [...PROTECTED_EGRESS_PREFIXES, ...hostPrefixes].some((text) => {
      const q = parseEgressEntry(text).prefix as NonNullable<EgressEntry['prefix']>;
      if (q.v6 !== x.v6 || x.bits < q.bits) return false;
      const shift = BigInt(x.v6 ? 128 : 32) - BigInt(q.bits);
      return x.addr >> shift === q.addr >> shift;
    });
  // The gateway opens a protected IPv4 carried in an IPv6 address only to an entry naming
  // that exact IPv6 address: such an entry reaches it.
  const v4 = p.v6 && p.bits === 128 ? embeddedIPv4(p.addr) : undefined;
  return inside(p) || (v4 !== undefined && inside({ v6: false, addr: v4, bits: 32 }));
}

/** The IPv4 address a NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 or IPv4-compatible IPv6 address carries. */
function embeddedIPv4(a: bigint): bigint | undefined {
  const word = (i: number) => Number((a >> BigInt(112 - 16 * i)) & 0xffffn);
  const low32 = a & 0xffffffffn;
  if (a >> 32n === 0x64ff9b0000000000000000n) return low32;
  if (a >> 80n === 0x64ff9b0001n) {
    // RFC 6052 /48: 16 bits before the reserved octet (bits 64–71), 16 after it.
    return (BigInt(word(3)) << 16n) | ((a >> 40n) & 0xffffn);
  }
  if (word(0) === 0x2002) return (a >> 80n) & 0xffffffffn;
  if (a >> 32n === 0n && low32 > 1n) return low32;
  return undefined;
}

/** The environment an allowlisted session gets, so tools use its proxy. */
export const EGRESS_PROXY_URL = 'http://127.0.0.1:3128';
export const EGRESS_PROXY_ENV = Object.freeze({
  HTTP_PROXY: EGRESS_PROXY_URL,
  HTTPS_PROXY: EGRESS_PROXY_URL,
  http_proxy: EGRESS_PROXY_URL,
  https_proxy: EGRESS_PROXY_URL,
  NO_PROXY: 'localhost,127.0.0.1,::1',
  no_proxy: 'localhost,127.0.0.1,::1',
  NODE_USE_ENV_PROXY: '1',
  // git over ssh through the proxy, without touching the user's ssh config.
  GIT_SSH_COMMAND: 'ssh -o ProxyCommand="/.axo/agent connect %h %p"',
} as const);
