// Every protection proven by trying to break it from inside a session, and the report
// checked against what the host sees.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CAPABILITIES, LABELS, parseProcStatus } from '@axo/podman-args';
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
import { AxoError, SessionSandbox } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('harden');
const rootful = process.getuid?.() === 0;

describe.skipIf(!gate.ok)('hardening, attacked from inside (real podman)', () => {
  const dir = tempDir();
  let sandbox: SessionSandbox;
  beforeAll(async () => {
    sandbox = await SessionSandbox.start({
      sessionId: `${owner}-s`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE, limits: { memory: '96m', cpus: 1, pids: 256 } },
      provision: false,
    });
  });
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    dir[Symbol.dispose]();
  });
  // Another user runs from / (the test's workdir is private to root).
  const sh = (script: string, user?: string) => sandbox.exec(['sh', '-c', script], user ? { user, cwd: '/' } : {});

  it('reports the capabilities in force, fewer than podman’s default, as the host sees them', () => {
    const report = sandbox.report;
    expect(report?.capabilities.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(report?.inForce.capEff).toBe('00000000000000fb');
    expect(report?.noNewPrivileges).toBe(true);
    expect(report?.inForce.seccomp).toBe('filter');
    // podman's default, for comparison, on a plain container of the same image.
    const name = `axo-plain-${owner}`;
    podman(['run', '-d', '--name', name, '--label', `${LABELS.owner}=${owner}`, TEST_IMAGE, 'sleep', '60']);
    const pid = podman(['inspect', '--format', '{{.State.Pid}}', name]).trim();
    const plain = parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
    expect(plain.effective.length).toBe(11);
    expect(report?.capabilities.effective.length).toBeLessThan(plain.effective.length);
    expect(report?.differences.filter((d) => d.startsWith('capability'))).toEqual([]);
  });

  it('refuses to mount a file system, even as root', async () => {
    const r = await sh('mkdir -p /mnt/x && mount -t tmpfs none /mnt/x');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/permission denied|not permitted/i);
  });

  it('refuses raw sockets', async () => {
    const r = await sh('ping -c 1 -W 1 127.0.0.1');
    expect(r.exitCode).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/permission denied|not permitted/i);
  });

  it('refuses writes under /proc/sys', async () => {
    const r = await sh('echo 1 > /proc/sys/kernel/panic');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/read-only|permission denied/i);
  });

  // busybox drops a setuid root by itself for most applets, so the probe is perl (Debian's
  // perl-base), which keeps it: the control shows it does escalate without the flag.
  it('gives a setuid binary no privilege (no-new-privileges), where plain podman would', async () => {
    const euidOfSetuidPerl =
      'cp /usr/bin/perl /tmp/pl && chmod 4755 /tmp/pl && su nobody -s /bin/sh -c "/tmp/pl -e \'print $>\'"';
    const control = podman(['run', '--rm', DEBIAN_TEST_IMAGE, 'sh', '-c', euidOfSetuidPerl]);
    expect(control.trim()).toBe('0');
    using other = tempDir();
    const debian = await SessionSandbox.start({
      sessionId: `${owner}-nnp`,
      owner,
      workdir: other.path,
      policy: { defaultImage: DEBIAN_TEST_IMAGE },
      provision: false,
    });
    try {
      const r = await debian.exec(['sh', '-c', euidOfSetuidPerl]);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('65534');
    } finally {
      await debian.stop();
    }
  });

  it('lets any user bind a low port in the session only (a namespaced sysctl, not the host’s)', async () => {
    const hostBefore = readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8');
    const listen = 'nc -l -p 80 & sleep 0.3; netstat -ltn | grep -c ":80 "; kill $!';
    // Control: without the sysctl, nobody cannot bind port 80.
    const control = podmanResult(['run', '--rm', '--user', '65534', TEST_IMAGE, 'sh', '-c', listen]);
    expect(control.stderr).toMatch(/permission denied/i);
    const r = await sh(listen, 'nobody');
    expect(r.stdout.trim()).toBe('1');
    expect(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).toBe(hostBefore);
  });

  it('keeps the agent’s binary read-only, even for the container’s root', async () => {
    const r = await sh('echo x > /.axo/agent; mount -o remount,rw /.axo/agent 2>&1; echo done');
    expect(r.stderr).toMatch(/read-only file system/i);
    expect(r.stdout).toMatch(/permission denied|not permitted/i);
    expect((await sh('head -c 4 /.axo/agent | od -c | head -1')).stdout).toMatch(/177\s+E\s+L\s+F/);
  });

  it('keeps what a development container needs: chown, switching users, killing their processes', async () => {
    const r = await sh(
      'touch owned && chown nobody owned && stat -c %U owned && su -s /bin/sh nobody -c "sleep 60 &" && sleep 0.2 && killall sleep && echo killed',
    );
    expect(r.stdout).toBe('nobody\nkilled\n');
  });

  it.skipIf(!rootful)('OOM-kills a memory hog inside the session, which survives', async () => {
    // conmon writes a file named `oom` into its working directory on an OOM kill: never ours.
    // One left by an earlier regression must not blind the check: compare its mtime.
    const stray = join(process.cwd(), 'oom');
    const before = statSync(stray, { throwIfNoEntry: false })?.mtimeMs;
    const hog = await sh('head -c 400000000 /dev/zero | tail > /dev/null');
    expect(hog.exitCode).toBe(137);
    expect((await sh('echo alive')).stdout).toBe('alive\n');
    expect(statSync(stray, { throwIfNoEntry: false })?.mtimeMs).toBe(before);
  });

  it.skipIf(!rootful)('holds the limits asked for, read from the container’s cgroup', () => {
    expect(sandbox.report?.limits.applied).toBe(true);
    expect(sandbox.report?.inForce.limits).toMatchObject({
      source: 'cgroup',
      memoryBytes: 96 * 1024 * 1024,
      cpus: 1,
      pids: 256,
    });
  });

  it('with a read-only root, writes outside the workdir and the tmpfs mounts fail', async () => {
    using other = tempDir();
    const ro = await SessionSandbox.start({
      sessionId: `${owner}-ro`,
      owner,
      workdir: other.path,
      policy: { defaultImage: TEST_IMAGE, readOnlyRoot: true },
      provision: false,
    });
    expect(ro.report?.readOnlyRoot).toEqual({ requested: true, inForce: true });
    const r = await ro.exec([
      'sh',
      '-c',
      'for p in /etc/x /usr/x /root/x /tmp/x /run/x /var/tmp/x ./x; do (echo > $p) 2>/dev/null && echo "ok $p" || echo "no $p"; done',
    ]);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'no /etc/x',
      'no /usr/x',
      'no /root/x',
      'ok /tmp/x',
      'ok /run/x',
      'ok /var/tmp/x',
      'ok ./x',
    ]);
    expect(readFileSync(join(other.path, 'x'), 'utf8')).toBe('\n');
    await ro.stop();
  });

  it('strict refuses an image downgrade before starting anything', async () => {
    using other = tempDir();
    const error = await SessionSandbox.start({
      sessionId: `${owner}-strict`,
      owner,
      workdir: other.path,
      image: 'docker.io/library/untrusted:1',
      policy: { defaultImage: TEST_IMAGE, strict: true },
      provision: false,
    }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('START_FAILED');
    expect(String(error)).toMatch(/strict: image "docker\.io\/library\/untrusted:1" was requested/);
    expect(podman(['ps', '-aq', '--filter', `label=${LABELS.session}=${owner}-strict`]).trim()).toBe('');
  });

  it('refuses a capability name it does not know, before touching podman', async () => {
    writeFileSync(join(dir.path, 'unused'), '');
    const error = await SessionSandbox.start({
      sessionId: `${owner}-badcap`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE, capabilities: ['GODMODE'] },
      provision: false,
    }).catch((e: unknown) => e);
    expect(AxoError.isInstance(error) && error.code).toBe('INVALID_INPUT');
    expect(String(error)).toMatch(/policy\.capabilities\.0: unknown capability/);
  });
});
