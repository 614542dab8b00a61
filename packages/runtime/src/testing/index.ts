import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAKE_PODMAN_SOURCE } from './fake-podman-source';

/** One injected behaviour; the first rule that matches a call answers it. */
export interface FakePodmanRule {
  /** Podman subcommand to match (`run`, `exec`, `rm`, `ps`, …). */
  readonly command?: string;
  /** Every one of these arguments must be present. */
  readonly argsInclude?: readonly string[];
  /** Match at most this many times. @default unlimited */
  readonly times?: number;
  /** Let the real podman run first (it may create things), then answer as below. */
  readonly passthroughFirst?: boolean;
  /** Never answer (a hung podman). */
  readonly hang?: boolean;
  readonly stdout?: string;
  readonly stderr?: string;
  /** @default 0 */
  readonly exitCode?: number;
}

export interface FakePodman {
  /** Path to pass as `podman: { binary }`. */
  readonly binary: string;
  /** Every argv the fake received, in order. */
  calls(): string[][];
  /** Removes the fake's files. */
  [Symbol.dispose](): void;
}

export interface FakePodmanOptions {
  readonly rules: readonly FakePodmanRule[];
  /** The real podman that unmatched calls go to. @default 'podman' */
  readonly realPodman?: string;
}

/**
 * A podman stand-in for faults a real podman cannot show on demand (cgroup errors,
 * hangs, crashes mid-start). Calls no rule matches go to the real podman unchanged.
 */
export function createFakePodman(options: FakePodmanOptions): FakePodman {
  const dir = mkdtempSync(join(tmpdir(), 'axo-fake-podman-'));
  writeFileSync(join(dir, 'rules.json'), JSON.stringify(options.rules));
  writeFileSync(join(dir, 'state.json'), '{}');
  writeFileSync(join(dir, 'calls.log'), '');
  writeFileSync(join(dir, 'fake-podman.mjs'), FAKE_PODMAN_SOURCE);
  const binary = join(dir, 'podman');
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  writeFileSync(
    binary,
    `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(join(dir, 'fake-podman.mjs'))} ${quote(dir)} ${quote(options.realPodman ?? 'podman')} "$@"\n`,
  );
  chmodSync(binary, 0o755);
  return {
    binary,
    calls: () =>
      readFileSync(join(dir, 'calls.log'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as string[]),
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }),
  };
}
