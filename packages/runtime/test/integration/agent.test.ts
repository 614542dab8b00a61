// The agent, attacked from inside the container and impersonated from the host side.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LABELS } from '@axo/podman-args';
import {
  DEBIAN_TEST_IMAGE,
  podman,
  podmanGate,
  podmanResult,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/agent/protocol';
import { AgentClient, AxoError, SessionSandbox } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('agent');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!gate.ok)('axo-agent in a real container', () => {
  const dir = tempDir();
  let sandbox: SessionSandbox;
  const inside = (script: string, user?: string) =>
    podmanResult(['exec', ...(user ? ['--user', user] : []), sandbox.container, 'sh', '-c', script]);
  const count = (pattern: string) => inside(`ps -o args | grep -v grep | grep -c '${pattern}' || true`).stdout.trim();

  beforeAll(async () => {
    // Other users must be able to enter the workdir for the tests that run as them.
    chmodSync(dir.path, 0o755);
    sandbox = await SessionSandbox.start({
      sessionId: `${owner}-s`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE, limits: { pids: 512, memory: '512m', cpus: 1 } },
      provision: false,
    });
    expect(sandbox.agent).toMatchObject({ status: 'running' });
  });
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    dir[Symbol.dispose]();
  });

  it('is PID 1, and commands it runs carry the same protections as podman exec gives', async () => {
    expect((await sandbox.exec(['cat', '/proc/1/cmdline'])).stdout.split('\0')[0]).toBe('/.axo/agent');
    const status = (await sandbox.exec(['grep', '-E', '^(CapEff|CapBnd|NoNewPrivs|Seccomp):', '/proc/self/status']))
      .stdout;
    const viaPodman = inside('grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status').stdout;
    expect(status).toBe(viaPodman);
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    expect(status).toMatch(/Seccomp:\s+2/);
  });

  it('a fork loop stops at the pids limit, and a kill still takes every process it made', async () => {
    // The subshell forks until the pids limit refuses; the outer shell then becomes
    // `sleep 60` without forking, so the tree is still alive when the timeout kills it.
    const r = await sandbox.exec(['sh', '-c', '(while :; do sleep 30 & done); exec sleep 60'], { timeoutMs: 3000 });
    expect(r.timedOut).toBe(true);
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    await sleep(300);
    expect(count('sleep 30')).toBe('0');
    expect((await sandbox.exec(['echo', 'alive'])).stdout).toBe('alive\n');
  });

  it('a timeout kills setsid, double-forked and env -i descendants, as root and as another user', async () => {
    for (const user of [undefined, '65534']) {
      const r = await sandbox.exec(
        ['sh', '-c', 'setsid sleep 301 & env -i sh -c "sleep 302 &"; (sh -c "sleep 303 &" &); sleep 30'],
        { timeoutMs: 700, ...(user && { user }) },
      );
      expect(r.timedOut, JSON.stringify(r)).toBe(true);
      await sleep(300);
      expect(count('sleep 30[123]'), `as ${user ?? 'root'}`).toBe('0');
    }
  });

  it('a command that exits normally leaves what it detached running, as podman exec does', async () => {
    // A dev server started in the background, as an agent would (busybox has no nohup).
    const r = await sandbox.exec(['sh', '-c', 'sleep 304 >/dev/null 2>&1 & echo started']);
    expect(r).toMatchObject({ stdout: 'started\n', exitCode: 0 });
    expect(count('sleep 304')).toBe('1');
    inside('pkill -f "sleep 304"');
  });

  it('runs commands as the user asked, with that user’s HOME', async () => {
    const r = await sandbox.exec(['sh', '-c', 'id -u; id -g; echo $HOME'], { user: 'nobody' });
    expect(r.exitCode, JSON.stringify(r)).toBe(0);
    expect(r.stdout).toBe('65534\n65534\n/home\n');
    // A directory that user may not enter is named as the reason, as a shell would fail.
    mkdirSync(join(dir.path, 'private'), { mode: 0o700 });
    const denied = await sandbox.exec(['true'], { user: 'nobody', cwd: join(dir.path, 'private') });
    expect(denied.exitCode).toBe(126);
    expect(denied.stderr).toMatch(/cannot enter the working directory .*private as nobody: Permission denied/);
  });

  it('gives a non-root user nothing: no socket, no token, no agent environment', () => {
    expect(inside('test -S /.axo/run/agent.sock && echo visible').stdout).toBe('visible\n');
    const probe = inside(
      'test -e /.axo/run/agent.sock && echo socket-reachable; cat /.axo/token 2>&1; ' +
        'cat /proc/1/environ 2>&1 | head -c 100; ls /proc/1/fd 2>&1 | head -1',
      '65534',
    );
    expect(probe.stdout).not.toMatch(/socket-reachable/);
    expect(probe.stdout).toMatch(/\/\.axo\/token.*Permission denied/);
    expect(probe.stdout).toMatch(/environ.*Permission denied/);
    expect(probe.stdout).toMatch(/\/proc\/1\/fd.*Permission denied/);
    // Nothing secret on the agent's command line, which everyone can read.
    expect(inside('tr "\\0" " " < /proc/1/cmdline', '65534').stdout).not.toMatch(/[0-9a-f]{64}/);
  });

  it('refuses a client that does not know the token', async () => {
    const client = sandbox.agentClient as AgentClient;
    const impostor = new AgentClient({ ...client.endpoint, token: 'f'.repeat(64) });
    const error = await impostor.list().catch((e: unknown) => e);
    // To the host, a token the agent refuses means the session it knew is gone.
    expect(AxoError.isInstance(error) && error.code).toBe('SESSION_ENDED');
    expect(String(error)).toMatch(/no longer knows this client's token/);
  });

  it('survives kill -9 -1 and kill -9 1 from root inside, and the next exec works', async () => {
    inside('kill -9 -1; kill -9 1; true');
    await sleep(200);
    expect((await sandbox.exec(['echo', 'still-here'])).stdout).toBe('still-here\n');
    expect(podman(['inspect', sandbox.container, '--format', '{{.State.Running}}']).trim()).toBe('true');
  });

  it('runs 50 commands at once', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => sandbox.exec(['sh', '-c', `echo ${i}`])));
    const bad = results.filter((r, i) => r.stdout !== `${i}\n`);
    expect(bad, JSON.stringify(bad.slice(0, 3))).toEqual([]);
  });

  it('keeps a task after the process that started it exits; another process reads it by offset', async () => {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const child = await run(process.execPath, [
      '--import',
      tsx,
      '--conditions=@axo/source',
      join(import.meta.dirname, '..', 'fixtures', 'start-task.ts'),
      sandbox.sessionId,
      owner,
      'for i in 1 2 3 4 5; do echo line-$i; sleep 0.3; done',
    ]);
    const { id, via } = JSON.parse(child.stdout) as { id: string; via: string };
    expect(via).toBe('running');
    const other = await SessionSandbox.attach({ sessionId: sandbox.sessionId, owner });
    await sleep(500);
    const first = await other.taskLog(id);
    expect(first.text).toMatch(/^line-1\n/);
    const done = await other.waitTask(id);
    expect(done).toMatchObject({ status: 'exited', exitCode: 0 });
    const rest = await other.taskLog(id, first.to);
    expect(first.text + rest.text).toBe('line-1\nline-2\nline-3\nline-4\nline-5\n');
  });

  it('refuses to follow a link the container put in place of its socket', async () => {
    using other = tempDir();
    const victim = await SessionSandbox.start({
      sessionId: `${owner}-link`,
      owner,
      workdir: other.path,
      policy: { defaultImage: TEST_IMAGE },
      provision: false,
    });
    podman(['exec', victim.container, 'sh', '-c', 'rm /.axo/run/agent.sock; ln -s /etc/passwd /.axo/run/agent.sock']);
    // A connection made before the swap is to the agent itself and carries on ...
    expect((await victim.exec(['true'])).exitCode).toBe(0);
    // ... but once idle connections are gone (2 s), a new one refuses the link.
    await sleep(2500);
    const error = await victim.exec(['true']).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('AGENT_FAILED');
    expect(String(error)).toMatch(/not a socket/);
    await victim.stop();
  });

  it('runs in the Debian (glibc) image too', async () => {
    using other = tempDir();
    const debian = await SessionSandbox.start({
      sessionId: `${owner}-deb`,
      owner,
      workdir: other.path,
      policy: { defaultImage: DEBIAN_TEST_IMAGE },
      provision: false,
    });
    expect(debian.agent.status).toBe('running');
    const r = await debian.exec(['bash', '-c', 'echo $BASH_VERSION | cut -c1; id -un']);
    expect(r.stdout).toBe('5\nroot\n');
    await debian.stop();
  });
});

/** A socket in the run-dir layout whose "agent" misbehaves as told. */
async function impostor(behaviour: 'garbage' | 'endless' | 'silent' | 'huge-message' | 'hello' | 'hello-then-garbage') {
  const dir = tempDir('axo-impostor-');
  mkdirSync(join(dir.path, 's'), { mode: 0o700 });
  writeFileSync(join(dir.path, 'token'), 'a'.repeat(64), { mode: 0o600 });
  chmodSync(dir.path, 0o700);
  const sockets = new Set<net.Socket>();
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // A well-formed greeting: the host then authenticates, and an impostor learns what it sends.
    if (behaviour === 'hello' || behaviour === 'hello-then-garbage') {
      socket.write(
        encodeMessage({
          type: 'hello',
          protocol: { min: 1, max: 1 },
          agent: 'fake',
          nonce: 'ab'.repeat(32),
          features: [],
        }),
      );
      // Whatever the host says next is recorded; then the impostor hangs up, or answers
      // with a frame of no known kind and keeps the connection open.
      if (behaviour === 'hello') socket.once('data', () => setTimeout(() => socket.destroy(), 100));
      else socket.once('data', () => socket.write(Buffer.from([9, 0, 0, 0, 0])));
    }
    if (behaviour === 'garbage') socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    if (behaviour === 'endless') {
      // A frame header that promises 4 GiB, then bytes forever.
      socket.write(Buffer.from([3, 0xff, 0xff, 0xff, 0xff]));
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk)) {}
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
    }
    if (behaviour === 'huge-message') {
      const header = Buffer.alloc(5);
      header[0] = 1;
      header.writeUInt32BE(1024 * 1024 + 1, 1);
      socket.write(header);
    }
  });
  await new Promise<void>((resolve) => server.listen(join(dir.path, 's', 'agent.sock'), resolve));
  return {
    endpoint: { runDir: dir.path, token: 'a'.repeat(64), sessionId: 'impostor' },
    received: () => Buffer.concat(received),
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
      rmSync(dir.path, { recursive: true, force: true });
    },
  };
}

describe('the host facing an impostor agent', () => {
  it.each(['garbage', 'endless', 'huge-message'] as const)(
    'fails cleanly, without growing, when the agent sends %s',
    async (behaviour) => {
      const fake = await impostor(behaviour);
      try {
        const before = process.memoryUsage().rss;
        const error = await new AgentClient(fake.endpoint).ping().catch((e: unknown) => e);
        expect(AxoError.isInstance(error) && error.code).toBe('AGENT_FAILED');
        expect(process.memoryUsage().rss - before).toBeLessThan(32 * 1024 * 1024);
      } finally {
        fake.close();
      }
    },
  );

  it('fails a command at once when the agent greets well, then answers with garbage', async () => {
    const fake = await impostor('hello-then-garbage');
    try {
      const started = performance.now();
      const error = await new AgentClient(fake.endpoint).start({ argv: ['true'] }).catch((e: unknown) => e);
      expect(AxoError.isInstance(error) && error.code).toBe('AGENT_FAILED');
      expect(String(error)).toMatch(/broke the protocol/);
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      fake.close();
    }
  });

  it('never hands the token to whoever answers on the socket', async () => {
    const fake = await impostor('hello');
    try {
      await new AgentClient(fake.endpoint, { timeoutMs: 500 }).ping().catch(() => undefined);
      const sent = fake.received();
      expect(sent.length).toBeGreaterThan(0); // it did authenticate to the impostor
      expect(sent.includes(Buffer.from('a'.repeat(64)))).toBe(false);
      expect(sent.includes(Buffer.from('a'.repeat(64), 'hex'))).toBe(false);
    } finally {
      fake.close();
    }
  });

  it('gives up on an agent that says nothing, at the connect deadline', async () => {
    const fake = await impostor('silent');
    try {
      const started = performance.now();
      const error = await new AgentClient(fake.endpoint, { timeoutMs: 300 }).ping().catch((e: unknown) => e);
      expect(AxoError.isInstance(error) && error.code).toBe('AGENT_UNAVAILABLE');
      expect(String(error)).toMatch(/did not answer within 300 ms/);
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      fake.close();
    }
  });
});
