import { describe, expect, it } from 'vitest';
import { capabilitySchema, DEFAULT_CAPABILITIES, decodeCapabilities, parseProcStatus } from './capabilities';

describe('capabilities', () => {
  it("decodes podman's default set and axo's from the masks /proc shows", () => {
    expect(decodeCapabilities('00000000800405fb')).toEqual([
      'CHOWN',
      'DAC_OVERRIDE',
      'FOWNER',
      'FSETID',
      'KILL',
      'SETGID',
      'SETUID',
      'SETPCAP',
      'NET_BIND_SERVICE',
      'SYS_CHROOT',
      'SETFCAP',
    ]);
    expect(decodeCapabilities('00000000000000fb')).toEqual([...DEFAULT_CAPABILITIES]);
    expect(decodeCapabilities('0000000000000000')).toEqual([]);
    expect(decodeCapabilities('000001ffffffffff')).toHaveLength(41);
  });

  it('refuses what is not a mask', () => {
    expect(() => decodeCapabilities('zz')).toThrow(RangeError);
    expect(() => decodeCapabilities('')).toThrow(RangeError);
  });

  it('normalises names and refuses unknown ones', () => {
    expect(capabilitySchema.parse('cap_net_raw')).toBe('NET_RAW');
    expect(capabilitySchema.parse('SYS_ADMIN')).toBe('SYS_ADMIN');
    expect(capabilitySchema.safeParse('ROOT').success).toBe(false);
  });

  it('reads the security facts of a process status', () => {
    const status =
      'Name:\tsh\nCapInh:\t0000000000000000\nCapPrm:\t00000000000000fb\nCapEff:\t00000000000000fb\nCapBnd:\t00000000000000fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n';
    expect(parseProcStatus(status)).toEqual({
      capEff: '00000000000000fb',
      effective: [...DEFAULT_CAPABILITIES],
      bounding: [...DEFAULT_CAPABILITIES],
      noNewPrivileges: true,
      seccomp: 'filter',
    });
    expect(() => parseProcStatus('Name:\tx\n')).toThrow(/has no (CapEff|Seccomp) line/);
  });
});
