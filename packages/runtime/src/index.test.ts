import { expect, it } from 'vitest';

// A change to these lists is a change to the public API: review it as one.
it('exposes exactly the reviewed public surface', async () => {
  expect(Object.keys(await import('./index')).sort()).toEqual([
    'AgentClient',
    'AgentProcess',
    'AgentTerminal',
    'AxoError',
    'ByteRing',
    'DEFAULT_DEV_TOOLS',
    'DEFAULT_TASK_LOG_BYTES',
    'DEFAULT_TERMINAL_COMMAND',
    'INSTALL_HINT',
    'InvalidInputError',
    'LIFECYCLE_STAGES',
    'PodmanError',
    'SessionSandbox',
    'agentRunRoot',
    'attachOptionsSchema',
    'buildRequestSchema',
    'createPodman',
    'endpointFor',
    'endpointForSync',
    'ensurePodman',
    'execOptionsSchema',
    'lifecycleSchema',
    'listSessions',
    'reapOrphans',
    'removeSessions',
    'sessionRunDir',
    'sessionsOptionsSchema',
    'silentLogger',
    'spawnOptionsSchema',
    'spawnTaskOptionsSchema',
    'startOptionsSchema',
    'terminalOptionsSchema',
  ]);
  // The light entry for short-lived processes: no zod, no execa, no podman.
  expect(Object.keys(await import('./agent/index')).sort()).toEqual([
    'AgentClient',
    'AgentProcess',
    'agentRunRoot',
    'agentSocketPath',
    'endpointFor',
    'endpointForSync',
    'sessionRunDir',
    'signalExitCode',
    'spawnViaAgent',
  ]);
  expect(Object.keys(await import('./testing/index')).sort()).toEqual(['createFakePodman']);
});
