import { describe, expect, it } from 'vitest';
import { PodmanError, summarizeStderr } from './errors';

describe('summarizeStderr', () => {
  it("keeps podman's verdict, not its progress lines", () => {
    const stderr =
      'Trying to pull docker.io/library/node:22...\nError: initializing source docker://node:22: pinging container registry registry-1.docker.io: dial tcp: lookup registry-1.docker.io: no such host\n';
    expect(summarizeStderr(stderr)).toBe(
      'initializing source docker://node:22: pinging container registry registry-1.docker.io: dial tcp: lookup registry-1.docker.io: no such host',
    );
    expect(summarizeStderr('just one line\n')).toBe('just one line');
    expect(summarizeStderr('')).toBe('');
  });

  it('builds messages from the summary and keeps the full stderr', () => {
    const stderr = 'progress\nError: boom\n';
    const e = new PodmanError('START_FAILED', 'cannot start x', {
      command: 'podman run',
      exitCode: 125,
      signal: undefined,
      stderr,
      timedOut: false,
    });
    expect(e.message).toBe('cannot start x: boom');
    expect(e.stderr).toBe(stderr);
    expect(e.code).toBe('START_FAILED');
  });
});
