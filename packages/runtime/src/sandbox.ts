import { realpath, stat } from 'node:fs/promises';
import {
  AxoError,
  buildPsArgs,
  buildRmArgs,
  containerName,
  DEFAULT_OWNER,
  DROPPED_CAPS,
  envSchema,
  InvalidInputError,
  type ManagedContainer,
  ownerIdSchema,
  parseInput,
  parseManagedContainers,
  portSchema,
  resolveImage,
  sandboxPolicySchema,
  sessionIdSchema,
  workdirSchema,
} from '@axo/podman-args';
import { z } from 'zod';
import { type ExecOptions, type ExecResult, execInContainer } from './exec';
import { withKeyedLock } from './keyed-lock';
import { type SandboxLogger, silentLogger } from './logger';
import { assertOk, createPodman, type Podman, type PodmanOptions } from './podman';
import { DEFAULT_DEV_TOOLS, type ProvisionReport, provision } from './provision';
import type { HardeningReport, PostCreateOutcome } from './report';
import { createContainer } from './start';
import { type SpawnTaskOptions, type TaskInfo, type TaskLog, TaskRegistry } from './tasks';

const podmanSeamSchema = z.custom<Podman | PodmanOptions>((v) => v === undefined || typeof v === 'object', {
  message: 'podman must be a Podman seam or { binary }',
});
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
  policy: z.unknown().optional(),
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
  const result = await podman.run(buildPsArgs({ sessionId, owner }), { timeoutMs: 30_000 });
  assertOk(result, 'PODMAN_FAILED', 'cannot list session containers');
  return parseManagedContainers(result.stdout).find((c) => c.owner === owner);
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
  /** What protection applied; undefined for a sandbox made with `attach`. */
  readonly report: HardeningReport | undefined;
  readonly #podman: Podman;
  readonly #tasks: TaskRegistry;
  #stopped: Promise<void> | undefined;

  private constructor(podman: Podman, c: { sessionId: string; owner: string; root: string }, report?: HardeningReport) {
    this.#podman = podman;
    this.sessionId = c.sessionId;
    this.owner = c.owner;
    this.root = c.root;
    this.container = containerName(c.sessionId);
    this.report = report;
    this.#tasks = new TaskRegistry(podman, this.container);
  }

  /**
   * Starts (or with `reattach`, reuses) the session container, provisions dev tools and
   * runs allowed post-create commands. Concurrent starts of one session are serialised.
   */
  static async start(options: StartOptions): Promise<SessionSandbox> {
    const o = parseInput(startOptionsSchema, options, 'start options');
    const policy = parseInput(sandboxPolicySchema, o.policy ?? {}, 'sandbox policy');
    const podman = createPodman(o.podman);
    const workdir = await resolveWorkdir(o.workdir);
    const image = resolveImage(o.image, policy);
    const name = containerName(o.sessionId);
    return withKeyedLock(`${podman.binary}\0${name}`, async () => {
      const started = performance.now();
      const ctx = { sessionId: o.sessionId, owner: o.owner, root: workdir };
      const common = {
        sessionId: o.sessionId,
        container: name,
        owner: o.owner,
        workdir,
        network: policy.network,
        capabilitiesDropped: DROPPED_CAPS,
        noNewPrivileges: true,
      };
      const provisionIn = (sandbox: SessionSandbox) =>
        o.provision === false
          ? Promise.resolve(disabledProvisioning('turned off'))
          : provision((argv, opts) => sandbox.exec(argv, { ...opts, encoding: 'utf8' }), {
              tools: o.provision.tools,
              timeoutMs: o.provision.timeoutMs,
              network: policy.network,
              logger: o.logger,
            });

      if (o.reattach) {
        const existing = await findSession(podman, o.sessionId, o.owner);
        if (existing?.state === 'running') {
          if (existing.workdir !== workdir) {
            throw new AxoError(
              'START_FAILED',
              `session ${o.sessionId} is running over ${existing.workdir}, not ${workdir}`,
              {
                hint: 'Reattach with the same workdir, or start without reattach to replace it.',
              },
            );
          }
          o.logger.info(`reattached to running session container ${name}`);
          const sandbox = new SessionSandbox(podman, ctx);
          // Post-create commands ran when the container was made; tools are only checked.
          const provisioning = await provisionIn(sandbox);
          return new SessionSandbox(podman, ctx, {
            ...common,
            reattached: true,
            image: { requested: image.requested, used: existing.image },
            limits: { requested: policy.limits, applied: 'unknown' },
            ports: {
              requested: o.ports,
              published: existing.ports.map((p) => ({ hostIp: p.hostIp, port: p.hostPort })),
              dropped: [],
            },
            postCreate: [],
            provisioning,
            warnings: provisioning.status === 'failed' ? [`provisioning failed: ${provisioning.detail ?? ''}`] : [],
            durationMs: Math.round(performance.now() - started),
          });
        }
      }

      const warnings: string[] = [];
      if (image.warning) {
        warnings.push(image.warning);
        o.logger.warn(image.warning);
      }
      const created = await createContainer({
        podman,
        spec: {
          sessionId: o.sessionId,
          owner: o.owner,
          workdir,
          image: image.image,
          network: policy.network,
          publishHost: o.publishHost,
          env: o.env,
        },
        ports: policy.network === 'none' ? [] : o.ports,
        policy,
        timeoutMs: o.startTimeoutMs,
        logger: o.logger,
        mayReplace: async () => {
          // Replace only a container that carries our labels for this very session and owner.
          const existing = await findSession(podman, o.sessionId, o.owner);
          return existing !== undefined;
        },
      });
      warnings.push(...created.warnings);
      const sandbox = new SessionSandbox(podman, ctx);

      const provisioning = await provisionIn(sandbox);
      if (provisioning.status === 'failed') warnings.push(`provisioning failed: ${provisioning.detail ?? ''}`);

      const postCreate: PostCreateOutcome[] = [];
      if (o.postCreate.length > 0 && !policy.allowPostCreate) {
        const message =
          `skipped ${o.postCreate.length} post-create command(s) from the repository: they are not run ` +
          'automatically. Set allowPostCreate in the policy to run them.';
        warnings.push(message);
        o.logger.warn(message);
        for (const command of o.postCreate) postCreate.push({ command, status: 'skipped', exitCode: null });
      } else {
        for (const command of o.postCreate) {
          o.logger.info(`running post-create command: ${command}`);
          const r = await sandbox.exec(['sh', '-c', command], { timeoutMs: o.postCreateTimeoutMs });
          const status = r.timedOut ? 'timed-out' : r.exitCode === 0 ? 'ok' : 'failed';
          postCreate.push({ command, status, exitCode: r.exitCode });
          if (status !== 'ok') {
            const message = `post-create command ${status === 'timed-out' ? 'timed out' : `failed (exit ${r.exitCode})`}: ${command}${r.stderr.trim() ? `: ${r.stderr.trim().slice(-500)}` : ''}`;
            warnings.push(message);
            o.logger.warn(message);
          }
        }
      }

      const requestedPorts = [...new Set(o.ports)];
      const networkDropped =
        policy.network === 'none' ? requestedPorts.map((port) => ({ port, reason: 'the session has no network' })) : [];
      const hostIp = o.publishHost ?? '127.0.0.1';
      const report: HardeningReport = {
        ...common,
        reattached: false,
        image: {
          requested: image.requested,
          used: image.image,
          ...(image.warning && { refusedReason: image.warning }),
        },
        limits: {
          requested: policy.limits,
          applied: created.limitsApplied,
          ...(created.limitsDroppedReason && { droppedReason: created.limitsDroppedReason }),
        },
        ports: {
          requested: requestedPorts,
          published: created.published.map((port) => ({ hostIp, port })),
          dropped: [...networkDropped, ...created.dropped],
        },
        postCreate,
        provisioning,
        warnings,
        durationMs: Math.round(performance.now() - started),
      };
      return new SessionSandbox(podman, ctx, report);
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
