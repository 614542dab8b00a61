import { AxoError } from '@axo/podman-args';
import { INSTALL_HINT } from './errors';
import { createPodman, type Podman, type PodmanOptions } from './podman';

/** Checks that podman is installed and answering; returns its version. */
export async function ensurePodman(podman: Podman | PodmanOptions = {}): Promise<{ version: string }> {
  const p = createPodman(podman);
  const result = await p.run(['version', '--format', '{{.Client.Version}}'], { timeoutMs: 30_000 });
  if (result.exitCode !== 0) {
    throw new AxoError(
      'PODMAN_MISSING',
      `podman is installed but not answering${result.timedOut ? ' (timed out)' : ''}: ${result.stderr.trim()}`,
      { hint: `${INSTALL_HINT} Then check \`podman info\`.` },
    );
  }
  return { version: result.stdout.trim() };
}
