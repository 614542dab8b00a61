import type { SandboxPolicy } from '@axo/podman-args';
import { sessionRunDir } from './agent/paths';
import { gatewayName, readEgressPolicy } from './egress';
import { type GatewayReady, readGatewayReady, restartGateway } from './egress-gateway';
import { containerRunning, type Podman } from './podman';

/**
 * On reattaching to a running session: an allowlisted session's gateway must run (a
 * stopped one is started again; a removed one leaves the session without a way out, which
 * is said). Returns warnings: also when the allowlist asked for differs from the one in
 * force, which reattaching does not change.
 */
export async function ensureGatewayOnReattach(
  podman: Podman,
  sessionId: string,
  policy: SandboxPolicy,
): Promise<{
  warnings: string[];
  /** The running session's allowlist and what its gateway publishes, when it has one. */
  egress?: { entries: string[]; gateway: string; ready: GatewayReady | undefined };
}> {
  const runDir = sessionRunDir(sessionId);
  const current = await readEgressPolicy(runDir);
  if (!current) {
    return {
      warnings:
        policy.network === 'allowlist'
          ? ['the running session has no egress allowlist: it was reused as it is (replace it to apply one)']
          : [],
    };
  }
  const warnings: string[] = [];
  const name = gatewayName(sessionId);
  const running = await containerRunning(podman, name);
  if (running === undefined) {
    warnings.push(`the session's egress gateway ${name} is gone: the session has no way out until it is replaced`);
  } else if (!running) {
    await restartGateway(podman, sessionId, runDir).catch((error: unknown) => {
      warnings.push(`the session's egress gateway ${name} could not be restarted: ${(error as Error).message}`);
    });
  }
  const asked = [...policy.egress].sort().join(' ');
  if (policy.network === 'allowlist' && asked !== [...current.entries].sort().join(' ')) {
    warnings.push(
      `the running session allows ${current.entries.join(', ') || 'nothing'}; the allowlist asked for differs and was not applied (change it with setEgress / axo net set)`,
    );
  }
  return { warnings, egress: { entries: current.entries, gateway: name, ready: await readGatewayReady(runDir) } };
}
