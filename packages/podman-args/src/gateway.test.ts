import { describe, expect, it } from 'vitest';
import { buildGatewayRunArgs, gatewayName, parseGatewayContainers } from './gateway';
import { parseManagedContainers } from './ps';

const base = {
  sessionId: 's1',
  owner: 'o1',
  binary: '/opt/axo/axo-agent',
  runDir: '/run/axo/s1',
  image: 'localhost/axo-test:busybox',
  user: { uid: 65534, gid: 65534 },
} as const;

describe('buildGatewayRunArgs', () => {
  it('starts a hardened, labelled gateway on the host network', () => {
    const args = buildGatewayRunArgs({ ...base, ports: [3000, 3000, 5173] });
    expect(args.slice(0, 4)).toEqual(['run', '--detach', '--name', 'axo-gw-s1']);
    for (const label of ['io.axo.managed=true', 'io.axo.session=s1', 'io.axo.owner=o1', 'io.axo.role=gateway']) {
      expect(args).toContain(label);
    }
    expect(args).toEqual(
      expect.arrayContaining([
        '--cap-drop=ALL',
        '--security-opt=no-new-privileges',
        '--read-only',
        '--unsetenv-all',
        '--no-healthcheck',
      ]),
    );
    expect(args.join(' ')).toContain('--network host');
    expect(args.join(' ')).toContain('--user 65534:65534');
    expect(args).not.toContain('--cap-add');
    expect(args).toContain('type=bind,source=/run/axo/s1/gw,destination=/.axo/gw');
    expect(args).toContain('type=bind,source=/run/axo/s1/e/out,destination=/.axo/egress');
    expect(args).toContain('type=bind,source=/run/axo/s1/e/in,destination=/.axo/ingress,ro=true');
    expect(args).toContain('type=bind,source=/opt/axo/axo-agent,destination=/.axo/agent,ro=true');
    const tail = args.slice(args.indexOf('localhost/axo-test:busybox'));
    expect(tail).toEqual([
      'localhost/axo-test:busybox',
      'gateway',
      '--socket',
      '/.axo/egress/gw.sock',
      '--state',
      '/.axo/gw',
      '--session',
      's1',
      '--ingress',
      '/.axo/ingress/fwd.sock',
      '--publish',
      '127.0.0.1:3000',
      '--publish',
      '127.0.0.1:5173',
    ]);
  });

  it('runs rootless as the host user (keep-id), never as root', () => {
    const args = buildGatewayRunArgs({ ...base, user: 'keep-id', publishHost: '::1', ports: [8080] });
    expect(args).toContain('--userns=keep-id');
    expect(args).not.toContain('--user');
    expect(args.at(-1)).toBe('[::1]:8080');
    expect(() => buildGatewayRunArgs({ ...base, user: { uid: 0, gid: 0 } })).toThrow(/user/);
  });

  it('refuses unusable ids and paths', () => {
    expect(() => gatewayName('../x')).toThrow();
    expect(() => buildGatewayRunArgs({ ...base, runDir: '/run/a,b' })).toThrow();
  });
});

describe('parseGatewayContainers', () => {
  const ps = JSON.stringify([
    {
      Id: 'a',
      Names: ['axo-ses-s1'],
      State: 'running',
      Labels: { 'io.axo.managed': 'true', 'io.axo.session': 's1', 'io.axo.owner': 'o1' },
    },
    {
      Id: 'b',
      Names: ['axo-gw-s1'],
      State: 'running',
      Labels: { 'io.axo.managed': 'true', 'io.axo.session': 's1', 'io.axo.owner': 'o1', 'io.axo.role': 'gateway' },
      Created: 100,
    },
    {
      Id: 'c',
      Names: ['axo-gw-other'],
      State: 'running',
      Labels: { 'io.axo.managed': 'true', 'io.axo.session': 's2', 'io.axo.owner': 'o1', 'io.axo.role': 'gateway' },
    },
  ]);

  it('finds gateways, and the session listing never mistakes one for a session', () => {
    expect(parseGatewayContainers(ps)).toEqual([
      { id: 'b', name: 'axo-gw-s1', sessionId: 's1', owner: 'o1', state: 'running', createdAt: 100 },
    ]);
    expect(parseManagedContainers(ps).map((c) => c.name)).toEqual(['axo-ses-s1']);
  });
});
