import { LABELS } from '@axo/podman-args';
import { TerminalRegistry } from '@axo/pty';
import { SessionSandbox } from '@axo/runtime';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { terminalSuite } from '@axo/test-utils/terminal-suite';

const gate = podmanGate();
const owner = uniqueOwner('aterm');

// The same terminal behaviour as @axo/pty's node-pty path, on PTYs the agent allocates:
// the server composes both packages, so this is where the agent path is checked.
terminalSuite('terminals on agent PTYs (real container)', gate.ok, async () => {
  const dir = tempDir();
  const sandbox = await SessionSandbox.start({
    sessionId: `${owner}-s`,
    owner,
    workdir: dir.path,
    policy: { defaultImage: TEST_IMAGE },
    provision: false,
  });
  if (sandbox.agent.status !== 'running') throw new Error(`agent not running: ${JSON.stringify(sandbox.agent)}`);
  return {
    registry: new TerminalRegistry({ container: sandbox.container, spawn: (o) => sandbox.openTerminal(o) }),
    processes: (pattern) =>
      podman([
        'exec',
        sandbox.container,
        'sh',
        '-c',
        `ps -o args | grep -v grep | grep -c '${pattern}' || true`,
      ]).trim(),
    cleanup: async () => {
      await sandbox.stop();
      removeContainersByLabel(`${LABELS.owner}=${owner}`);
      dir[Symbol.dispose]();
    },
  };
});
