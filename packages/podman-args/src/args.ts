import { AGENT_PATHS, EGRESS_PATHS, LABELS } from './constants';
import { EGRESS_PROXY_ENV } from './egress';
import { InvalidInputError, parseInput } from './errors';
import { containerName } from './names';
import {
  containerRefSchema,
  type ExecArgsOptionsInput,
  execArgsOptionsSchema,
  ownerIdSchema,
  type RunSpecInput,
  runSpecSchema,
  sessionIdSchema,
} from './schemas';

/** Quotes one `key=value` field of podman's CSV-parsed `--mount` option when it needs it. */
function csvField(field: string): string {
  return /[",\s]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}

function publishArg(host: string, port: number): string {
  const address = host.includes(':') ? `[${host}]` : host;
  return `${address}:${port}:${port}`;
}

function bindMount(source: string, destination: string, readOnly = false): string {
  const fields = ['type=bind', `source=${source}`, `destination=${destination}`];
  if (readOnly) fields.push('ro=true');
  return fields.map(csvField).join(',');
}

/**
 * Argv (after `podman`) that starts a hardened session container: our labels, the working
 * directory bind-mounted at the same path, an init that stops at once (the agent, or
 * `--init` on the fallback path), no new privileges, every capability dropped but the few
 * the spec keeps, loopback-only ports (none at all without a network), and limits only
 * when the spec carries them.
 */
export function buildRunArgs(spec: RunSpecInput): string[] {
  const s = parseInput(runSpecSchema, spec, 'run spec');
  const cwd = s.workspaceFolder ?? s.workdir;
  const args = [
    'run',
    '--detach',
    '--name',
    containerName(s.sessionId),
    '--label',
    `${LABELS.managed}=true`,
    '--label',
    `${LABELS.session}=${s.sessionId}`,
    '--label',
    `${LABELS.owner}=${s.owner}`,
    '--label',
    `${LABELS.workdir}=${s.workdir}`,
    '--mount',
    bindMount(s.workdir, s.workdir),
    '--workdir',
    cwd,
    '--security-opt=no-new-privileges',
  ];
  if (cwd !== s.workdir) args.push('--mount', bindMount(s.workdir, cwd), '--label', `${LABELS.cwd}=${cwd}`);
  if (s.agent) {
    // The agent must be root to switch to the session's user; commands get that user.
    args.push(
      '--label',
      `${LABELS.agent}=${s.agent.runDir}`,
      '--user',
      '0:0',
      '--mount',
      bindMount(s.agent.binary, AGENT_PATHS.binary, true),
      '--mount',
      bindMount(`${s.agent.runDir}/token`, AGENT_PATHS.token, true),
      '--mount',
      bindMount(`${s.agent.runDir}/s`, AGENT_PATHS.socketDir),
      '--entrypoint',
      AGENT_PATHS.binary,
    );
    if (s.network === 'allowlist') {
      // The gateway's socket dir read-only (nothing in the session can replace the socket);
      // the agent's own ingress dir writable.
      args.push(
        '--mount',
        bindMount(`${s.agent.runDir}/${EGRESS_PATHS.hostOut}`, EGRESS_PATHS.out, true),
        '--mount',
        bindMount(`${s.agent.runDir}/${EGRESS_PATHS.hostIn}`, EGRESS_PATHS.in),
      );
    }
  } else {
    args.push('--init');
  }
  // Least privilege: nothing podman grants by default survives unless the policy keeps it.
  args.push('--cap-drop=ALL');
  for (const cap of new Set(s.capabilities)) args.push('--cap-add', cap);
  // Low ports for every user, in the container's own network namespace, instead of
  // NET_BIND_SERVICE for root alone.
  args.push('--sysctl', 'net.ipv4.ip_unprivileged_port_start=0');
  if (s.readOnlyRoot) args.push('--read-only', '--read-only-tmpfs=true');
  if (s.nproc !== undefined) args.push('--ulimit', `nproc=${s.nproc}:${s.nproc}`);
  if (s.network === 'none' || s.network === 'allowlist') {
    // allowlist: no route out at all; the agent's proxy on 127.0.0.1:3128 is the only way.
    args.push('--network', 'none');
  } else {
    for (const port of s.ports) args.push('--publish', publishArg(s.publishHost, port));
  }
  if (s.limits) {
    args.push('--memory', s.limits.memory, '--cpus', String(s.limits.cpus), '--pids-limit', String(s.limits.pids));
  }
  for (const [key, value] of Object.entries(s.env)) args.push('--env', `${key}=${value}`);
  if (s.network === 'allowlist') {
    for (const [key, value] of Object.entries(EGRESS_PROXY_ENV)) args.push('--env', `${key}=${value}`);
  }
  args.push(s.image);
  if (s.agent) {
    args.push(
      'init',
      '--socket',
      AGENT_PATHS.socket,
      '--token-file',
      AGENT_PATHS.token,
      '--session',
      s.sessionId,
      '--owner',
      s.owner,
      '--workdir',
      cwd,
    );
    if (s.agent.user !== undefined) args.push('--user', s.agent.user);
    if (s.network === 'allowlist') {
      args.push('--egress-socket', EGRESS_PATHS.socket, '--ingress-socket', EGRESS_PATHS.ingressSocket);
    }
  } else {
    args.push('sleep', 'infinity');
  }
  return args;
}

/** Argv (after `podman`) that runs `argv` in `container`. */
export function buildExecArgs(
  container: string,
  argv: readonly string[],
  options: ExecArgsOptionsInput = {},
): string[] {
  const name = parseInput(containerRefSchema, container, 'container');
  if (argv.length === 0) throw parseError('argv', 'command must not be empty');
  if (argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw parseError('argv', 'command arguments must be strings without NUL characters');
  }
  const o = parseInput(execArgsOptionsSchema, options, 'exec options');
  const args = ['exec'];
  if (o.interactive) args.push('--interactive');
  // Without this, Ctrl-P Ctrl-Q typed in a terminal would detach instead of reaching the program.
  if (o.tty) args.push('--tty', '--detach-keys=');
  for (const [key, value] of Object.entries(o.env)) args.push('--env', `${key}=${value}`);
  if (o.workdir !== undefined) args.push('--workdir', o.workdir);
  if (o.user !== undefined) args.push('--user', o.user);
  args.push(name, ...argv);
  return args;
}

function parseError(field: string, message: string): InvalidInputError {
  return new InvalidInputError(field, `Invalid ${field}: ${message}`);
}

export interface RmArgsOptions {
  /** Seconds between SIGTERM and SIGKILL. @default 1 */
  readonly graceSeconds?: number;
}

/** Argv (after `podman`) that force-removes containers, ignoring ones already gone. */
export function buildRmArgs(containers: readonly string[], options: RmArgsOptions = {}): string[] {
  const names = containers.map((c) => parseInput(containerRefSchema, c, 'container'));
  const grace = options.graceSeconds ?? 1;
  if (!Number.isInteger(grace) || grace < 0)
    throw parseError('graceSeconds', 'graceSeconds must be a whole number >= 0');
  return ['rm', '--force', '--ignore', '--time', String(grace), ...names];
}

export interface PsArgsOptions {
  /** Only containers of this owner. */
  readonly owner?: string;
  /** Only the container of this session. */
  readonly sessionId?: string;
}

/** Argv (after `podman`) listing our containers (by label, never by name) as JSON. */
export function buildPsArgs(options: PsArgsOptions = {}): string[] {
  const args = ['ps', '--all', '--filter', `label=${LABELS.managed}=true`];
  if (options.owner !== undefined) {
    args.push('--filter', `label=${LABELS.owner}=${parseInput(ownerIdSchema, options.owner, 'owner id')}`);
  }
  if (options.sessionId !== undefined) {
    args.push('--filter', `label=${LABELS.session}=${parseInput(sessionIdSchema, options.sessionId, 'session id')}`);
  }
  args.push('--format', 'json');
  return args;
}
