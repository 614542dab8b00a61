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
import { buildExecArgs, buildRunArgs, DROPPED_CAPS, LABELS } from '../../src/index';

// Capability numbers from linux/capability.h.
const CAP_NUMBERS: Record<(typeof DROPPED_CAPS)[number], number> = {
  DAC_READ_SEARCH: 2,
  NET_ADMIN: 12,
  NET_RAW: 13,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_PTRACE: 19,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_TIME: 25,
  MKNOD: 27,
  AUDIT_WRITE: 29,
};

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

  it('drops every listed capability and sets no-new-privileges', () => {
    using dir = tempDir();
    const name = start(`${owner}-caps`, dir.path);
    const status = exec(name, 'cat /proc/self/status').stdout;
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]}`);
    const capBnd = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1]}`);
    for (const cap of DROPPED_CAPS) {
      const bit = 1n << BigInt(CAP_NUMBERS[cap]);
      expect(capEff & bit, `${cap} in CapEff`).toBe(0n);
      expect(capBnd & bit, `${cap} in CapBnd`).toBe(0n);
    }
    // Not everything is gone: CHOWN (bit 0) stays, so the check above is not vacuous.
    expect(capEff & 1n).toBe(1n);
    expect(/^NoNewPrivs:\s*(\d)$/m.exec(status)?.[1]).toBe('1');
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
