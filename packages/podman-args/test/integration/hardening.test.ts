import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  podman,
  podmanGate,
  podmanResult,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { buildExecArgs, buildRunArgs, DEFAULT_CAPABILITIES, LABELS, parseProcStatus } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('podman-args');

describe.skipIf(!gate.ok)('buildRunArgs under real podman', () => {
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  function start(sessionId: string, workdir: string, extra: { pids?: number; ports?: number[] } = {}) {
    const limits = extra.pids === undefined ? undefined : { memory: '256m', cpus: 1, pids: extra.pids };
    podman(buildRunArgs({ sessionId, owner, workdir, image: TEST_IMAGE, limits, ports: extra.ports ?? [] }));
    return `axo-ses-${sessionId}`;
  }
  const exec = (container: string, script: string) => podmanResult(buildExecArgs(container, ['sh', '-c', script]));

  it('leaves exactly the default capabilities and no-new-privileges, read from the host', () => {
    using dir = tempDir();
    const name = start(`${owner}-caps`, dir.path);
    const pid = podman(['inspect', '--format', '{{.State.Pid}}', name]).trim();
    const security = parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
    expect(security.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(security.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(security.capEff).toBe('00000000000000fb');
    expect(security.noNewPrivileges).toBe(true);
    expect(security.seccomp).toBe('filter');
    // And a command run inside sees the same.
    expect(exec(name, 'grep CapEff /proc/self/status').stdout.trim()).toBe('CapEff:\t00000000000000fb');
  });

  it('enforces the pids limit: forking past it fails', () => {
    using dir = tempDir();
    const name = start(`${owner}-pids`, dir.path, { pids: 20 });
    const r = exec(name, 'n=0; while [ $n -lt 40 ]; do sleep 30 & n=$((n+1)); done 2>&1; wait');
    const running = exec(name, 'ps -o comm | grep -c "^sleep"');
    expect(`${r.stdout}${r.stderr}`).toMatch(/fork|resource temporarily unavailable/i);
    expect(Number(running.stdout.trim())).toBeLessThan(20);
  });

  it.each([
    ['plain', ''],
    ['with ":" and ","', 'a:b,c'],
  ])('bind-mounts the working directory (%s) at the same path, both ways', (_, suffix) => {
    using base = tempDir();
    const workdir = suffix ? join(base.path, suffix) : base.path;
    mkdirSync(workdir, { recursive: true });
    writeFileSync(join(workdir, 'from-host.txt'), 'host says hi\n');
    const name = start(`${owner}-mount${suffix ? '-odd' : ''}`, workdir);
    expect(exec(name, 'pwd').stdout.trim()).toBe(workdir);
    expect(exec(name, 'cat from-host.txt').stdout).toBe('host says hi\n');
    const content = 'written inside: ünïcødé ✓\n';
    const w = podmanResult(buildExecArgs(name, ['sh', '-c', `printf '%s' "$1" > probe.txt`, 'sh', content]));
    expect(w.status, w.stderr).toBe(0);
    expect(readFileSync(join(workdir, 'probe.txt'), 'utf8')).toBe(content);
  });

  it('publishes ports on loopback only', () => {
    using dir = tempDir();
    const name = start(`${owner}-ports`, dir.path, { ports: [39_217] });
    expect(podman(['port', name]).trim()).toBe('39217/tcp -> 127.0.0.1:39217');
  });
});
