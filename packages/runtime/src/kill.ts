import { buildKillTaggedArgs } from '@axo/podman-args';
import type { Podman } from './podman';

/**
 * Kills, inside the container, every process tagged `tag`, and repeats until the local
 * podman client has exited. A single scan is not enough: right after a spawn the process
 * may not exist in the container yet, and would start after the scan and live on.
 * As a last resort the local client is killed too.
 */
export async function killTaggedUntilExit(
  podman: Podman,
  container: string,
  tag: string,
  exited: Promise<unknown>,
  options: { readonly user?: string; readonly killClient: () => void; readonly deadlineMs?: number },
): Promise<void> {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  while (!done && Date.now() < deadline) {
    await podman
      .run(buildKillTaggedArgs(container, tag, { user: options.user }), { timeoutMs: 10_000 })
      .catch(() => undefined);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 250))]);
  }
  if (!done) options.killClient();
  await exited;
}
