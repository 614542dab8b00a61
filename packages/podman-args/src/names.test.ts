import { describe, expect, it } from 'vitest';
import { AxoError, InvalidInputError } from './errors';
import { containerName } from './names';

describe('containerName', () => {
  it('prefixes a valid id', () => {
    expect(containerName('abc-1.2_3')).toBe('axo-ses-abc-1.2_3');
    expect(containerName('a'.repeat(64))).toBe(`axo-ses-${'a'.repeat(64)}`);
  });

  it.each([
    ['empty', ''],
    ['path traversal', '../x'],
    ['space', 'a b'],
    ['shell metacharacters', 'a;rm -rf /'],
    ['300 characters', 'a'.repeat(300)],
    ['unicode', 'sessión'],
    ['leading dash', '-x'],
    ['leading dot', '.x'],
    ['slash', 'a/b'],
  ])('rejects %s with a typed error', (_, id) => {
    let error: unknown;
    try {
      containerName(id);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(AxoError.isInstance(error)).toBe(true);
    expect((error as AxoError).code).toBe('INVALID_INPUT');
    expect((error as AxoError).message).toMatch(/session id/);
  });

  it('rejects non-strings', () => {
    expect(() => containerName(42 as unknown as string)).toThrow(InvalidInputError);
  });
});
