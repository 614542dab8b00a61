// Reaching a session from a fresh CLI process. With an agent, the socket path follows from
// the session id, so a command costs a connect and no podman call at all; sessions
// without one (created before the agent, or where it could not run) go through podman.
import { AxoError } from '@axo/podman-args/errors';
import { AgentClient, type ExecProcess, endpointForSync, type SpawnSpec, spawnViaAgent } from '@axo/runtime/agent';

/** True for errors that mean "no usable agent here": try the podman path instead. */
export function isNoAgent(error: unknown): boolean {
  return AxoError.isInstance(error) && (error.code === 'AGENT_UNAVAILABLE' || error.code === 'SESSION_ENDED');
}

/** Leaves out `user` when none was asked for (the session's own user then applies). */
export const userOf = (user: string | undefined): { user?: string } => (user === undefined ? {} : { user });

/** The agent client of session `id` when its run dir holds a token (no podman call). */
export function agentOf(id: string): AgentClient | undefined {
  const endpoint = endpointForSync(id);
  return endpoint && new AgentClient(endpoint);
}

/** Starts `spec` in session `id`: through its agent when it has one, else `podman exec`. */
export async function spawnInSession(id: string, spec: SpawnSpec): Promise<ExecProcess> {
  const client = agentOf(id);
  if (client) {
    try {
      return await spawnViaAgent(client, spec);
    } catch (error) {
      if (!isNoAgent(error)) throw error;
    }
  }
  const [{ attachSession }, { loadSettings }] = await Promise.all([import('./session'), import('./config')]);
  const sandbox = await attachSession(id, (await loadSettings()).owner);
  return sandbox.spawn(spec.argv, {
    env: { ...spec.env },
    stdin: spec.stdin,
    ...(spec.cwd !== undefined && { cwd: spec.cwd }),
    ...(spec.user !== undefined && { user: spec.user }),
    ...(spec.timeoutMs !== undefined && { timeoutMs: spec.timeoutMs }),
    ...(spec.sinks && { sinks: spec.sinks }),
  });
}
