// axo-server for the client's tests: run from its sources in a child process (the client
// depends on no server code), on a free loopback port, with its own state and owner.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeContainersByLabel, TEST_IMAGE, tempDir, uniqueOwner } from '@axo/test-utils';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

export interface ChildServer {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  workdir(name: string): string;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startServer(env: Record<string, string> = {}): Promise<ChildServer> {
  const base = tempDir('axo-client-test-');
  const root = join(base.path, 'root');
  mkdirSync(root);
  const owner = uniqueOwner('cli');
  const token = `client-test-${owner}-token`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@axo/source', 'apps/server/src/bin.ts'],
    {
      cwd: repo,
      env: {
        ...process.env,
        AXO_TOKEN: token,
        AXO_SERVER_HOST: '127.0.0.1',
        AXO_SERVER_PORT: String(port),
        AXO_SERVER_STATE_DIR: join(base.path, 'state'),
        AXO_SERVER_ROOTS: root,
        AXO_SERVER_DEFAULT_IMAGE: TEST_IMAGE,
        AXO_SERVER_INSTANCE_ID: owner,
        AXO_SERVER_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  for (let i = 0; ; i++) {
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (i > 300 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('axo-server did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    token,
    pid: child.pid as number,
    workdir(name) {
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        // Shutdown waits for open connections; the test's own fetch pool may hold one that
        // never sent a request (Node then waits for its headers timeout).
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      removeContainersByLabel(`io.axo.owner=${owner}`);
      base[Symbol.dispose]();
    },
  };
}
