// An axo-server with the E2B façade on, and the two environment variables (plus the API
// key) that point an unchanged E2B SDK at it — exactly what an E2B user sets.
import { randomBytes } from 'node:crypto';
import type { ServerConfigInput } from '../../../src/index';
import { startTestServer, type TestServer } from '../helpers';

export interface E2bTestServer extends TestServer {
  /** The API key: the operator token, shaped as older SDKs require (`e2b_` + hex). */
  readonly key: string;
  /** fetch against the server with the given headers. */
  raw(path: string, init?: RequestInit): Promise<Response>;
}

/** Starts a test server with E2B on and sets E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY. */
export async function startE2bServer(overrides: Partial<ServerConfigInput> = {}): Promise<E2bTestServer> {
  const key = `e2b_${randomBytes(20).toString('hex')}`;
  const t = await startTestServer({ e2b: true, token: key, ...overrides });
  process.env.E2B_API_URL = t.url;
  process.env.E2B_SANDBOX_URL = t.url;
  process.env.E2B_API_KEY = key;
  delete process.env.E2B_DOMAIN;
  delete process.env.E2B_DEBUG;
  return { ...t, key, raw: (path, init) => fetch(`${t.url}${path}`, init) };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds (or fails after `timeoutMs`). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition') {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await sleep(50);
  }
}
