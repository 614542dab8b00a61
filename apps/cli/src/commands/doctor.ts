import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { readDevcontainer } from '@axo/devcontainer/fs';
import { ensurePodman } from '@axo/runtime';
import { execa } from 'execa';
import { loadSettings } from '../config';
import { writeText } from '../io';
import { color } from '../ui';

export interface Check {
  readonly name: string;
  readonly status: 'pass' | 'warn' | 'fail';
  readonly detail: string;
  readonly fix?: string;
}

const podman = (args: string[]) => execa('podman', args, { reject: false, timeout: 60_000 });

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Runs every check; later checks are skipped when podman itself is missing. */
export async function runChecks(ports: readonly number[]): Promise<Check[]> {
  const checks: Check[] = [];
  const settings = await loadSettings();
  let version: string;
  try {
    version = (await ensurePodman()).version;
    checks.push({ name: 'podman', status: 'pass', detail: `podman ${version}` });
  } catch (error) {
    checks.push({
      name: 'podman',
      status: 'fail',
      detail: (error as Error).message,
      fix: 'apt-get install podman runc   (Fedora: dnf install podman)',
    });
    return checks;
  }

  const info = await podman([
    'info',
    '--format',
    '{{.Host.OCIRuntime.Name}} {{.Host.CgroupsVersion}} {{.Host.CgroupManager}}',
  ]);
  const [runtime = '?', cgroups = '?'] = info.stdout.trim().split(' ');
  const hybrid = cgroups === 'v1' && existsSync('/sys/fs/cgroup/unified');
  const rootless = process.getuid?.() !== 0;

  const imagePresent = (await podman(['image', 'exists', settings.defaultImage])).exitCode === 0;
  checks.push(
    imagePresent
      ? { name: 'default image', status: 'pass', detail: settings.defaultImage }
      : {
          name: 'default image',
          status: 'fail',
          detail: `${settings.defaultImage} is not present locally (and registries may be unreachable)`,
          fix: 'axo image bootstrap   (builds a local image and makes it the default)',
        },
  );

  if (imagePresent) {
    const run = await podman(['run', '--rm', '--init', settings.defaultImage, 'true']);
    const stderr = run.stderr;
    if (run.exitCode === 0) {
      checks.push({ name: 'OCI runtime', status: 'pass', detail: `${runtime} runs containers` });
    } else if (/crun/.test(stderr) && /cgroup/.test(stderr)) {
      checks.push({
        name: 'OCI runtime',
        status: 'fail',
        detail: `${runtime} cannot run containers on this ${hybrid ? 'cgroup-hybrid' : 'cgroup v1'} host`,
        fix: 'apt-get install runc, then set runtime = "runc" under [engine] in /etc/containers/containers.conf.d/50-axo.conf',
      });
    } else {
      checks.push({
        name: 'OCI runtime',
        status: 'fail',
        detail: stderr.trim().split('\n').at(-1) ?? 'cannot run a container',
      });
    }
    const hardNofile = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '?';
    checks.push(
      /rlimit/.test(stderr)
        ? {
            name: 'ulimits',
            status: 'fail',
            detail: `podman's default nofile limit exceeds this host's hard limit (${hardNofile})`,
            fix: 'set default_ulimits = [] under [containers] in /etc/containers/containers.conf.d/50-axo.conf',
          }
        : { name: 'ulimits', status: 'pass', detail: `hard nofile limit ${hardNofile}` },
    );
  }

  const mode = cgroups === 'v2' ? 'cgroup v2' : hybrid ? 'cgroup v1 (hybrid)' : 'cgroup v1';
  if (!rootless) {
    checks.push({ name: 'cgroups', status: 'pass', detail: `${mode}; root can apply memory, cpu and pids limits` });
  } else {
    const uid = process.getuid?.();
    const controllers = `/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service/cgroup.controllers`;
    const delegated = existsSync(controllers) ? readFileSync(controllers, 'utf8') : '';
    const missing = ['memory', 'pids', 'cpu'].filter((c) => !delegated.split(/\s+/).includes(c));
    checks.push(
      cgroups === 'v2' && missing.length === 0
        ? { name: 'cgroups', status: 'pass', detail: `${mode} with memory, pids and cpu delegated` }
        : {
            name: 'cgroups',
            status: 'warn',
            detail: `${mode}; ${missing.join(', ') || 'controllers'} not delegated: sessions start without limits`,
            fix: 'enable cgroup v2 and systemd delegation (Delegate=memory pids cpu in user@.service), or run as root',
          },
    );
  }

  if (ports.length === 0) {
    checks.push({
      name: 'ports',
      status: 'pass',
      detail: 'no ports requested (--port, or forwardPorts in devcontainer.json)',
    });
  } else {
    const taken: number[] = [];
    for (const port of ports) if (!(await portFree(port))) taken.push(port);
    checks.push(
      taken.length === 0
        ? { name: 'ports', status: 'pass', detail: `free on 127.0.0.1: ${ports.join(', ')}` }
        : {
            name: 'ports',
            status: 'warn',
            detail: `in use on 127.0.0.1: ${taken.join(', ')} (sessions will start without them)`,
            fix: 'stop what listens there (ss -ltnp shows it) or forward other ports',
          },
    );
  }
  return checks;
}

/** `axo doctor`: checks this host; exit code 0 only when no check failed. */
export async function doctor(o: { port: readonly number[]; json?: boolean }): Promise<number> {
  const request = await readDevcontainer(process.cwd()).catch(() => undefined);
  const checks = await runChecks([...new Set([...o.port, ...(request?.forwardPorts ?? [])])]);
  const failed = checks.some((c) => c.status === 'fail');
  if (o.json) {
    writeText(1, `${JSON.stringify({ ok: !failed, checks }, null, 2)}\n`);
    return failed ? 1 : 0;
  }
  const mark = { pass: color.green('✔'), warn: color.yellow('!'), fail: color.red('✖') };
  for (const c of checks) {
    writeText(1, `${mark[c.status]} ${c.name.padEnd(14)} ${c.detail}\n`);
    if (c.fix && c.status !== 'pass') writeText(1, `  ${color.dim('fix:')} ${c.fix}\n`);
  }
  writeText(1, failed ? `\n${color.red('some checks failed')}\n` : `\n${color.green('all checks passed')}\n`);
  return failed ? 1 : 0;
}
