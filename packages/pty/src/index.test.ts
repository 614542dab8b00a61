import { expect, it } from 'vitest';

// A change to this list is a change to the public API: review it as one.
it('exposes exactly the reviewed public surface', async () => {
  expect(Object.keys(await import('./index')).sort()).toEqual([
    'DEFAULT_SCROLLBACK_BYTES',
    'DEFAULT_SHELL_COMMAND',
    'PtyTerminal',
    'TERMINAL_LIMITS',
    'TerminalRegistry',
    'loadNodePty',
    'spawnTerminalOptionsSchema',
  ]);
});
