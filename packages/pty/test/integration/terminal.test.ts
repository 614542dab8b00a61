import { buildRunArgs, LABELS } from '@axo/podman-args';
import { podman, podmanGate, removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import { terminalSuite } from '@axo/test-utils/terminal-suite';
import { TerminalRegistry } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('pty');

// node-pty over `podman exec -it`: the fallback path. The agent path runs the same suite
// in apps/server (which may depend on both @axo/pty and @axo/runtime).
terminalSuite('terminals over podman exec -it (node-pty, real container)', gate.ok, async () => {
  const dir = tempDir();
  const sessionId = `${owner}-s`;
  const container = `axo-ses-${sessionId}`;
  podman(buildRunArgs({ sessionId, owner, workdir: dir.path, image: TEST_IMAGE }));
  return {
    registry: new TerminalRegistry({ container }),
    processes: (pattern) =>
      podman(['exec', container, 'sh', '-c', `ps -o args | grep -v grep | grep -c '${pattern}' || true`]).trim(),
    cleanup: () => {
      removeContainersByLabel(`${LABELS.owner}=${owner}`);
      dir[Symbol.dispose]();
    },
  };
});
