import { sandboxPolicySchema } from '@axo/podman-args';
import { describe, expect, it } from 'vitest';
import { capEgress, narrowNetwork } from './egress';
import type { ApiError } from './problem';

const policy = (p: object) => sandboxPolicySchema.parse(p);
const status = (fn: () => unknown) => {
  try {
    fn();
    return 200;
  } catch (error) {
    return (error as ApiError).status;
  }
};

describe('the server caps the egress a client may ask for', () => {
  const allowlist = policy({ network: 'allowlist', egress: ['deb.debian.org', '*.example.com:443'] });
  const bridge = policy({ network: 'bridge', egress: ['127.0.0.1:9000'] });
  const none = policy({ network: 'none' });

  it('under an allowlist server: only what its list covers', () => {
    expect(narrowNetwork(allowlist, {})).toEqual({
      network: 'allowlist',
      egress: ['deb.debian.org', '*.example.com:443'],
    });
    expect(narrowNetwork(allowlist, { egress: ['a.example.com:443', 'Deb.debian.org.'] }).egress).toEqual([
      'a.example.com:443',
      'deb.debian.org',
    ]);
    expect(status(() => narrowNetwork(allowlist, { egress: ['registry.npmjs.org'] }))).toBe(403);
    expect(status(() => narrowNetwork(allowlist, { egress: ['a.example.com'] }))).toBe(403); // port 80 too
    expect(status(() => narrowNetwork(allowlist, { network: 'bridge' }))).toBe(403);
    expect(narrowNetwork(allowlist, { network: 'none' })).toEqual({ network: 'none', egress: [] });
    expect(status(() => narrowNetwork(allowlist, { egress: ['127.1'] }))).toBe(400);
  });

  it('under a bridge server: anything but this host, unless its list says so', () => {
    expect(narrowNetwork(bridge, { egress: ['registry.npmjs.org', '10.0.0.0/8:5432'] }).network).toBe('allowlist');
    expect(narrowNetwork(bridge, { network: 'allowlist' }).egress).toEqual([]);
    expect(status(() => capEgress(bridge, ['127.0.0.1:7878'], []))).toBe(403);
    expect(status(() => capEgress(bridge, ['169.254.169.254'], []))).toBe(403);
    expect(status(() => capEgress(bridge, ['192.0.2.2:22'], ['192.0.2.2']))).toBe(403);
    expect(capEgress(bridge, ['127.0.0.1:9000'], [])).toEqual(['127.0.0.1:9000']);
    expect(capEgress(bridge, ['0.0.0.0/0'], [])).toEqual(['0.0.0.0/0']);
  });

  it('under a none server: nothing', () => {
    expect(status(() => narrowNetwork(none, { network: 'allowlist' }))).toBe(403);
    expect(status(() => narrowNetwork(none, { egress: [] }))).toBe(403);
    expect(status(() => narrowNetwork(bridge, { network: 'none', egress: ['a.b'] }))).toBe(400);
  });
});
