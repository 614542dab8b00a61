import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveToken, tokenMatches } from './token';

describe('tokens', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('generates a token once, in a 0600 file, and reuses it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axo-token-'));
    dirs.push(dir);
    const first = await resolveToken(undefined, join(dir, 'state'));
    expect(first.created).toBe(true);
    expect(first.token.length).toBeGreaterThanOrEqual(40);
    expect(statSync(join(dir, 'state', 'token')).mode & 0o777).toBe(0o600);
    const again = await resolveToken(undefined, join(dir, 'state'));
    expect(again).toMatchObject({ token: first.token, created: false });
  });

  it('prefers the configured token and writes nothing', async () => {
    const r = await resolveToken('configured-token-value', '/nonexistent/never-written');
    expect(r).toEqual({ token: 'configured-token-value', created: false, file: undefined });
  });

  it('matches only the exact token', () => {
    expect(tokenMatches('secret-token-1234', 'secret-token-1234')).toBe(true);
    expect(tokenMatches('secret-token-1235', 'secret-token-1234')).toBe(false);
    expect(tokenMatches('secret', 'secret-token-1234')).toBe(false);
    expect(tokenMatches(undefined, 'secret-token-1234')).toBe(false);
    expect(tokenMatches('', 'secret-token-1234')).toBe(false);
  });
});
