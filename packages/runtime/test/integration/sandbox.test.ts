import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LABELS } from '@axo/podman-args';
import {
  containersByLabel,
  podman,
  podmanGate,
  podmanResult,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { AxoError, SessionSandbox, type StartOptions } from '../../src/index';
import { createFakePodman } from '../../src/testing/index';

const gate = podmanGate();
const owner = uniqueOwner('runtime');
// Rootless podman on cgroup v1 drops limits (with a warning); the report must say so.
const limitsHold = process.getuid?.() === 0 || existsSync('/sys/fs/cgroup/cgroup.controllers');
const policy = { defaultImage: TEST_IMAGE };

let counter = 0;
// Every behaviour below holds on both paths: through the agent, and a podman exec per command.
describe.skipIf(!gate.ok).each([
  ['agent', true],
  ['podman exec', false],
] as const)('SessionSandbox via %s (real podman)', (_via, agent) => {
  async function startSandbox(workdir: string, extra: Partial<StartOptions> = {}) {
    counter += 1;
    return SessionSandbox.start({
      sessionId: `${owner}-${counter}`,
      owner,
      workdir,
      policy,
      provision: false,
      agent,
      ...extra,
    });
  }
  const inContainer = (sandbox: SessionSandbox, pattern: string) =>
    podmanResult([
      'exec',
      sandbox.container,
      'sh',
      '-c',
      `ps -o args | grep -v grep | grep -c '${pattern}' || true`,
    ]).stdout.trim();

  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it('starts a hardened container and reports what applied', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path, { ports: [39_301] });
    const report = sandbox.report;
    expect(report).toMatchObject({
      sessionId: sandbox.sessionId,
      container: `axo-ses-${sandbox.sessionId}`,
      owner,
      workdir: dir.path,
      reattached: false,
      image: { requested: undefined, used: TEST_IMAGE },
      network: 'bridge',
      limits: { requested: { memory: '2g', cpus: 2, pids: 512 }, applied: limitsHold },
      ports: { requested: [39_301], published: [{ hostIp: '127.0.0.1', port: 39_301 }], dropped: [] },
      noNewPrivileges: true,
      agent: agent
        ? { status: 'running', version: expect.any(String) }
        : { status: 'unavailable', reason: expect.stringMatching(/turned off/) },
      provisioning: { status: 'disabled' },
      differences: limitsHold ? [] : expect.arrayContaining([expect.stringMatching(/^limit memory 2g/)]),
    });
    expect(report?.warnings).toEqual(limitsHold ? [] : [expect.stringMatching(/resource limits are not in force/)]);
    if (limitsHold) {
      const inspect = podman([
        'inspect',
        sandbox.container,
        '--format',
        '{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}',
      ]);
      expect(inspect.trim()).toBe(`512 ${2 * 1024 ** 3}`);
    }
    await sandbox.stop();
  });

  it('refuses an untrusted image and says so in the report', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path, { image: 'docker.io/library/evil:latest' });
    expect(sandbox.report?.image.used).toBe(TEST_IMAGE);
    expect(sandbox.report?.image.refusedReason).toMatch(/evil:latest.*allowUntrustedImage/);
    expect(sandbox.report?.warnings.filter((w) => w.includes('evil:latest'))).toHaveLength(1);
    await sandbox.stop();
  });

  it('runs commands: output, exit codes as results, env, cwd and files on the host', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path);
    const ok = await sandbox.exec(['sh', '-c', 'echo out; echo err >&2; pwd; echo "$GREETING"'], {
      env: { GREETING: 'hi there' },
    });
    expect(ok).toMatchObject({ stdout: `out\n${dir.path}\nhi there\n`, stderr: 'err\n', exitCode: 0, timedOut: false });
    expect(ok.via).toBe(agent ? 'agent' : 'podman-exec');
    const failed = await sandbox.exec(['sh', '-c', 'exit 7']);
    expect(failed.exitCode).toBe(7);
    const missing = await sandbox.exec(['no-such-command']);
    expect(missing.exitCode).toBe(127);
    expect((await sandbox.exec(['pwd'], { cwd: '/tmp' })).stdout).toBe('/tmp\n');
    await sandbox.exec(['sh', '-c', 'echo from-inside > probe.txt']);
    expect(readFileSync(join(dir.path, 'probe.txt'), 'utf8')).toBe('from-inside\n');
    await sandbox.stop();
  });

  it('feeds stdin from a string, a Buffer and a stream', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path);
    expect((await sandbox.exec(['cat'], { stdin: 'from a string' })).stdout).toBe('from a string');
    const binary = Buffer.from([0, 1, 2, 255, 254, 10, 0]);
    const echoed = await sandbox.exec(['cat'], { stdin: binary, encoding: 'buffer' });
    expect(Buffer.compare(echoed.stdout, binary)).toBe(0);
    const stream = Readable.from(['line 1\n', 'line 2\n', 'line 3\n']);
    expect((await sandbox.exec(['wc', '-l'], { stdin: stream })).stdout.trim()).toBe('3');
    // The reference's exec_stdin test: write a file from stdin, read it on the host.
    await sandbox.exec(['sh', '-c', 'cat > "$1"', 'sh', 'stdin.txt'], { stdin: 'from-inside' });
    expect(readFileSync(join(dir.path, 'stdin.txt'), 'utf8')).toBe('from-inside');
    await sandbox.stop();
  });

  it('is binary-safe in buffer mode', async () => {
    using dir = tempDir();
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    writeFileSync(join(dir.path, 'all-bytes'), bytes);
    const sandbox = await startSandbox(dir.path);
    const r = await sandbox.exec(['cat', 'all-bytes'], { encoding: 'buffer' });
    expect(Buffer.isBuffer(r.stdout)).toBe(true);
    expect(Buffer.compare(r.stdout, bytes)).toBe(0);
    await sandbox.stop();
  });

  it('caps collected output and marks the result truncated', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path);
    const r = await sandbox.exec(['sh', '-c', 'head -c 5000000 /dev/zero | tr "\\0" x; echo done >&2'], {
      maxOutputBytes: 1000,
    });
    expect(r.stdout).toBe('x'.repeat(1000));
    expect(r.truncated).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('done\n');
    const small = await sandbox.exec(['echo', 'hi'], { maxOutputBytes: 1000 });
    expect(small.truncated).toBe(false);
    // Exactly the cap is not truncated (the agent sends one byte past the cap, no more).
    const exact = await sandbox.exec(['head', '-c', '1000', '/dev/zero'], { maxOutputBytes: 1000 });
    expect([exact.stdout.length, exact.truncated]).toEqual([1000, false]);
    await sandbox.stop();
  });

  it('on timeout, kills the command inside the container, not only the podman client', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path);
    const started = Date.now();
    const r = await sandbox.exec(['sh', '-c', 'sleep 30 & sleep 31; echo never'], { timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.stdout).not.toContain('never');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(inContainer(sandbox, 'sleep 3[01]')).toBe('0');
    await sandbox.stop();
  });

  it('kills the command when the caller aborts', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const r = await sandbox.exec(['sleep', '40'], { signal: controller.signal });
    expect(r).toMatchObject({ aborted: true, timedOut: false, exitCode: null });
    expect(inContainer(sandbox, 'sleep 40')).toBe('0');
    await sandbox.stop();
  });

  it('stops in under a second, twice without complaint, and then exec says the session ended', async () => {
    using dir = tempDir();
    const sandbox = await startSandbox(dir.path);
    const started = performance.now();
    await sandbox.stop();
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1000);
    await sandbox.stop();
    expect(containersByLabel(`${LABELS.session}=${sandbox.sessionId}`)).toEqual([]);
    const error = await sandbox.exec(['true']).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('SESSION_ENDED');
  });

  it('serialises concurrent starts of one session id', async () => {
    using dir = tempDir();
    counter += 1;
    const sessionId = `${owner}-${counter}`;
    const options = { sessionId, owner, workdir: dir.path, policy, provision: false as const };
    const results = await Promise.allSettled([SessionSandbox.start(options), SessionSandbox.start(options)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(containersByLabel(`${LABELS.session}=${sessionId}`)).toEqual([`axo-ses-${sessionId}`]);
    const last = (results[1] as PromiseFulfilledResult<SessionSandbox>).value;
    expect((await last.exec(['true'])).exitCode).toBe(0);
    await last.stop();
  });

  it('replaces a stale container of the session, or reattaches to it when asked', async () => {
    using dir = tempDir();
    const first = await startSandbox(dir.path);
    await first.exec(['sh', '-c', 'echo marker > /tmp/marker']);
    const options = { sessionId: first.sessionId, owner, workdir: dir.path, policy, provision: false as const };

    const reattached = await SessionSandbox.start({ ...options, reattach: true });
    expect(reattached.report?.reattached).toBe(true);
    expect((await reattached.exec(['cat', '/tmp/marker'])).stdout).toBe('marker\n');

    const replaced = await SessionSandbox.start(options);
    expect(replaced.report?.reattached).toBe(false);
    expect((await replaced.exec(['cat', '/tmp/marker'])).exitCode).not.toBe(0);
    await replaced.stop();
  });

  it('never replaces a container of that name it does not own', async () => {
    using dir = tempDir();
    counter += 1;
    const sessionId = `${owner}-${counter}`;
    const foreign = `axo-ses-${sessionId}`;
    podman(['run', '-d', '--name', foreign, '--label', `${LABELS.owner}=${owner}`, TEST_IMAGE, 'sleep', '60']);
    const error = await SessionSandbox.start({ sessionId, owner, workdir: dir.path, policy, provision: false }).catch(
      (e: unknown) => e,
    );
    expect(AxoError.isInstance(error) && error.code).toBe('START_FAILED');
    expect(String(error)).toMatch(/did not create/);
    expect(podman(['inspect', foreign, '--format', '{{.State.Running}}']).trim()).toBe('true');
    podman(['rm', '-f', '-t', '0', foreign]);
  });

  it('rejects bad input with typed errors before touching podman', async () => {
    using dir = tempDir();
    const cases: Array<[Partial<StartOptions>, string]> = [
      [{ sessionId: '../x' }, 'sessionId'],
      [{ workdir: join(dir.path, 'missing') }, 'workdir'],
      [{ workdir: join(dir.path, 'file') }, 'workdir'],
      [{ ports: [70_000] }, 'ports.0'],
      [{ policy: { allowUntrustedImages: true } as unknown as StartOptions['policy'] }, 'policy.allowUntrustedImages'],
    ];
    writeFileSync(join(dir.path, 'file'), '');
    // A fake with no rules only records: it shows podman was never called.
    using recorder = createFakePodman({ rules: [] });
    for (const [extra, field] of cases) {
      const error = await startSandbox(dir.path, { podman: { binary: recorder.binary }, ...extra }).catch(
        (e: unknown) => e,
      );
      expect(AxoError.isInstance(error) && error.code, JSON.stringify(extra)).toBe('INVALID_INPUT');
      expect((error as { field?: string }).field).toBe(field);
    }
    expect(recorder.calls()).toEqual([]);
  });
});
