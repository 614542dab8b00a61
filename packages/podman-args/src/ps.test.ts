import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AxoError } from './errors';
import { parseManagedContainers } from './ps';

const fixture = readFileSync(new URL('./__fixtures__/ps-podman-4.3.json', import.meta.url), 'utf8');

describe('parseManagedContainers', () => {
  it('reads what podman 4.3 prints', () => {
    const containers = parseManagedContainers(fixture);
    expect(containers.map((c) => [c.name, c.sessionId, c.state])).toEqual([
      ['axo-ses-fixture', 'fixture', 'running'],
      ['axo-ses-stopped', 'stopped', 'exited'],
    ]);
    expect(containers[0]).toMatchObject({
      owner: 'default',
      workdir: '/tmp/fx',
      image: 'localhost/axo-test:busybox',
      ports: [{ hostIp: '127.0.0.1', hostPort: 3111, containerPort: 3111 }],
    });
    expect(typeof containers[0]?.createdAt).toBe('number');
  });

  it('treats empty output as no containers', () => {
    expect(parseManagedContainers('')).toEqual([]);
    expect(parseManagedContainers('[]\n')).toEqual([]);
  });

  it('keeps only containers whose name is exactly their session label', () => {
    const entry = (name: string, labels: Record<string, string>) => ({ Id: name, Names: [name], Labels: labels });
    const ours = { 'io.axo.managed': 'true', 'io.axo.session': '1' };
    const out = JSON.stringify([
      entry('axo-ses-1', ours),
      entry('axo-ses-10', ours),
      entry('axo-ses-2', { 'io.axo.session': '2' }),
      entry('axo-ses-3', { 'io.axo.managed': 'true', 'io.axo.session': '../3' }),
      { Id: 'x', Names: null, Labels: null },
    ]);
    expect(parseManagedContainers(out).map((c) => c.name)).toEqual(['axo-ses-1']);
  });

  it('fails with a typed error on output that is not what podman prints', () => {
    expect(() => parseManagedContainers('Error: boom')).toThrow(AxoError);
    expect(() => parseManagedContainers('{"Id": 1}')).toThrow(/unexpected shape/);
  });
});
