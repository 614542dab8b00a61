import { AxoError } from '@axo/podman-args/errors';
import { AgentClient } from './client';
import type { AgentEndpoint } from './connection';
import { agentRunRoot, readToken, readTokenSync, sessionRunDir } from './paths';

/** Whether a session runs its agent, and if not, why. */
export type AgentStatus =
  | { readonly status: 'running'; readonly version: string }
  | { readonly status: 'unavailable'; readonly reason: string };

/**
 * The endpoint of a session's agent from its run dir, when the dir holds a token. Only the
 * run dir axo derives for this session id is accepted: a label naming any other path is
 * ignored, so nothing outside axo's run root is ever read or removed.
 */
export async function endpointFor(sessionId: string, labelledRunDir?: string): Promise<AgentEndpoint | undefined> {
  const runDir = sessionRunDir(sessionId);
  if (labelledRunDir !== undefined && labelledRunDir !== runDir) return undefined;
  const token = await readToken(runDir);
  return token === undefined ? undefined : { runDir, token, sessionId };
}

/** Synchronous twin of endpointFor without a label, for the CLI's fast path (no podman call). */
export function endpointForSync(sessionId: string): AgentEndpoint | undefined {
  const runDir = sessionRunDir(sessionId);
  const token = readTokenSync(runDir);
  return token === undefined ? undefined : { runDir, token, sessionId };
}

/** True when `runDir` is the one axo derives for `sessionId` under the run root. */
export function isOurRunDir(sessionId: string, runDir: string | undefined): boolean {
  return runDir !== undefined && runDir === sessionRunDir(sessionId, agentRunRoot());
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until a freshly started agent answers a ping. Returns why it did not: a socket
 * that never appears, an agent that breaks the protocol, or a container that died.
 */
export async function waitForAgent(
  client: AgentClient,
  options: { readonly timeoutMs?: number; readonly stillRunning: () => Promise<boolean> },
): Promise<AgentStatus> {
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  let delay = 2;
  let lastCheck = performance.now();
  let last: unknown;
  for (;;) {
    try {
      const pong = await client.ping(2000);
      return { status: 'running', version: pong.agent };
    } catch (error) {
      last = error;
      // A socket not made yet, or bound but not yet listening, is normal right after start.
      const transient = AxoError.isInstance(error) && ['AGENT_UNAVAILABLE', 'SESSION_ENDED'].includes(error.code);
      if (!transient) return { status: 'unavailable', reason: (error as Error).message };
    }
    if (performance.now() > deadline) break;
    if (performance.now() - lastCheck > 500) {
      lastCheck = performance.now();
      if (!(await options.stillRunning())) {
        return { status: 'unavailable', reason: 'the container stopped right after it started (the agent exited)' };
      }
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  return {
    status: 'unavailable',
    reason: `the agent did not answer within ${options.timeoutMs ?? 10_000} ms (${(last as Error | undefined)?.message ?? 'no answer'})`,
  };
}

export { AgentClient };
