import { describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE } from './constants';
import { InvalidInputError } from './errors';
import { resolveImage } from './image';

describe('resolveImage', () => {
  it('uses the default when nothing is requested', () => {
    expect(resolveImage(undefined)).toEqual({ image: DEFAULT_IMAGE, requested: undefined });
    expect(resolveImage('')).toEqual({ image: DEFAULT_IMAGE, requested: undefined });
  });

  it('keeps the default image when it is requested', () => {
    expect(resolveImage(DEFAULT_IMAGE)).toEqual({ image: DEFAULT_IMAGE, requested: DEFAULT_IMAGE });
  });

  it('refuses an untrusted image with a warning that says how to opt in', () => {
    const r = resolveImage('evil.example/miner:latest');
    expect(r.image).toBe(DEFAULT_IMAGE);
    expect(r.requested).toBe('evil.example/miner:latest');
    expect(r.warning).toMatch(/evil\.example\/miner:latest/);
    expect(r.warning).toMatch(/allowUntrustedImage/);
  });

  it('keeps an untrusted image when the policy allows it', () => {
    const r = resolveImage('node:22', { allowUntrustedImage: true });
    expect(r).toEqual({ image: 'node:22', requested: 'node:22' });
  });

  it('honours the policy default and trusted list', () => {
    const policy = { defaultImage: 'localhost/axo:base', trustedImages: ['localhost/axo:dev'] };
    expect(resolveImage(undefined, policy).image).toBe('localhost/axo:base');
    expect(resolveImage('localhost/axo:dev', policy)).toEqual({
      image: 'localhost/axo:dev',
      requested: 'localhost/axo:dev',
    });
    expect(resolveImage('alpine', policy).image).toBe('localhost/axo:base');
  });

  it('rejects a malformed reference', () => {
    expect(() => resolveImage('--rm')).toThrow(InvalidInputError);
    expect(() => resolveImage('a b')).toThrow(InvalidInputError);
  });
});
