// Reaching a session's files from a fresh CLI process: through its agent only (the agent
// acts as the session's user inside the container; `podman cp` would act as root and follow
// links the container controls). The fast path loads no podman, zod or execa: only when
// the agent cannot be reached is podman asked why (no such session, or no agent).
import { AxoError, InvalidInputError } from '@axo/podman-args/errors';
import { AgentFiles, FileError } from '@axo/runtime/agent';
import { EXIT } from './exit-codes';
import { agentOf, isNoAgent } from './reach';

/** One side of a copy: a path in a session, a host path, or stdin/stdout. */
export type Location =
  | { readonly kind: 'session'; readonly session: string; readonly path: string }
  | { readonly kind: 'host'; readonly path: string }
  | { readonly kind: 'stdio' };

const SESSION_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/**
 * Parses a `cp` argument the way `podman cp` does: `ID:PATH` is a path in session ID
 * (relative to its working directory; `ID:` is that directory), `-` is stdin or stdout,
 * anything else is a host path. A host path with a colon can be written `./a:b`.
 */
export function parseLocation(arg: string): Location {
  if (arg === '-') return { kind: 'stdio' };
  if (arg.includes('\0')) throw new InvalidInputError('path', 'a path must not contain NUL');
  const colon = arg.indexOf(':');
  const head = arg.slice(0, colon);
  if (colon > 0 && !/^[./~]/.test(arg) && SESSION_ID.test(head)) {
    return { kind: 'session', session: head, path: arg.slice(colon + 1) || '.' };
  }
  return { kind: 'host', path: arg };
}

/** Why session `id` cannot serve files: no such session (exit 4), or one without an agent. */
async function explain(id: string, original?: unknown): Promise<unknown> {
  const [{ attachSession }, { loadSettings }] = await Promise.all([import('./session'), import('./config')]);
  const sandbox = await attachSession(id, (await loadSettings()).owner);
  const agent = sandbox.agent;
  if (agent.status === 'running')
    return original ?? new AxoError('AGENT_UNAVAILABLE', `session ${id} cannot be reached`);
  return new AxoError('AGENT_UNAVAILABLE', `session ${id} has no agent (${agent.reason}), and file copies need it`, {
    hint: 'Recreate the session with its agent: `axo up --replace` (without --no-agent). podman cp is not used: it acts as root and follows links the container controls.',
  });
}

/**
 * The files of session `id`, and a wrapper for the first call on them: an agent that cannot
 * be reached is then explained (unknown session, exit 4; a session without an agent).
 */
export async function sessionFiles(id: string): Promise<{
  readonly files: AgentFiles;
  first<T>(call: () => Promise<T>): Promise<T>;
}> {
  const client = agentOf(id);
  if (!client) throw await explain(id);
  return {
    files: new AgentFiles(client),
    async first(call) {
      try {
        return await call();
      } catch (error) {
        throw isNoAgent(error) ? await explain(id, error) : error;
      }
    },
  };
}

/**
 * A file error (the session's, or the host's own: ENOENT, EACCES …) ends the command with
 * exit 1 and its message — not 4, which means the *session* was not found. Anything else
 * is rethrown for main's handler.
 */
export async function fileFailure(error: unknown): Promise<number> {
  const hostError = error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
  if (!FileError.isInstance(error) && !hostError) throw error;
  const { printError } = await import('./ui');
  printError(error, process.env.AXO_DEBUG === '1');
  return EXIT.failed;
}
