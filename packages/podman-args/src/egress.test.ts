import { describe, expect, it } from 'vitest';
import { egressCovers, egressEntrySchema, egressListSchema, egressReachesProtected, parseEgressEntry } from './egress';
import { sandboxPolicySchema } from './schemas';

// The full table shared with the Go gateway is tested in @axo/runtime (egress-golden.test.ts),
// which may read @axo/agent's testdata; these are the cases this package decides alone.
describe('egress entries', () => {
  it('spells entries canonically and refuses loose IPv4 forms', () => {
    expect(egressEntrySchema.parse('Deb.Debian.ORG.')).toBe('deb.debian.org');
    expect(egressEntrySchema.parse('[2001:DB8:0:0::1]:5432')).toBe('[2001:db8::1]:5432');
    expect(egressEntrySchema.parse('github.com:1-65535')).toBe('github.com:*');
    for (const bad of ['127.1', '2130706433', '0x7f000001', '0177.0.0.1', '*', 'foo.*.com', 'evil.com:0']) {
      expect(egressEntrySchema.safeParse(bad).success, bad).toBe(false);
    }
    expect(egressEntrySchema.safeParse('10.0.0.1/8').error?.issues[0]?.message).toMatch(/did you mean 10\.0\.0\.0\/8/);
  });

  it('dedupes a list and puts it in the policy', () => {
    expect(egressListSchema.parse(['a.example.com', 'A.example.com.', '10.0.0.0/8'])).toEqual([
      'a.example.com',
      '10.0.0.0/8',
    ]);
    const policy = sandboxPolicySchema.parse({ network: 'allowlist', egress: ['deb.debian.org'] });
    expect(policy).toMatchObject({ network: 'allowlist', egress: ['deb.debian.org'] });
    expect(sandboxPolicySchema.parse({}).egress).toEqual([]);
  });

  it('parses the parts', () => {
    expect(parseEgressEntry('*.example.com:443')).toMatchObject({
      kind: 'suffix',
      name: 'example.com',
      ports: [[443, 443]],
    });
    expect(parseEgressEntry('10.0.0.0/8')).toMatchObject({
      kind: 'prefix',
      prefix: { v6: false, bits: 8 },
      ports: null,
    });
    expect(parseEgressEntry('::ffff:10.0.0.1').canonical).toBe('10.0.0.1');
  });
});

describe('egressCovers (a server caps what clients may ask for)', () => {
  const caps = [
    'deb.debian.org',
    '*.example.com',
    'git.example.org:22',
    '10.0.0.0/8:5432',
    '10.1.0.0/16:5433',
    'x.test:80',
    'x.test:443-444',
  ];
  it.each([
    ['deb.debian.org', true],
    ['deb.debian.org:443', true],
    ['deb.debian.org:8080', false],
    ['a.example.com', true],
    ['*.a.example.com', true],
    ['*.example.com', true],
    ['example.com', false],
    ['evil-example.com', false],
    ['*.com', false],
    ['git.example.org:22', true],
    ['git.example.org', false],
    ['10.1.2.3:5432', true],
    ['10.1.0.0/16:5432', true],
    ['10.0.0.0/7:5432', false],
    ['10.1.2.3:5432-5433', true],
    ['10.2.0.0/16:5432-5433', false],
    ['10.1.2.3', false],
    ['x.test', true],
    ['x.test:80-444', false],
    ['127.0.0.1:8080', false],
  ])('%s → %s', (entry, covered) => {
    expect(egressCovers(caps, entry)).toBe(covered);
  });
});

describe('egressReachesProtected', () => {
  it.each([
    ['127.0.0.1:8080', true],
    ['0.0.0.0/0', false], // a wide entry never opens a protected address
    ['0.0.0.0', true],
    ['10.0.0.0/8', false],
    ['169.254.169.254', true],
    ['::1', true],
    ['::/0', false],
    ['2001:db8::/32', false],
    ['localhost', false],
    ['192.0.2.2', true],
    ['10.88.0.0/16', true],
    ['10.89.0.1', false],
    ['100.100.100.200', true],
    ['[fd00:ec2::254]', true],
    ['[64:ff9b::a9fe:a9fe]', true],
    ['[64:ff9b:1:a9fe:a9:fe00::]', true],
    ['[2002:c000:202::1]', true],
    ['[::a9fe:a9fe]', true],
    ['[64:ff9b::cb00:7150]', false],
    ['64:ff9b::/96', false],
  ])('%s → %s', (entry, protectedRange) => {
    expect(egressReachesProtected(entry, ['192.0.2.2', '10.88.0.0/16'])).toBe(protectedRange);
  });
});
