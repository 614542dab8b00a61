// Sandbox lifecycle through the official E2B SDK on real podman: the SDK's own errors for an
// unknown sandbox and a wrong key, isolation between sandboxes, listing, timeouts, pause and
// resume through connect, and kill (which ends open streams; /health then answers 502).
import { containerName } from '@axo/podman-args';
import { pauseSupport } from '@axo/runtime';
import { podmanGate, podmanResult, TEST_IMAGE } from '@axo/test-utils';
import {
  AuthenticationError,
  CommandExitError,
  NotFoundError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  Secret,
  Template,
  TemplateError,
  TimeoutError,
  Volume,
  VolumeError,
} from 'e2b';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../../src/index';
import { type E2bTestServer, eventually, sleep, startE2bServer } from './setup';

const gate = podmanGate();
/** The state of a sandbox's container (`running`, `paused`), or '' when there is none. */
const containerState = (id: string) =>
  podmanResult(['inspect', '--format', '{{.State.Status}}', containerName(id)]).stdout.trim();

describe.skipIf(!gate.ok)('the E2B SDK against axo-server: sandbox lifecycle (real podman)', () => {
  let t: E2bTestServer;

  beforeAll(async () => {
    t = await startE2bServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('an unknown sandbox is the SDK’s SandboxNotFoundError; killing it answers false', async () => {
    await expect(Sandbox.connect('inotasandbox000000000')).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(Sandbox.getInfo('inotasandbox000000000')).rejects.toBeInstanceOf(NotFoundError);
    await expect(Sandbox.setTimeout('inotasandbox000000000', 1000)).rejects.toBeInstanceOf(SandboxNotFoundError);
    expect(await Sandbox.kill('inotasandbox000000000')).toBe(false);
  });

  it('a wrong API key is AuthenticationError, and creates nothing', async () => {
    const wrong = `e2b_${'0'.repeat(40)}`;
    await expect(Sandbox.create({ apiKey: wrong })).rejects.toBeInstanceOf(AuthenticationError);
    await expect(Sandbox.list({ apiKey: wrong }).nextItems()).rejects.toBeInstanceOf(AuthenticationError);
    // The server's own API is not opened by the E2B routes: a bearer-less call stays 401.
    expect((await t.raw('/v1/sessions')).status).toBe(401);
  });

  it('what axo does not have is the SDK’s own error with a 501, not a missing sandbox or a bad key', async () => {
    const unsupported = /501: axo-server's E2B compatibility does not support/;
    // The routes refuse before looking the sandbox up: no sandbox is needed to see it.
    const id = 'inotasandbox000000000';
    await expect(Sandbox.fork(id)).rejects.toThrow(unsupported);
    await expect(Sandbox.createSnapshot(id)).rejects.toThrow(unsupported);
    await expect(Sandbox.listSnapshots().nextItems()).rejects.toThrow(unsupported);
    await expect(Sandbox.getMetrics(id)).rejects.toThrow(unsupported);
    await expect(Sandbox.updateNetwork(id, { allowOut: ['1.1.1.1'] })).rejects.toThrow(unsupported);
    await expect(Volume.list()).rejects.toBeInstanceOf(VolumeError);
    await expect(Volume.list()).rejects.toThrow(unsupported);
    await expect(Secret.list().nextItems()).rejects.toThrow(unsupported);
    await expect(Template.exists('base')).rejects.toBeInstanceOf(TemplateError);
    await expect(Template.exists('base')).rejects.toThrow(unsupported);
    // MCP gateways need E2B's own gateway image: refused on create.
    await expect(Sandbox.create({ mcp: { exa: { apiKey: 'x' } } })).rejects.toThrow(/400: MCP gateways/);
  });

  it('keeps E2B’s API out of axo’s own OpenAPI document', async () => {
    const doc = await t.api('GET', '/openapi.json');
    const paths = Object.keys(doc.json.paths);
    expect(paths.some((p) => p.startsWith('/v1/'))).toBe(true);
    expect(paths.filter((p) => /sandboxes|process\.Process|filesystem|^\/files|^\/health$/.test(p))).toEqual([]);
  });

  it('an unknown template is a clear 400; `base` and trusted images by name are known', async () => {
    const err = await Sandbox.create('code-interpreter-v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(String((err as Error).message)).toMatch(/400: template "code-interpreter-v1" is not known.*base/);
  });

  it('keeps two sandboxes apart: files, processes and access tokens', async () => {
    const a = await Sandbox.create({ metadata: { suite: 'iso', name: 'a' } });
    const b = await Sandbox.create({ metadata: { suite: 'iso', name: 'b' } });
    try {
      await a.files.write('/home/user/only-a.txt', 'a');
      expect(await b.files.exists('/home/user/only-a.txt')).toBe(false);
      // What axo does not have is a clear error of the SDK's, not a missing sandbox.
      await expect(a.getMetrics()).rejects.toThrow(
        /501: axo-server's E2B compatibility does not support sandbox metrics/,
      );
      const sleeper = await a.commands.run('sleep 30', { background: true });
      expect((await b.commands.list()).map((p) => p.pid)).not.toContain(sleeper.pid);
      expect(await b.commands.kill(sleeper.pid)).toBe(false);
      expect((await a.commands.list()).map((p) => p.pid)).toContain(sleeper.pid);

      // A's envd calls with B's access token are refused (E2B's envd access tokens are per sandbox).
      const infoB = await b.getInfo();
      expect(infoB.sandboxId).toBe(b.sandboxId);
      const tokenB = (await t
        .raw(`/sandboxes/${b.sandboxId}`, { headers: { 'x-api-key': t.key } })
        .then((r) => r.json())) as { envdAccessToken: string };
      const list = (token: string) =>
        t.raw('/process.Process/List', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'e2b-sandbox-id': a.sandboxId, 'x-access-token': token },
          body: '{}',
        });
      expect((await list(tokenB.envdAccessToken)).status).toBe(401);
      expect((await list('')).status).toBe(401);

      // Listing: both, filtered by metadata, paged with X-Next-Token.
      const paginator = Sandbox.list({ query: { metadata: { suite: 'iso' } }, limit: 1 });
      const seen: string[] = [];
      while (paginator.hasNext) seen.push(...(await paginator.nextItems()).map((s) => s.sandboxId));
      expect(seen.sort()).toEqual([a.sandboxId, b.sandboxId].sort());
      const onlyB = await Sandbox.list({ query: { metadata: { name: 'b' } } }).nextItems();
      expect(onlyB.map((s) => s.sandboxId)).toEqual([b.sandboxId]);
      expect(onlyB[0]).toMatchObject({ templateId: 'base', state: 'running', metadata: { suite: 'iso', name: 'b' } });
    } finally {
      await a.kill();
      await b.kill();
    }
  });

  it('setTimeout moves the deadline; at the deadline the sandbox is killed', async () => {
    const sbx = await Sandbox.create({ timeoutMs: 600_000 });
    const before = Date.parse(String((await sbx.getInfo()).endAt.toISOString()));
    expect(before).toBeGreaterThan(Date.now() + 500_000);
    await sbx.setTimeout(3_600_000);
    expect((await sbx.getInfo()).endAt.getTime()).toBeGreaterThan(Date.now() + 3_000_000);
    await sbx.setTimeout(1000);
    await eventually(async () => !(await sbx.isRunning()), 15_000, 'sandbox killed at its deadline');
    await expect(Sandbox.connect(sbx.sandboxId)).rejects.toBeInstanceOf(SandboxNotFoundError);
    await eventually(() => containerState(sbx.sandboxId) === '', 10_000, 'container removed');
  });

  it('kill removes the sandbox, ends its open command streams, and /health answers 502', async () => {
    const sbx = await Sandbox.create();
    const running = await sbx.commands.run('sleep 60', { background: true });
    const waited = running.wait().catch((e: unknown) => e);
    await sleep(200);
    const started = Date.now();
    expect(await sbx.kill()).toBe(true);
    const ended = await waited;
    expect(Date.now() - started).toBeLessThan(10_000);
    // The stream ended with the sandbox: the SDK reports it as its own error, not a result.
    expect(ended).toBeInstanceOf(SandboxError);
    expect(ended).not.toBeInstanceOf(CommandExitError);
    expect(await sbx.isRunning()).toBe(false);
    const health = await t.raw('/health', { headers: { 'e2b-sandbox-id': sbx.sandboxId } });
    expect(health.status).toBe(502);
    expect(containerState(sbx.sandboxId)).toBe('');
    expect(await sbx.kill()).toBe(false);
    // Later envd calls fail as calls to a gone sandbox do on E2B.
    await expect(sbx.commands.run('true')).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(sbx.files.read('/etc/passwd')).rejects.toBeInstanceOf(TimeoutError);
    const listed = await Sandbox.list().nextItems();
    expect(listed.map((s) => s.sandboxId)).not.toContain(sbx.sandboxId);
  });

  it.skipIf(!pauseSupport().supported)('pauses a sandbox, and connect resumes it as it was', async () => {
    const sbx = await Sandbox.create();
    try {
      await sbx.files.write('/home/user/kept.txt', 'still here');
      const bg = await sbx.commands.run('sleep 120', { background: true });
      expect(await sbx.pause()).toBe(true);
      expect(containerState(sbx.sandboxId)).toBe('paused');
      expect((await sbx.getInfo()).state).toBe('paused');
      expect(await sbx.pause()).toBe(false);
      expect(await sbx.isRunning()).toBe(false);
      const listed = await Sandbox.list({ query: { state: ['paused'] } }).nextItems();
      expect(listed.map((s) => s.sandboxId)).toContain(sbx.sandboxId);

      const again = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 120_000 });
      expect(containerState(sbx.sandboxId)).toBe('running');
      expect((await again.getInfo()).state).toBe('running');
      expect((await again.getInfo()).endAt.getTime()).toBeGreaterThan(Date.now() + 100_000);
      expect(await again.files.read('/home/user/kept.txt')).toBe('still here');
      expect((await again.commands.list()).map((p) => p.pid)).toContain(bg.pid);
      expect((await again.commands.run('echo awake')).stdout).toBe('awake\n');

      // An envd call on a paused sandbox resumes it (E2B's auto-resume), with a fresh deadline.
      expect(await again.pause()).toBe(true);
      expect((await again.commands.run('echo auto')).stdout).toBe('auto\n');
      expect((await again.getInfo()).state).toBe('running');
      expect(containerState(sbx.sandboxId)).toBe('running');

      // A paused sandbox can be killed.
      expect(await again.pause()).toBe(true);
    } finally {
      expect(await sbx.kill()).toBe(true);
    }
    expect(containerState(sbx.sandboxId)).toBe('');
  });

  it.skipIf(!pauseSupport().supported)('with onTimeout: pause, the deadline pauses instead of killing', async () => {
    const sbx = await Sandbox.create({ timeoutMs: 1000, lifecycle: { onTimeout: 'pause' } });
    try {
      await eventually(async () => (await sbx.getInfo()).state === 'paused', 15_000, 'paused at the deadline');
      expect(containerState(sbx.sandboxId)).toBe('paused');
      // Paused sandboxes have no deadline: it stays.
      await sleep(1500);
      expect((await sbx.getInfo()).state).toBe('paused');
      const again = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 60_000 });
      expect((await again.commands.run('echo back')).stdout).toBe('back\n');
    } finally {
      await sbx.kill();
    }
  });

  it('a sandbox without internet has no network; envVars reach every command', async () => {
    const sbx = await Sandbox.create({ allowInternetAccess: false, envs: { ONE: '1' } });
    try {
      expect((await sbx.commands.run('echo $ONE')).stdout).toBe('1\n');
      const ifaces = await sbx.commands.run('ls /sys/class/net');
      expect(ifaces.stdout.trim().split('\n')).toEqual(['lo']);
    } finally {
      await sbx.kill();
    }
  });
});

describe.skipIf(!gate.ok || !pauseSupport().supported)('axo’s idle pause under the E2B façade (real podman)', () => {
  it('freezes an idle sandbox without E2B noticing: still running, and any call thaws it', async () => {
    const t = await startE2bServer({ idlePauseMs: 400, reapIntervalMs: 100 });
    try {
      const sbx = await Sandbox.create();
      await eventually(() => containerState(sbx.sandboxId) === 'paused', 15_000, 'idle pause');
      expect((await sbx.getInfo()).state).toBe('running');
      expect(await sbx.isRunning()).toBe(true);
      // The command's output is the proof of the thaw: with a 400 ms idle pause, the
      // container may well be frozen again by the time a podman inspect (slow under load) looks.
      expect((await sbx.commands.run('echo thawed')).stdout).toBe('thawed\n');
      expect(await sbx.kill()).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe.skipIf(!gate.ok)('E2B sandboxes across a server restart (real podman)', () => {
  it('keeps its sandboxes, their tokens and their deadlines', async () => {
    const t = await startE2bServer();
    let second: Awaited<ReturnType<typeof buildServer>> | undefined;
    try {
      const sbx = await Sandbox.create({ metadata: { keep: 'me' } });
      await sbx.files.write('/home/user/before.txt', 'before the restart');
      const endAt = (await sbx.getInfo()).endAt.getTime();
      await t.server.close();
      second = await buildServer({
        host: '127.0.0.1',
        port: 0,
        stateDir: t.stateDir,
        allowedRoots: [t.root],
        instanceId: t.owner,
        token: t.key,
        e2b: true,
        logLevel: 'silent',
        policy: { defaultImage: TEST_IMAGE },
      });
      const url = await second.app.listen({ host: '127.0.0.1', port: 0 });
      process.env.E2B_API_URL = url;
      process.env.E2B_SANDBOX_URL = url;
      // The new server knows the sandbox and its access token (kept in the state directory).
      const moved = await Sandbox.connect(sbx.sandboxId);
      expect(await moved.files.read('/home/user/before.txt')).toBe('before the restart');
      const info = await moved.getInfo();
      expect(info.metadata).toEqual({ keep: 'me' });
      expect(info.endAt.getTime()).toBe(endAt);
      expect((await moved.commands.run('whoami')).stdout).toBe('user\n');
      expect(await moved.kill()).toBe(true);
    } finally {
      await second?.close();
      await t.close();
    }
  });
});
