import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, newSandboxSchema, parseMetadataFilter, resourcesOf } from './control-plane';
import { E2bHttpError } from './errors';
import { networkFor, newSandboxId } from './new-sandbox';

describe('the control plane’s pure parts', () => {
  it('reads the metadata filter as the SDK sends it (encoded pairs, encoded again)', () => {
    const sdk = new URLSearchParams({ [encodeURIComponent('a b')]: encodeURIComponent('c&d'), k: 'v' }).toString();
    expect(parseMetadataFilter(sdk)).toEqual({ 'a b': 'c&d', k: 'v' });
    expect(parseMetadataFilter(undefined)).toEqual({});
  });

  it('pages with an opaque cursor, and refuses one it did not give', () => {
    const token = encodeCursor('2025-01-01T00:00:00.000Z', 'iabc');
    expect(decodeCursor(token)).toEqual(['2025-01-01T00:00:00.000Z', 'iabc']);
    expect(() => decodeCursor('not-a-token')).toThrow(E2bHttpError);
  });

  it('reports a session’s limits when in force, else the host’s', () => {
    const limited = resourcesOf({
      limits: { requested: { memory: '512m', cpus: 1.5, pids: 100 }, applied: true },
    } as never);
    expect(limited).toEqual({ cpuCount: 2, memoryMB: 512 });
    expect(
      resourcesOf({ limits: { requested: { memory: '2g', cpus: 2, pids: 100 }, applied: true } } as never),
    ).toEqual({
      cpuCount: 2,
      memoryMB: 2048,
    });
    const host = resourcesOf(undefined);
    expect(host.cpuCount).toBeGreaterThan(0);
    expect(host.memoryMB).toBeGreaterThan(0);
  });

  it('accepts what SDKs send on create, old and new', () => {
    const v2 = newSandboxSchema.parse({ templateID: 'base', metadata: { a: 'b' }, envVars: {}, mcp: null });
    expect(v2.templateID).toBe('base');
    const legacy = newSandboxSchema.parse({
      templateID: 'base',
      timeout: 300,
      autoPause: false,
      secure: true,
      allow_internet_access: true,
    });
    expect(legacy).toMatchObject({ timeout: 300, allow_internet_access: true });
    expect(newSandboxSchema.safeParse({ templateID: '' }).success).toBe(false);
  });

  it('maps E2B’s network options onto axo’s networks', () => {
    expect(networkFor({ templateID: 'base' })).toEqual({});
    expect(networkFor({ templateID: 'base', allowInternetAccess: false })).toEqual({ network: 'none' });
    expect(networkFor({ templateID: 'base', network: { denyOut: ['0.0.0.0/0'], allowOut: ['pypi.org'] } })).toEqual({
      network: 'allowlist',
      egress: ['pypi.org'],
    });
    expect(() => networkFor({ templateID: 'base', network: { denyOut: ['10.0.0.0/8'] } })).toThrow(/denies either/);
  });

  it('makes sandbox ids shaped like E2B’s', () => {
    const ids = new Set(Array.from({ length: 50 }, newSandboxId));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^i[a-z0-9]{19}$/);
  });
});
