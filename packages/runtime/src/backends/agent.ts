// The default path: the session's agent forks the command inside the container.
import { AxoError } from '@axo/podman-args/errors';
import type { AgentClient } from '../agent/client';
import { isPaused } from '../agent/pause';
import { signalExitCode } from '../agent/protocol';
import type { ExecExit, ExecProcess, SpawnSpec } from '../process';

/** Extra time the host waits past a command's timeout for the agent's own kill to report. */
const TIMEOUT_GRACE_MS = 30_000;

/**
 * Runs `spec` through the agent. The agent enforces the timeout itself (so it holds even
 * if this process dies) and kills the whole tree, `setsid` and double forks included; this
 * side only gives up on an agent that does not report in time.
 */
export async function spawnViaAgent(client: AgentClient, spec: SpawnSpec): Promise<ExecProcess> {
  const proc = await client.start(
    {
      argv: spec.argv,
      env: spec.env,
      ...(spec.cwd !== undefined && { cwd: spec.cwd }),
      ...(spec.user !== undefined && { user: spec.user }),
      stdin: spec.stdin,
      ...(spec.timeoutMs !== undefined && { timeoutMs: spec.timeoutMs }),
      ...(spec.outputLimit !== undefined && { outputLimit: spec.outputLimit }),
    },
    spec.sinks,
  );
  let aborted = false;
  // The agent enforces the timeout (and leaves out time the session spent paused); this is
  // only a safety net for an agent that never reports, so it waits longer and never fires
  // while the session is paused.
  let guard: NodeJS.Timeout | undefined;
  const arm = (ms: number) => {
    guard = setTimeout(() => {
      if (isPaused(client.endpoint.runDir)) arm(ms);
      else void client.kill(proc.id).catch(() => proc.detach());
    }, ms);
  };
  if (spec.timeoutMs !== undefined) arm(spec.timeoutMs + TIMEOUT_GRACE_MS);
  const exited = proc.exited.then(
    async (exit): Promise<ExecExit> => {
      if (guard) clearTimeout(guard);
      const timedOut = exit?.timedOut === true;
      // Killed, and not by us: is the session going away under it? Ask the agent.
      if (!aborted && !timedOut && (exit?.killed || exit?.signal === 'TERM' || exit?.signal === 'KILL')) {
        const alive = await client.ping(1000).then(
          () => true,
          () => false,
        );
        if (!alive) {
          throw new AxoError(
            'SESSION_ENDED',
            `session ${client.endpoint.sessionId} ended while the command ran (its container was removed or stopped)`,
            { hint: '`axo ls` lists the sessions that still run; `axo up` starts one again.' },
          );
        }
      }
      return {
        exitCode: aborted || timedOut ? null : (exit?.exitCode ?? signalExitCode(exit?.signal) ?? null),
        signal: exit?.signal ?? null,
        timedOut,
        aborted: aborted && !timedOut,
      };
    },
    (error: unknown) => {
      if (guard) clearTimeout(guard);
      throw error;
    },
  );
  exited.catch(() => undefined);
  return {
    via: 'agent',
    stdout: proc.stdout,
    stderr: proc.stderr,
    stdin: proc.stdin,
    exited,
    kill: async () => {
      aborted = true;
      proc.kill();
      // An agent that does not act on the in-stream kill gets a second, separate request.
      const late = setTimeout(() => void client.kill(proc.id).catch(() => proc.detach()), 5000);
      await exited.catch(() => undefined);
      clearTimeout(late);
    },
  };
}
