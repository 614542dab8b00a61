import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '@axo/podman-args';
import {
  containersByLabel,
  IN_CI,
  podman,
  podmanGate,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, describe, expect, it } from 'vitest';

const AXO = join(import.meta.dirname, '..', '..', 'dist', 'axo.js');
const gate = podmanGate();
const owner = uniqueOwner('cli');
const home = tempDir('axo-cli-home-');
const configFile = join(home.path, 'config.json');
writeFileSync(configFile, JSON.stringify({ defaultImage: TEST_IMAGE, owner }));
const env = { ...process.env, AXO_CONFIG: configFile, NO_COLOR: '1' };
afterAll(() => home[Symbol.dispose]());

function axo(args: string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [AXO, ...args], {
    input: options.input ?? '',
    cwd: options.cwd,
    env: options.env ?? env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function repo(devcontainer?: string) {
  const dir = tempDir('axo-cli-repo-');
  if (devcontainer !== undefined) {
    mkdirSync(join(dir.path, '.devcontainer'));
    writeFileSync(join(dir.path, '.devcontainer', 'devcontainer.json'), devcontainer);
  }
  return dir;
}

describe.skipIf(!gate.ok)('axo CLI (built binary, real podman)', () => {
  afterAll(() => removeContainersByLabel(`${LABELS.owner}=${owner}`));

  it('up → exec (exit code, stdin) → ls → down', () => {
    using dir = repo();
    const up = axo(['up', dir.path, '--id', `${owner}-main`, '--no-provision', '--json']);
    expect(up.code, up.stderr).toBe(0);
    const report = JSON.parse(up.stdout);
    expect(report).toMatchObject({
      sessionId: `${owner}-main`,
      report: { image: { used: TEST_IMAGE }, workdir: dir.path },
    });

    const failing = axo(['exec', `${owner}-main`, '--', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 7']);
    expect(failing).toMatchObject({ code: 7, stdout: 'to-out\n', stderr: 'to-err\n' });

    const piped = axo(['exec', `${owner}-main`, '--', 'sh', '-c', 'cat > piped.txt; wc -c < piped.txt'], {
      input: 'hello through stdin\n',
    });
    expect(piped.code).toBe(0);
    expect(piped.stdout.trim()).toBe('20');
    expect(readFileSync(join(dir.path, 'piped.txt'), 'utf8')).toBe('hello through stdin\n');

    const timedOut = axo(['exec', '--timeout', '300ms', `${owner}-main`, '--', 'sleep', '20']);
    expect(timedOut.code).toBe(124);
    expect(timedOut.stderr).toMatch(/timed out/);

    const table = axo(['ls']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${owner}-main\\s+running\\s+${dir.path}\\s+${TEST_IMAGE}`, 'm'));
    const listed = JSON.parse(axo(['ls', '--json']).stdout);
    expect(listed).toEqual([expect.objectContaining({ id: `${owner}-main`, state: 'running', workdir: dir.path })]);

    expect(axo(['down', `${owner}-main`])).toMatchObject({ code: 0, stdout: `removed ${owner}-main\n` });
    expect(containersByLabel(`${LABELS.owner}=${owner}`)).toEqual([]);
    const gone = axo(['exec', `${owner}-main`, '--', 'true']);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toMatch(/^error: no running session/m);
    expect(gone.stderr).toMatch(/^hint: /m);
    expect(gone.stderr).not.toMatch(/at .*\.js/);
  });

  describe('a repository that asks for a post-create command and an untrusted image', () => {
    const devcontainer = `{
      // what the repository asks for
      "image": "docker.io/library/untrusted:1",
      "postCreateCommand": "echo ran > post-create.txt",
      "forwardPorts": ["db:5432"],
    }`;

    it('is refused both by default, and the report says so', () => {
      using dir = repo(devcontainer);
      const up = axo(['up', '--id', `${owner}-deny`, '--no-provision'], { cwd: dir.path });
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toMatch(
        /image +localhost\/axo-test:busybox \(asked for docker\.io\/library\/untrusted:1: refused, not trusted\)/,
      );
      expect(up.stdout).toMatch(
        /lifecycle +skipped 1 command\(s\) from \.devcontainer\/devcontainer\.json: not allowed \(use --allow-post-create\)/,
      );
      expect(up.stdout).toMatch(/not applied .devcontainer\/devcontainer.json:5 forwardPorts: "db:5432"/);
      expect(() => readFileSync(join(dir.path, 'post-create.txt'))).toThrow();
      axo(['down', `${owner}-deny`]);
    });

    it('runs the post-create command when allowed, and says so', () => {
      using dir = repo(devcontainer.replace('docker.io/library/untrusted:1', TEST_IMAGE));
      const up = axo(['up', '--id', `${owner}-allow`, '--no-provision', '--allow-post-create', '--json'], {
        cwd: dir.path,
      });
      expect(up.code, up.stderr).toBe(0);
      const { report } = JSON.parse(up.stdout);
      expect(report.postCreate).toEqual([{ command: 'echo ran > post-create.txt', status: 'ok', exitCode: 0 }]);
      expect(readFileSync(join(dir.path, 'post-create.txt'), 'utf8')).toBe('ran\n');
      axo(['down', `${owner}-allow`]);
    });

    it('uses an untrusted image only with --allow-untrusted-image', () => {
      using dir = repo(devcontainer.replace('docker.io/library/untrusted:1', 'localhost/axo-test:debian'));
      const up = axo(['up', '--id', `${owner}-img`, '--no-provision', '--allow-untrusted-image', '--json'], {
        cwd: dir.path,
      });
      expect(up.code, up.stderr).toBe(0);
      expect(JSON.parse(up.stdout).report.image).toEqual({
        requested: 'localhost/axo-test:debian',
        used: 'localhost/axo-test:debian',
      });
      axo(['down', `${owner}-img`]);
    });
  });

  it('reports a malformed devcontainer.json with line and column, and starts nothing', () => {
    using dir = repo('{\n  "image": "x"\n  "forwardPorts": []\n}');
    const up = axo(['up', '--id', `${owner}-bad`], { cwd: dir.path });
    expect(up.code).toBe(2);
    expect(up.stderr).toMatch(/^error: \.devcontainer\/devcontainer\.json:3:3: invalid JSON/m);
    expect(containersByLabel(`${LABELS.session}=${owner}-bad`)).toEqual([]);
  });

  it('names the bad key of a config file', () => {
    const bad = join(home.path, 'bad.json');
    writeFileSync(bad, JSON.stringify({ policy: { allowPostCreat: true } }));
    const r = axo(['ls'], { env: { ...env, AXO_CONFIG: bad } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"policy\.allowPostCreat" is not a known setting/);
  });

  it('lets flags beat AXO_* variables, which beat the config file', () => {
    using dir = repo();
    const fileSaysNone = join(home.path, 'network-none.json');
    writeFileSync(fileSaysNone, JSON.stringify({ defaultImage: TEST_IMAGE, owner, policy: { network: 'none' } }));
    const network = (extraEnv: NodeJS.ProcessEnv, flags: string[] = []) => {
      const r = axo(['up', dir.path, '--id', `${owner}-env`, '--no-provision', '--json', ...flags], {
        env: { ...env, AXO_CONFIG: fileSaysNone, ...extraEnv },
      });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).report.network;
    };
    expect(network({})).toBe('none'); // the file
    expect(network({ AXO_NETWORK: 'bridge' })).toBe('bridge'); // the environment beats the file
    expect(network({ AXO_NETWORK: 'bridge' }, ['--network', 'none'])).toBe('none'); // a flag beats both
    axo(['down', `${owner}-env`]);
  });

  it('doctor passes on this machine', () => {
    const r = axo(['doctor']);
    expect(r.stdout).toMatch(/all checks passed/);
    expect(r.code).toBe(0);
    const json = JSON.parse(axo(['doctor', '--json']).stdout);
    expect(json.ok).toBe(true);
    expect(json.checks.map((c: { name: string }) => c.name)).toEqual([
      'podman',
      'default image',
      'OCI runtime',
      'ulimits',
      'cgroups',
      'ports',
    ]);
  });

  it('doctor fails, with a fix, when the default image is missing', () => {
    const missing = join(home.path, 'missing-image.json');
    writeFileSync(missing, JSON.stringify({ defaultImage: 'localhost/axo-not-built:1', owner }));
    const r = axo(['doctor'], { env: { ...env, AXO_CONFIG: missing } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✖ default image .*localhost\/axo-not-built:1/);
    expect(r.stdout).toMatch(/fix: axo image bootstrap/);
  });

  it('usage errors exit 2 and print help hints', () => {
    const down = axo(['down']);
    expect(down).toMatchObject({ code: 2, stdout: '' });
    expect(down.stderr).toMatch(/^error: name the sessions to remove, or pass --all\nhint: axo ls lists them\n$/);
    for (const args of [['up', '--port', 'http'], ['frobnicate']]) {
      const r = axo(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: .+\n\(run with --help for usage\)\n$/);
    }
    const help = axo(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:/);
  });

  it('serve starts axo-server, which answers and stops cleanly on SIGTERM', async () => {
    using state = tempDir('axo-serve-');
    const port = String(39_700 + (process.pid % 200));
    const proc = spawn(process.execPath, [AXO, 'serve', '--port', port, '--root', state.path], {
      env: { ...env, AXO_SERVER_STATE_DIR: state.path, AXO_SERVER_LOG_LEVEL: 'warn', AXO_SERVER_INSTANCE_ID: owner },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (c) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    let health: unknown;
    for (let i = 0; i < 100 && health === undefined; i++) {
      health = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.json(),
        () => undefined,
      );
      if (health === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(health, stderr).toMatchObject({ status: 'ok' });
    expect(stderr).toMatch(/generated an access token/);
    expect((await fetch(`http://127.0.0.1:${port}/v1/sessions`)).status).toBe(401);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('image bootstrap builds a local image without a registry and makes it the trusted default', () => {
    const config = join(home.path, 'bootstrap.json');
    const r = axo(['image', 'bootstrap', '--no-debian', '--json'], { env: { ...env, AXO_CONFIG: config } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ built: ['localhost/axo:busybox'], defaultImage: 'localhost/axo:busybox' });
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({
      defaultImage: 'localhost/axo:busybox',
      trustedImages: ['localhost/axo:busybox'],
    });
    // Built again: the copy it replaced is removed, not left behind untagged.
    const first = podman(['image', 'inspect', '--format', '{{.Id}}', 'localhost/axo:busybox']).trim();
    expect(axo(['image', 'bootstrap', '--no-debian', '--json'], { env: { ...env, AXO_CONFIG: config } }).code).toBe(0);
    const second = podman(['image', 'inspect', '--format', '{{.Id}}', 'localhost/axo:busybox']).trim();
    expect(second).not.toBe(first);
    expect(spawnSync('podman', ['image', 'exists', first]).status).toBe(1);
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux && IN_CI)
  throw new Error('tmux is required in CI for the axo shell test (scripts/bootstrap.sh installs it)');

describe.skipIf(!gate.ok || !hasTmux)('axo shell in a real terminal (tmux)', () => {
  const socket = `axo-test-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  const pane = () => tmux('capture-pane', '-p', '-t', 'main').stdout;
  const waitForPane = async (pattern: RegExp) => {
    for (let i = 0; i < 100; i++) {
      if (pattern.test(pane())) return pane();
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`pane never showed ${pattern}:\n${pane()}`);
  };
  afterAll(() => {
    tmux('kill-server');
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
  });

  it('runs a command typed into the session and restores the terminal on exit', async () => {
    using dir = repo();
    expect(axo(['up', dir.path, '--id', `${owner}-sh`, '--no-provision']).code).toBe(0);
    const envArgs = Object.entries({ AXO_CONFIG: configFile, NO_COLOR: '1', PATH: process.env.PATH ?? '' }).flatMap(
      ([k, v]) => ['-e', `${k}=${v}`],
    );
    tmux('new-session', '-d', '-s', 'main', '-x', '100', '-y', '30', ...envArgs, 'sh');
    tmux('send-keys', '-t', 'main', `stty -a | grep -o -- '-\\?icanon' | sed 's/^/before:/'`, 'Enter');
    await waitForPane(/before:-?icanon/);
    const before = /before:(-?icanon)/.exec(pane())?.[1];
    tmux('send-keys', '-t', 'main', `${process.execPath} ${AXO} shell ${owner}-sh`, 'Enter');
    await new Promise((r) => setTimeout(r, 1500));
    tmux('send-keys', '-t', 'main', 'echo inside-$((6*7)); stty size', 'Enter');
    await waitForPane(/inside-42/);
    expect(pane()).toMatch(/^30 100$|^29 100$/m);
    // The session follows the window: resize it, ask again.
    tmux('resize-window', '-t', 'main', '-x', '120', '-y', '40');
    await new Promise((r) => setTimeout(r, 500));
    tmux('send-keys', '-t', 'main', 'clear; stty size', 'Enter');
    await waitForPane(/^(40|39) 120\s*$/m);
    tmux('send-keys', '-t', 'main', 'exit 5', 'Enter');
    // Keys typed before axo has exited would go to the closing session: wait for the host prompt.
    await waitForPane(/exit 5\n#\s*$/);
    tmux(
      'send-keys',
      '-t',
      'main',
      `echo "axo-exit:$?"; stty -a | grep -o -- '-\\?icanon' | sed 's/^/after:/'`,
      'Enter',
    );
    const screen = await waitForPane(/after:-?icanon/);
    expect(screen).toMatch(/axo-exit:5/);
    expect(/after:(-?icanon)/.exec(screen)?.[1]).toBe(before);
    expect(before).toBe('icanon');
  });
});

describe.skipIf(!gate.ok)('the compile cache', () => {
  const files = (dir: string): number =>
    spawnSync('find', [dir, '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;

  it('is kept in the user’s own cache directory', () => {
    using cache = tempDir('axo-cli-cache-');
    expect(axo(['ls'], { env: { ...env, XDG_CACHE_HOME: cache.path } }).code).toBe(0);
    expect(files(cache.path)).toBeGreaterThan(0);
  });

  // `sudo -E axo` keeps the invoking user's HOME: root must not load bytecode they could plant.
  it.skipIf(process.getuid?.() !== 0)('is not used from a directory another user controls', () => {
    using cache = tempDir('axo-cli-cache-');
    spawnSync('chown', ['65534', cache.path]);
    expect(axo(['ls'], { env: { ...env, XDG_CACHE_HOME: cache.path } }).code).toBe(0);
    expect(files(cache.path)).toBe(0);
  });
});
