import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AxoError } from './errors';
import { memoryBytes, parseInspect } from './inspect';

const fixture = readFileSync(join(import.meta.dirname, '__fixtures__', 'inspect-podman-4.3.json'), 'utf8');

describe('parseInspect', () => {
  it('reads the limits, ports and mode a recorded podman 4.3 inspect shows', () => {
    const facts = parseInspect(fixture);
    expect(facts).toMatchObject({
      running: true,
      memoryBytes: 512 * 1024 ** 2,
      cpus: 1.5,
      pids: 100,
      nproc: null,
      readOnlyRoot: true,
      networkMode: 'bridge',
      ports: [{ hostIp: '127.0.0.1', port: 39_555, containerPort: 39_555 }],
    });
    expect(facts.pid).toBeGreaterThan(0);
  });

  it('reads limits podman dropped (rootless on cgroup v1) as none', () => {
    const dropped = JSON.parse(fixture);
    Object.assign(dropped[0].HostConfig, { Memory: 0, NanoCpus: 0, CpuQuota: 0, PidsLimit: 0 });
    dropped[0].HostConfig.Ulimits = [{ Name: 'RLIMIT_NPROC', Soft: 256, Hard: 256 }];
    expect(parseInspect(JSON.stringify(dropped))).toMatchObject({
      memoryBytes: null,
      cpus: null,
      pids: null,
      nproc: 256,
    });
  });

  it('refuses output that is not an inspect array', () => {
    expect(() => parseInspect('nope')).toThrow(AxoError);
    expect(() => parseInspect('[]')).toThrow(/unexpected shape/);
  });
});

describe('memoryBytes', () => {
  it.each([
    ['512m', 512 * 1024 ** 2],
    ['2g', 2 * 1024 ** 3],
    ['1048576', 1_048_576],
    ['1.5G', 1.5 * 1024 ** 3],
  ])('%s', (size, bytes) => expect(memoryBytes(size)).toBe(bytes));
});
