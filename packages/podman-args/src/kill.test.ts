import { describe, expect, it } from 'vitest';
import { InvalidInputError } from './errors';
import { buildKillTaggedArgs, EXEC_TAG_ENV } from './kill';

describe('buildKillTaggedArgs', () => {
  it('passes the tag and signal as arguments, never inside the script', () => {
    const args = buildKillTaggedArgs('axo-ses-x', 't1-abc');
    expect(args.slice(0, 4)).toEqual(['exec', 'axo-ses-x', 'sh', '-c']);
    expect(args.slice(-3)).toEqual(['sh', `${EXEC_TAG_ENV}=t1-abc`, 'KILL']);
    expect(args[4]).not.toContain('t1-abc');
  });

  it('runs as the tagged user when one is given', () => {
    expect(buildKillTaggedArgs('axo-ses-x', 't', { user: '1000', signal: 'TERM' }).slice(0, 4)).toEqual([
      'exec',
      '--user',
      '1000',
      'axo-ses-x',
    ]);
  });

  it('refuses tags that could match more than one exec', () => {
    expect(() => buildKillTaggedArgs('axo-ses-x', '')).toThrow(InvalidInputError);
    expect(() => buildKillTaggedArgs('axo-ses-x', 'a b')).toThrow(InvalidInputError);
  });
});
