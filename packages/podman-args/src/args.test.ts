import { describe, expect, it } from 'vitest';
import { buildExecArgs, buildPsArgs, buildRmArgs, buildRunArgs } from './args';
import { DEFAULT_CAPABILITIES } from './capabilities';
import { DEFAULT_IMAGE, LABELS } from './constants';
import { AxoError, InvalidInputError } from './errors';
import type { RunSpecInput } from './schemas';

const base: RunSpecInput = { sessionId: 'x', workdir: '/w', image: DEFAULT_IMAGE };
const limits = { memory: '2g', cpus: 2, pids: 512 };

/** True when `flag` is immediately followed by `value` somewhere in argv. */
function hasPair(args: string[], flag: string, value: string): boolean {
  return args.some((a, i) => a === flag && args[i + 1] === value);
}

describe('buildRunArgs', () => {
  it('always applies the hardening flags (reference: run_args_always_apply_hardening)', () => {
    const args = buildRunArgs({ ...base, limits, ports: [3000] });
    expect(args).toContain('--security-opt=no-new-privileges');
    expect(args).toContain('--cap-drop=ALL');
    expect(args.filter((_, i) => args[i - 1] === '--cap-add')).toEqual([...DEFAULT_CAPABILITIES]);
    expect(hasPair(args, '--sysctl', 'net.ipv4.ip_unprivileged_port_start=0')).toBe(true);
    expect(args).not.toContain('--read-only');
    expect(hasPair(args, '--pids-limit', '512')).toBe(true);
    expect(hasPair(args, '--memory', '2g')).toBe(true);
    expect(hasPair(args, '--cpus', '2')).toBe(true);
    expect(hasPair(args, '--publish', '127.0.0.1:3000:3000')).toBe(true);
    expect(hasPair(args, '--network', 'none')).toBe(false);
  });

  it('keeps exactly the capabilities the spec lists, a read-only root and an nproc brake on request', () => {
    const args = buildRunArgs({
      ...base,
      capabilities: ['CHOWN', 'cap_net_bind_service'],
      readOnlyRoot: true,
      nproc: 256,
    });
    expect(args.filter((_, i) => args[i - 1] === '--cap-add')).toEqual(['CHOWN', 'NET_BIND_SERVICE']);
    expect(args).toContain('--read-only');
    expect(hasPair(args, '--ulimit', 'nproc=256:256')).toBe(true);
    expect(() => buildRunArgs({ ...base, capabilities: ['EVERYTHING'] })).toThrow(/unknown capability/);
  });

  it('network none cuts off every published port (reference: run_args_network_none_cuts_off_publishing)', () => {
    const args = buildRunArgs({ ...base, network: 'none', ports: [3000, 5173] });
    expect(hasPair(args, '--network', 'none')).toBe(true);
    expect(args).not.toContain('--publish');
    expect(args).not.toContain('-p');
    expect(args.join(' ')).not.toMatch(/3000|5173/);
  });

  it('allowlist: no route out, the egress dirs mounted, the proxy in the environment', () => {
    const args = buildRunArgs({
      ...base,
      network: 'allowlist',
      ports: [3000],
      env: { HTTP_PROXY: 'http://corp:8080' },
      agent: { binary: '/bin/agent', runDir: '/run/axo/x' },
    });
    expect(hasPair(args, '--network', 'none')).toBe(true);
    expect(args).not.toContain('--publish');
    expect(hasPair(args, '--mount', 'type=bind,source=/run/axo/x/e/out,destination=/.axo/egress,ro=true')).toBe(true);
    expect(hasPair(args, '--mount', 'type=bind,source=/run/axo/x/e/in,destination=/.axo/ingress')).toBe(true);
    expect(args.join(' ')).not.toContain('/run/axo/x/gw');
    // The proxy wins over a devcontainer's own proxy settings (which could not work here).
    const env = args.filter((_, i) => args[i - 1] === '--env');
    expect(env.lastIndexOf('HTTP_PROXY=http://127.0.0.1:3128')).toBeGreaterThan(
      env.indexOf('HTTP_PROXY=http://corp:8080'),
    );
    for (const e of [
      'HTTPS_PROXY=http://127.0.0.1:3128',
      'https_proxy=http://127.0.0.1:3128',
      'NO_PROXY=localhost,127.0.0.1,::1',
      'NODE_USE_ENV_PROXY=1',
    ]) {
      expect(env).toContain(e);
    }
    expect(args.slice(-4)).toEqual([
      '--egress-socket',
      '/.axo/egress/gw.sock',
      '--ingress-socket',
      '/.axo/ingress/fwd.sock',
    ]);
    // Without the agent there is no proxy: still no route out.
    expect(hasPair(buildRunArgs({ ...base, network: 'allowlist' }), '--network', 'none')).toBe(true);
  });

  it('adds no limit flags when the spec carries no limits', () => {
    const args = buildRunArgs(base);
    for (const flag of ['--memory', '--cpus', '--pids-limit']) expect(args).not.toContain(flag);
  });

  it('uses the limits the spec gives', () => {
    const args = buildRunArgs({ ...base, limits: { memory: '512m', cpus: 0.5, pids: 64 } });
    expect(hasPair(args, '--memory', '512m')).toBe(true);
    expect(hasPair(args, '--cpus', '0.5')).toBe(true);
    expect(hasPair(args, '--pids-limit', '64')).toBe(true);
  });

  it('publishes on loopback by default, never on every interface', () => {
    const args = buildRunArgs({ ...base, ports: [3000, 8080, 3000] });
    const published = args.filter((_, i) => args[i - 1] === '--publish');
    expect(published).toEqual(['127.0.0.1:3000:3000', '127.0.0.1:8080:8080']);
  });

  it('publishes on the host address the spec names, bracketing IPv6', () => {
    expect(
      hasPair(buildRunArgs({ ...base, ports: [3000], publishHost: '0.0.0.0' }), '--publish', '0.0.0.0:3000:3000'),
    ).toBe(true);
    expect(hasPair(buildRunArgs({ ...base, ports: [3000], publishHost: '::1' }), '--publish', '[::1]:3000:3000')).toBe(
      true,
    );
    expect(() => buildRunArgs({ ...base, ports: [3000], publishHost: 'localhost; rm' })).toThrow(InvalidInputError);
  });

  it('refuses ports outside 1-65535', () => {
    for (const port of [0, -1, 65536, 3.5]) {
      expect(() => buildRunArgs({ ...base, ports: [port] }), String(port)).toThrow(InvalidInputError);
    }
  });

  it('always carries our labels, --init and sleep infinity as the command', () => {
    const args = buildRunArgs({ ...base, sessionId: 'abc', owner: 'srv-1', workdir: '/home/me/proj' });
    expect(hasPair(args, '--label', `${LABELS.managed}=true`)).toBe(true);
    expect(hasPair(args, '--label', `${LABELS.session}=abc`)).toBe(true);
    expect(hasPair(args, '--label', `${LABELS.owner}=srv-1`)).toBe(true);
    expect(hasPair(args, '--label', `${LABELS.workdir}=/home/me/proj`)).toBe(true);
    expect(hasPair(args, '--name', 'axo-ses-abc')).toBe(true);
    expect(args).toContain('--init');
    expect(args.slice(0, 2)).toEqual(['run', '--detach']);
    expect(args.slice(-3)).toEqual([DEFAULT_IMAGE, 'sleep', 'infinity']);
  });

  it('runs the agent as init from read-only mounts, as root, with its session facts as flags', () => {
    const agent = { binary: '/opt/axo/axo-agent', runDir: '/run/axo/x', user: 'dev' };
    const args = buildRunArgs({ ...base, owner: 'o', agent });
    expect(args).not.toContain('--init');
    expect(args).not.toContain('sleep');
    expect(hasPair(args, '--label', `${LABELS.agent}=/run/axo/x`)).toBe(true);
    expect(hasPair(args, '--user', '0:0')).toBe(true);
    expect(hasPair(args, '--mount', 'type=bind,source=/opt/axo/axo-agent,destination=/.axo/agent,ro=true')).toBe(true);
    expect(hasPair(args, '--mount', 'type=bind,source=/run/axo/x/token,destination=/.axo/token,ro=true')).toBe(true);
    expect(hasPair(args, '--mount', 'type=bind,source=/run/axo/x/s,destination=/.axo/run')).toBe(true);
    expect(hasPair(args, '--entrypoint', '/.axo/agent')).toBe(true);
    expect(args.slice(args.indexOf(DEFAULT_IMAGE))).toEqual([
      DEFAULT_IMAGE,
      'init',
      '--socket',
      '/.axo/run/agent.sock',
      '--token-file',
      '/.axo/token',
      '--session',
      'x',
      '--owner',
      'o',
      '--workdir',
      '/w',
      '--user',
      'dev',
    ]);
    // Nothing secret on the command line: the token is only ever a file.
    expect(args.join(' ')).not.toMatch(/[0-9a-f]{64}/);
  });

  it('mounts the workdir at a workspace folder too, and works there', () => {
    const args = buildRunArgs({ ...base, workspaceFolder: '/workspaces/app' });
    expect(hasPair(args, '--mount', 'type=bind,source=/w,destination=/w')).toBe(true);
    expect(hasPair(args, '--mount', 'type=bind,source=/w,destination=/workspaces/app')).toBe(true);
    expect(hasPair(args, '--workdir', '/workspaces/app')).toBe(true);
    expect(hasPair(args, '--label', `${LABELS.cwd}=/workspaces/app`)).toBe(true);
    for (const bad of ['/.axo/run', '/proc/x', '/', 'rel', '/a/../b']) {
      expect(() => buildRunArgs({ ...base, workspaceFolder: bad }), bad).toThrow(InvalidInputError);
    }
  });

  it('refuses agent paths that are relative or carry newlines', () => {
    expect(() => buildRunArgs({ ...base, agent: { binary: 'agent', runDir: '/run/axo/x' } })).toThrow(
      InvalidInputError,
    );
    expect(() => buildRunArgs({ ...base, agent: { binary: '/a', runDir: '/run/axo/x\n' } })).toThrow(
      /absolute host path/,
    );
  });

  it('labels the default owner when none is given', () => {
    expect(hasPair(buildRunArgs(base), '--label', `${LABELS.owner}=default`)).toBe(true);
  });

  it('mounts the working directory at the same path and works in it', () => {
    const args = buildRunArgs({ ...base, workdir: '/home/me/proj' });
    expect(hasPair(args, '--mount', 'type=bind,source=/home/me/proj,destination=/home/me/proj')).toBe(true);
    expect(hasPair(args, '--workdir', '/home/me/proj')).toBe(true);
    expect(args).not.toContain('-v');
  });

  it('carries ":" and "," in the working directory by CSV-quoting the mount fields', () => {
    const args = buildRunArgs({ ...base, workdir: '/tmp/a:b,c"d' });
    expect(hasPair(args, '--mount', 'type=bind,"source=/tmp/a:b,c""d","destination=/tmp/a:b,c""d"')).toBe(true);
    expect(hasPair(args, '--workdir', '/tmp/a:b,c"d')).toBe(true);
  });

  it('refuses working directories podman cannot carry or that are not absolute and normalised', () => {
    for (const workdir of ['relative/dir', '', '/', '/a/../etc', '/a/./b', '/a//b', '/a/', '/a\nb', '/a\0b']) {
      const error = (() => {
        try {
          buildRunArgs({ ...base, workdir });
        } catch (e) {
          return e;
        }
      })();
      expect(error, JSON.stringify(workdir)).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).toBe('workdir');
      expect((error as InvalidInputError).code).toBe('INVALID_INPUT');
    }
  });

  it('refuses an image that would read as an option', () => {
    expect(() => buildRunArgs({ ...base, image: '--privileged' })).toThrow(/image/);
  });

  it('passes container environment', () => {
    const args = buildRunArgs({ ...base, env: { FOO: 'a b=c' } });
    expect(hasPair(args, '--env', 'FOO=a b=c')).toBe(true);
    expect(() => buildRunArgs({ ...base, env: { 'BAD KEY': 'x' } })).toThrow(InvalidInputError);
  });

  it('rejects unknown spec fields instead of ignoring them', () => {
    expect(() => buildRunArgs({ ...base, privileged: true } as RunSpecInput)).toThrow(/privileged|unrecognized/i);
  });
});

describe('buildExecArgs', () => {
  it('builds a plain exec', () => {
    expect(buildExecArgs('axo-ses-x', ['echo', 'hi'])).toEqual(['exec', 'axo-ses-x', 'echo', 'hi']);
  });

  it('adds interactive, tty without detach keys, env, workdir and user before the container', () => {
    const args = buildExecArgs('axo-ses-x', ['sh'], {
      interactive: true,
      tty: true,
      env: { A: '1' },
      workdir: '/w',
      user: '1000:1000',
    });
    expect(args).toEqual([
      'exec',
      '--interactive',
      '--tty',
      '--detach-keys=',
      '--env',
      'A=1',
      '--workdir',
      '/w',
      '--user',
      '1000:1000',
      'axo-ses-x',
      'sh',
    ]);
  });

  it('refuses an empty command, a bad container and a bad user', () => {
    expect(() => buildExecArgs('axo-ses-x', [])).toThrow(InvalidInputError);
    expect(() => buildExecArgs('-it', ['sh'])).toThrow(InvalidInputError);
    expect(() => buildExecArgs('axo-ses-x', ['sh'], { user: 'root;id' })).toThrow(InvalidInputError);
    expect(() => buildExecArgs('axo-ses-x', ['sh'], { workdir: 'rel' })).toThrow(InvalidInputError);
  });
});

describe('buildRmArgs and buildPsArgs', () => {
  it('force-removes with a short grace and ignores containers already gone', () => {
    expect(buildRmArgs(['axo-ses-a', 'axo-ses-b'])).toEqual([
      'rm',
      '--force',
      '--ignore',
      '--time',
      '1',
      'axo-ses-a',
      'axo-ses-b',
    ]);
    expect(buildRmArgs(['axo-ses-a'], { graceSeconds: 0 })).toContain('0');
    expect(() => buildRmArgs(['axo-ses-a'], { graceSeconds: -1 })).toThrow(InvalidInputError);
  });

  it('lists by label, never by an unanchored name pattern', () => {
    const args = buildPsArgs({ owner: 'srv', sessionId: '1' });
    expect(args).toEqual([
      'ps',
      '--all',
      '--filter',
      'label=io.axo.managed=true',
      '--filter',
      'label=io.axo.owner=srv',
      '--filter',
      'label=io.axo.session=1',
      '--format',
      'json',
    ]);
    expect(args.join(' ')).not.toContain('name=');
  });

  it('validates the filters it builds', () => {
    expect(() => buildPsArgs({ owner: 'a b' })).toThrow(AxoError);
  });
});
