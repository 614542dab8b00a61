import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseEgressEntry } from '@axo/podman-args';
import { describe, expect, it } from 'vitest';

interface Golden {
  valid: { entry: string; canonical: string; kind: string; ports: [number, number][] | null }[];
  invalid: string[];
}

// The same table the Go gateway's tests read (packages/agent/testdata): both sides parse
// entries alike, so what the host validates is what the gateway applies.
const golden = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve('@axo/agent/egress-entries.json'), 'utf8'),
) as Golden;

describe('egress entries (golden table shared with the Go gateway)', () => {
  it.each(golden.valid.map((v) => [v.entry, v] as const))('parses %s', (_entry, v) => {
    const e = parseEgressEntry(v.entry);
    expect({ canonical: e.canonical, kind: e.kind, ports: e.ports }).toEqual({
      canonical: v.canonical,
      kind: v.kind,
      ports: v.ports,
    });
    // Canonical spellings are fixed points.
    expect(parseEgressEntry(e.canonical).canonical).toBe(e.canonical);
  });
  it.each(golden.invalid.map((s) => [s] as const))('refuses %j', (entry) => {
    expect(() => parseEgressEntry(entry)).toThrow(/invalid egress entry/);
  });
});
