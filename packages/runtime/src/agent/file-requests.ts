// The request plumbing file operations share: a connection whose agent serves files, a
// deadline for each answer, a connection that closes too early, answers that do not
// belong, and the agent's refusals as FileErrors.
import { AxoError } from '@axo/podman-args/errors';
import type { AgentClient } from './client';
import { type AgentConnection, agentFailed } from './connection';
import { fileError } from './file-error';
import { type AgentMessage, type FileEntry, FrameKind } from './protocol';

export type Request = { readonly type: string } & Record<string, unknown>;

/** The `user` field of a request: left out for the session's own user. */
export const withUser = (o: { readonly user?: string }) => (o.user === undefined ? {} : { user: o.user });

/** Why an aborted operation stopped: the signal's reason, else an AbortError. */
export const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted', 'AbortError');

/** A connection whose agent serves `feature`; an older agent is a clear AGENT_UNAVAILABLE. */
export async function openFor(client: AgentClient, feature: 'files' | 'watch'): Promise<AgentConnection> {
  const conn = await client.open();
  if (conn.hello.features.includes(feature)) return conn;
  conn.destroy();
  const what = feature === 'files' ? 'file operations' : 'file watches';
  throw new AxoError(
    'AGENT_UNAVAILABLE',
    `the agent of session ${conn.endpoint.sessionId} (${conn.hello.agent}) does not serve ${what}`,
    { hint: 'The session was started by an older axo: recreate it (`axo up --replace`).' },
  );
}

/** The connection closed before `op` was done: its own error, else the session went away. */
export function closedEarly(conn: AgentConnection, op: string, path: string, error: Error | undefined): Error {
  if (AxoError.isInstance(error)) return error;
  return new AxoError(
    'SESSION_ENDED',
    `session ${conn.endpoint.sessionId} closed the connection before the ${op} of ${path} was done`,
    { cause: error, hint: '`axo ls` lists the sessions that still run; `axo up` starts one again.' },
  );
}

/** What a frame says when it is not the answer expected: the agent's refusal, or a protocol failure. */
export function unexpected(conn: AgentConnection, op: string, path: string, frame: { kind: number }, m?: AgentMessage) {
  if (m?.type === 'error') return fileError(conn.endpoint, op, path, m);
  return agentFailed(
    conn.endpoint,
    `answered ${op} of ${path} with ${m ? `"${m.type}"` : `a frame of kind ${frame.kind}`}`,
  );
}

/**
 * Failure handling for one exchange: rejects once, on a deadline for the next answer
 * (reset by `alive`), on a connection that closes first, or when called.
 */
export function guard(
  conn: AgentConnection,
  op: string,
  path: string,
  timeoutMs: number,
  reject: (error: Error) => void,
) {
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const fail = (error: Error) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    conn.destroy();
    reject(error);
  };
  const alive = () => {
    if (settled) return;
    clearTimeout(timer);
    timer = setTimeout(
      () => fail(agentFailed(conn.endpoint, `did not answer the ${op} of ${path} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  };
  alive();
  void conn.closed.then((error) => fail(closedEarly(conn, op, path, error)));
  return Object.assign(fail, {
    alive,
    done: () => {
      settled = true;
      clearTimeout(timer);
    },
  });
}

/** One request, one answer (`entry` or `ok`), or the agent's refusal as a FileError. */
export async function unary(
  client: AgentClient,
  op: string,
  path: string,
  request: Request,
  timeoutMs: number,
): Promise<AgentMessage> {
  const conn = await openFor(client, 'files');
  try {
    return await new Promise<AgentMessage>((resolve, reject) => {
      const fail = guard(conn, op, path, timeoutMs, reject);
      conn.onFrame((frame) => {
        const m = frame.kind === FrameKind.msg ? frame.message : undefined;
        if (m?.type === 'entry' || m?.type === 'ok') {
          fail.done();
          resolve(m);
        } else fail(unexpected(conn, op, path, frame, m));
      });
      conn.request(request);
    });
  } finally {
    conn.destroy();
  }
}

/**
 * Sends a streaming request and waits for its first answer; the connection is paused
 * right after it, so what follows waits for the caller's own frame handler.
 */
export function firstAnswer(
  conn: AgentConnection,
  op: string,
  path: string,
  request: Request,
  type: 'entry' | 'ready' | 'watching',
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<AgentMessage> {
  return new Promise((resolve, reject) => {
    const fail = guard(conn, op, path, timeoutMs, reject);
    const onAbort = () => fail(abortError(signal as AbortSignal));
    signal?.addEventListener('abort', onAbort, { once: true });
    conn.onFrame((frame) => {
      conn.pause();
      signal?.removeEventListener('abort', onAbort);
      const m = frame.kind === FrameKind.msg ? frame.message : undefined;
      if (m?.type === type) {
        fail.done();
        resolve(m);
      } else fail(unexpected(conn, op, path, frame, m));
    });
    conn.request(request);
  });
}

/** The entry of an `entry` answer; anything else is a protocol failure. */
export function entryOf(
  conn: { readonly endpoint: AgentConnection['endpoint'] },
  m: AgentMessage,
  op: string,
): FileEntry {
  if (m.type === 'entry') return m.entry;
  throw agentFailed(conn.endpoint, `answered the ${op} with "${m.type}"`);
}
