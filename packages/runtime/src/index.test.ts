import { expect, it } from 'vitest';

// A change to these lists is a change to the public API: review it as one.
it('exposes exactly the reviewed public surface', async () => {
  expect(Object.keys(await import('./index')).sort()).toEqual([
    'AxoError',
    'ByteRing',
    'DEFAULT_DEV_TOOLS',
    'DEFAULT_TASK_LOG_BYTES',
    'INSTALL_HINT',
    'InvalidInputError',
    'PodmanError',
    'SessionSandbox',
    'attachOptionsSchema',
    'createPodman',
    'ensurePodman',
    'execOptionsSchema',
    'listSessions',
    'reapOrphans',
    'removeSessions',
    'sessionsOptionsSchema',
    'silentLogger',
    'spawnTaskOptionsSchema',
    'startOptionsSchema',
  ]);
  expect(Object.keys(await import('./testing/index')).sort()).toEqual(['createFakePodman']);
});
