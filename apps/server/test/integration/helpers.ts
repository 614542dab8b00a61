import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import { removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';
import WebSocket from 'ws';
import { type AxoServer, buildServer, type ServerConfigInput } from '../../src/index';

/** Any endpoint's JSON body: tests assert its shape field by field. */
// biome-ignore lint/suspicious/noExplicitAny: bodies of every endpoint, checked by the assertions themselves
export type Json = any;

export interface TestServer {
  readonly server: AxoServer;
  readonly url: string;
  readonly token: string;
  readonly owner: string;
  /** An allowed root; make session working directories inside it. */
  readonly root: string;
  readonly stateDir: string;
  /** A fresh directory inside the allowed root. */
  workdir(name: string): string;
  /** fetch with the token (unless `token` is given, or null for none). */
  api(
    method: string,
    path: string,
    body?: unknown,
    options?: { token?: string | null; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; type: string; json: Json }>;
  close(): Promise<void>;
}

/** Starts an in-process server on an ephemeral loopback port, with its own state and owner. */
export async function startTestServer(overrides: Partial<ServerConfigInput> = {}): Promise<TestServer> {
  const base = tempDir('axo-server-test-');
  const root = join(base.path, 'root');
  const stateDir = join(base.path, 'state');
  mkdirSync(root);
  const owner = overrides.instanceId ?? uniqueOwner('srv');
  const server = await buildServer({
    host: '127.0.0.1',
    port: 0,
    stateDir,
    allowedRoots: [root],
    instanceId: owner,
    logLevel: 'silent',
    policy: { defaultImage: TEST_IMAGE },
    ...overrides,
  });
  const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const token = server.token.token;
  return {
    server,
    url: address,
    token,
    owner,
    root,
    stateDir,
    workdir(name) {
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    async api(method, path, body, options = {}) {
      const presented = options.token === undefined ? token : options.token;
      const res = await fetch(`${address}${path}`, {
        method,
        headers: {
          ...(presented !== null && { authorization: `Bearer ${presented}` }),
          ...((body !== undefined || options.raw !== undefined) && { 'content-type': 'application/json' }),
          ...options.headers,
        },
        body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const type = res.headers.get('content-type') ?? '';
      const text = await res.text();
      return { status: res.status, type, json: text && type.includes('json') ? JSON.parse(text) : text };
    },
    async close() {
      await server.close();
      removeContainersByLabel(`${LABELS.owner}=${owner}`);
      base[Symbol.dispose]();
    },
  };
}

/** Opens a terminal WebSocket; collects output; resolves once open. */
export function attachTerminal(t: TestServer, sessionId: string, terminalId: string, token: string | null = t.token) {
  const url = `${t.url.replace('http', 'ws')}/v1/sessions/${sessionId}/terminals/${terminalId}/attach`;
  const socket = new WebSocket(
    url,
    ['axo.v1'],
    token === null ? {} : { headers: { authorization: `Bearer ${token}` } },
  );
  let output = '';
  const messages: Array<{ type: string; [k: string]: unknown }> = [];
  socket.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    messages.push(m);
    if (m.type === 'output') output += m.data;
  });
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.once('error', reject);
  });
  return {
    socket,
    opened,
    messages,
    get output() {
      return output;
    },
    send: (m: object) => socket.send(JSON.stringify(m)),
    async waitFor(pattern: RegExp, timeoutMs = 10_000) {
      const started = Date.now();
      while (!pattern.test(output)) {
        if (Date.now() - started > timeoutMs)
          throw new Error(`never saw ${pattern} in ${JSON.stringify(output.slice(-300))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return output;
    },
  };
}
