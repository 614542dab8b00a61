import { describe, expect, it } from 'vitest';
import { DEFAULT_SHELL_COMMAND, spawnTerminalOptionsSchema } from './terminal';

describe('spawnTerminalOptionsSchema', () => {
  it('applies defaults', () => {
    expect(spawnTerminalOptionsSchema.parse({ container: 'axo-ses-x' })).toMatchObject({
      command: DEFAULT_SHELL_COMMAND,
      cols: 80,
      rows: 24,
      term: 'xterm-256color',
      scrollbackBytes: 256 * 1024,
      podman: 'podman',
    });
  });

  it.each([
    [{ cols: 0 }],
    [{ cols: 100_000 }],
    [{ rows: -1 }],
    [{ rows: 1.5 }],
    [{ container: '-it' }],
    [{ command: '' }],
    [{ term: 'xterm; rm -rf /' }],
    [{ scrollbackBytes: 10 }],
  ])('refuses %j', (bad) => {
    expect(spawnTerminalOptionsSchema.safeParse({ container: 'axo-ses-x', ...bad }).success).toBe(false);
  });
});
