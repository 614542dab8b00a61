import { realpath, stat } from 'node:fs/promises';
import {
  AxoError,
  buildRmArgs,
  containerName,
  DEFAULT_OWNER,
  DROPPED_CAPS,
  envSchema,
  InvalidInputError,
  type ManagedContainer,
  ownerIdSchema,
  parseInput,
  portSchema,
  type ResolvedImage,
  resolveImage,
  type SandboxPolicy,
  sandboxPolicySchema,
  sessionIdSchema,
  workdirSchema,
} from '@axo/podman-args';
import { z } from 'zod';
import { type ExecOptions, type ExecResult, execInContainer } from './exec';
import { withKeyedLock } from './keyed-lock';
import { type SandboxLogger, silentLogger } from './logger';
import { assertOk, createPodman, type Podman, podmanSeamSchema } from './podman';
import { DEFAULT_DEV_TOOLS, type ProvisionReport, provision } from './provision';
import type { HardeningReport, PostCreateOutcome } from './report';
import { queryContainers } from './sessions';
import { createContainer } from './start';
import { type SpawnTaskOptions, type TaskInfo, type TaskLog, TaskRegistry } from './tasks';

const loggerSchema = z.custom<SandboxLogger>(
  (v) => typeof v === 'object' && v !== null && typeof (v as SandboxLogger).warn === 'function',
  { message: 'logger must have info and warn methods' },
);
const toolSchema = z.string().regex(/^[a-z0-9][a-z0-9+._-]*$/, 'tool names are lower-case package-style names');

export const startOptionsSchema = z.strictObject({
  /** Session id; the container is `axo-ses-<id>`. */
  sessionId: sessionIdSchema,
  /** Host directory mounted at the same path; must exist. Symlinks are resolved. */
  workdir: z.string().min(1, 'workdir must not be empty'),
  /** Manager instance that owns the session (scopes reaping). @default 'default' */
  owner: ownerIdSchema.default(DEFAULT_OWNER),
  /** Image asked for; the policy decides (see resolveImage). */
  image: z.string().optional(),
  /** Ports to publish on `publishHost` with the same number. @default [] */
  ports: z.array(portSchema).default([]),
  /** @default '127.0.0.1' */
  publishHost: z.string().optional(),
  /** Container environment. @default {} */
  env: envSchema.default({}),
  /** The repository's post-create commands; run only when the policy allows. @default [] */
  postCreate: z.array(z.string()).default([]),
  /** The sandbox policy (secure defaults). */
  policy: sandboxPolicySchema.default(() => sandboxPolicySchema.parse({})),
  /** Dev tools to ensure, or `false` to skip provisioning. @default { tools: DEFAULT_DEV_TOOLS } */
  provision: z
    .union([
      z.literal(false),
      z.strictObject({
        tools: z.array(toolSchema).default([...DEFAULT_DEV_TOOLS]),
        /** @default 300000 */
        timeoutMs: z.number().int().positive().default(300_000),
      }),
    ])
    .default({ tools: [...DEFAULT_DEV_TOOLS], timeoutMs: 300_000 }),
  /** Reuse a running container of this session (same owner) instead of replacing it. @default false */
  reattach: z.boolean().default(false),
  /** Limit for each `podman run`. @default 300000 (a first start may pull an image) */
  startTimeoutMs: z.number().int().positive().default(300_000),
  /** Limit for each post-create command. @default 600000 */
  postCreateTimeoutMs: z.number().int().positive().default(600_000),
  logger: loggerSchema.default(silentLogger),
  /** The podman binary or seam. @default 'podman' on PATH */
  podman: podmanSeamSchema.optional(),
});

export type StartOptions = z.input<typeof startOptionsSchema>;

export const attachOptionsSchema = z.strictObject({
  sessionId: sessionIdSchema,
  owner: ownerIdSchema.default(DEFAULT_OWNER),
  podman: podmanSeamSchema.optional(),
});

export type AttachOptions = z.input<typeof attachOptionsSchema>;

async function resolveWorkdir(dir: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (cause) {
    throw new InvalidInputError('workdir', `Invalid workdir: ${dir} does not exist`, { cause });
  }
  if (!(await stat(real)).isDirectory())
    throw new InvalidInputError('workdir', `Invalid workdir: ${dir} is not a directory`);
  return parseInput(workdirSchema, real, 'workdir');
}

async function findSession(podman: Podman, sessionId: string, owner: string): Promise<ManagedContainer | undefined> {
  return (await queryContainers(podman, owner, sessionId))[0];
}

/** A session's hardened container, and the commands, tasks and reports that go with it. */
export class SessionSandbox {
  /** Session id. */
  readonly sessionId: string;
  /** Container name (`axo-ses-<id>`). */
  readonly container: string;
  /** Owner id the container is labelled with. */
  readonly owner: string;
  /** Host working directory (also the path inside the container). */
  readonly root: string;
  readonly #podman: Podman;
  readonly #tasks: TaskRegistry;
  #stopped: Promise<void> | undefined;
  #report: HardeningReport | undefined;

  private constructor(podman: Podman, c: { sessionId: string; owner: string; root: string }) {
    this.#podman = podman;
    this.sessionId = c.sessionId;
    this.owner = c.owner;
    this.root = c.root;
    this.container = containerName(c.sessionId);
    this.#tasks = new TaskRegistry(podman, this.container);
  }

  /** What protection applied; undefined for a sandbox made with `attach`. */
  get report(): HardeningReport | undefined {
    return this.#report;
  }

  /**
   * Starts (or with `reattach`, reuses) the session container, provisions dev tools and
   * runs allowed post-create commands. Concurrent starts of one session are serialised.
   */
  static async start(options: StartOptions): Promise<SessionSandbox> {
    const o = parseInput(startOptionsSchema, options, 'start options');
    const podman = createPodman(o.podman);
    const workdir = await resolveWorkdir(o.workdir);
    const image = resolveImage(o.image, o.policy);
    const name = containerName(o.sessionId);
    return withKeyedLock(`${podman.binary}\0${name}`, async () => {
      const started = performance.now();
      const sandbox = new SessionSandbox(podman, { sessionId: o.sessionId, owner: o.owner, root: workdir });
      const existing = o.reattach ? await findSession(podman, o.sessionId, o.owner) : undefined;
      const report =
        existing?.state === 'running'
          ? await reattachTo(sandbox, existing, image, o)
          : await createIn(sandbox, podman, image, o);
      sandbox.#report = { ...report, durationMs: Math.round(performance.now() - started) };
      return sandbox;
    });
  }

  /** Uses a running session container that another process (or an earlier run) started. */
  static async attach(options: AttachOptions): Promise<SessionSandbox> {
    const o = parseInput(attachOptionsSchema, options, 'attach options');
    const podman = createPodman(o.podman);
    const found = await findSession(podman, o.sessionId, o.owner);
    if (found?.state !== 'running') {
      throw new AxoError(
        'NOT_FOUND',
        `no running session ${o.sessionId} of owner ${o.owner}${found ? ` (its container is ${found.state})` : ''}`,
        {
          hint: 'Start it with SessionSandbox.start, or list sessions with `podman ps --filter label=io.axo.managed=true`.',
        },
      );
    }
    return new SessionSandbox(podman, { sessionId: found.sessionId, owner: found.owner, root: found.workdir });
  }

  /** Runs `argv` in the container; a non-zero exit is a result. */
  exec(argv: readonly string[], options: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  exec(argv: readonly string[], options?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
  exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult<string | Buffer>> {
    return execInContainer(this.#podman, this.container, argv, { cwd: this.root, ...options });
  }

  /** Starts `command` (`sh -c`) in the background; returns its id at once. */
  spawnBackground(command: string, options: SpawnTaskOptions = {}): string {
    return this.#tasks.spawn(command, { cwd: this.root, ...options });
  }

  /** A snapshot of one task, or undefined. */
  getTask(id: string): TaskInfo | undefined {
    return this.#tasks.get(id);
  }

  /** Snapshots of every task of this sandbox object. */
  listTasks(): TaskInfo[] {
    return this.#tasks.list();
  }

  /** A task's combined output from a byte offset (for incremental polling). */
  taskLog(id: string, offset = 0): TaskLog {
    return this.#tasks.log(id, offset);
  }

  /** Resolves when the task has ended. */
  waitTask(id: string): Promise<TaskInfo> {
    return this.#tasks.wait(id);
  }

  /** Ends a task's processes inside the container and waits for it. */
  killTask(id: string): Promise<TaskInfo> {
    return this.#tasks.kill(id);
  }

  /** Removes the container (in well under a second). Calling it again is a no-op. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const result = await this.#podman.run(buildRmArgs([this.container]), { timeoutMs: 30_000 });
      this.#tasks.abandonAll();
      assertOk(result, 'PODMAN_FAILED', `cannot remove ${this.container}`);
    })();
    return this.#stopped;
  }
}

type StartInput = z.output<typeof startOptionsSchema>;
type ReportBody = Omit<HardeningReport, 'durationMs'>;

function commonReport(sandbox: SessionSandbox, policy: SandboxPolicy) {
  return {
    sessionId: sandbox.sessionId,
    container: sandbox.container,
    owner: sandbox.owner,
    workdir: sandbox.root,
    network: policy.network,
    capabilitiesDropped: DROPPED_CAPS,
    noNewPrivileges: true,
  };
}

function provisionIn(sandbox: SessionSandbox, o: StartInput): Promise<ProvisionReport> {
  if (o.provision === false) return Promise.resolve(disabledProvisioning('turned off'));
  return provision((argv, opts) => sandbox.exec(argv, { ...opts, encoding: 'utf8' }), {
    tools: o.provision.tools,
    timeoutMs: o.provision.timeoutMs,
    network: o.policy.network,
    logger: o.logger,
  });
}

/** Reuses a running container: tools are checked; post-create commands ran when it was made. */
async function reattachTo(
  sandbox: SessionSandbox,
  existing: ManagedContainer,
  image: ResolvedImage,
  o: StartInput,
): Promise<ReportBody> {
  if (existing.workdir !== sandbox.root) {
    throw new AxoError(
      'START_FAILED',
      `session ${o.sessionId} is running over ${existing.workdir}, not ${sandbox.root}`,
      {
        hint: 'Reattach with the same workdir, or start without reattach to replace it.',
      },
    );
  }
  o.logger.info(`reattached to running session container ${sandbox.container}`);
  const provisioning = await provisionIn(sandbox, o);
  return {
    ...commonReport(sandbox, o.policy),
    reattached: true,
    image: { requested: image.requested, used: existing.image },
    limits: { requested: o.policy.limits, applied: 'unknown' },
    ports: {
      requested: o.ports,
      published: existing.ports.map((p) => ({ hostIp: p.hostIp, port: p.hostPort })),
      dropped: [],
    },
    postCreate: [],
    provisioning,
    warnings: provisioning.status === 'failed' ? [`provisioning failed: ${provisioning.detail ?? ''}`] : [],
  };
}

/** Creates the container, provisions it and runs the post-create commands the policy allows. */
async function createIn(
  sandbox: SessionSandbox,
  podman: Podman,
  image: ResolvedImage,
  o: StartInput,
): Promise<ReportBody> {
  const { policy } = o;
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    o.logger.warn(message);
  };
  if (image.warning) warn(image.warning);
  const created = await createContainer({
    podman,
    spec: {
      sessionId: o.sessionId,
      owner: o.owner,
      workdir: sandbox.root,
      image: image.image,
      network: policy.network,
      publishHost: o.publishHost,
      env: o.env,
    },
    ports: policy.network === 'none' ? [] : o.ports,
    policy,
    timeoutMs: o.startTimeoutMs,
    logger: o.logger,
    // Replace only a container that carries our labels for this very session and owner.
    mayReplace: async () => (await findSession(podman, o.sessionId, o.owner)) !== undefined,
  });
  warnings.push(...created.warnings);

  const provisioning = await provisionIn(sandbox, o);
  if (provisioning.status === 'failed') warnings.push(`provisioning failed: ${provisioning.detail ?? ''}`);

  const postCreate: PostCreateOutcome[] = [];
  if (o.postCreate.length > 0 && !policy.allowPostCreate) {
    warn(
      `skipped ${o.postCreate.length} post-create command(s) from the repository: they are not run ` +
        'automatically. Set allowPostCreate in the policy to run them.',
    );
    for (const command of o.postCreate) postCreate.push({ command, status: 'skipped', exitCode: null });
  } else {
    for (const command of o.postCreate) {
      o.logger.info(`running post-create command: ${command}`);
      const r = await sandbox.exec(['sh', '-c', command], { timeoutMs: o.postCreateTimeoutMs });
      const status = r.timedOut ? 'timed-out' : r.exitCode === 0 ? 'ok' : 'failed';
      postCreate.push({ command, status, exitCode: r.exitCode });
      if (status !== 'ok') {
        const said = r.stderr.trim() ? `: ${r.stderr.trim().slice(-500)}` : '';
        warn(
          `post-create command ${status === 'timed-out' ? 'timed out' : `failed (exit ${r.exitCode})`}: ${command}${said}`,
        );
      }
    }
  }

  const requestedPorts = [...new Set(o.ports)];
  const hostIp = o.publishHost ?? '127.0.0.1';
  return {
    ...commonReport(sandbox, policy),
    reattached: false,
    image: { requested: image.requested, used: image.image, ...(image.warning && { refusedReason: image.warning }) },
    limits: {
      requested: policy.limits,
      applied: created.limitsApplied,
      ...(created.limitsDroppedReason && { droppedReason: created.limitsDroppedReason }),
    },
    ports: {
      requested: requestedPorts,
      published: created.published.map((port) => ({ hostIp, port })),
      dropped: [
        ...(policy.network === 'none'
          ? requestedPorts.map((port) => ({ port, reason: 'the session has no network' }))
          : []),
        ...created.dropped,
      ],
    },
    postCreate,
    provisioning,
    warnings,
  };
}

function disabledProvisioning(detail: string): ProvisionReport {
  return {
    status: 'disabled',
    packageManager: undefined,
    tools: [],
    missing: [],
    installed: [],
    detail,
    durationMs: 0,
  };
}
