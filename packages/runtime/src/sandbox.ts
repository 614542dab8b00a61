import { realpath, stat } from 'node:fs/promises';
import { agentBinaryPath } from '@axo/agent';
import {
  AxoError,
  buildPsArgs,
  buildRmArgs,
  containerName,
  DEFAULT_OWNER,
  envSchema,
  type InspectFacts,
  InvalidInputError,
  type ManagedContainer,
  ownerIdSchema,
  parseInput,
  parseManagedContainers,
  portSchema,
  type ResolvedImage,
  resolveImage,
  type SandboxPolicy,
  sandboxPolicySchema,
  sessionIdSchema,
  userSchema,
  workdirSchema,
  workspaceFolderSchema,
} from '@axo/podman-args';
import { z } from 'zod';
import { AgentClient } from './agent/client';
import { type AgentStatus, endpointFor, isOurRunDir, waitForAgent } from './agent/endpoint';
import { prepareRunDir, removeRunDir, sessionRunDir } from './agent/paths';
import { cgroupsDelegated, isPaused, type PodmanRun, pauseSession, pauseSupport, resumeIfPaused } from './agent/pause';
import { spawnViaAgent } from './backends/agent';
import { spawnViaPodman } from './backends/podman-exec';
import { type BuildReport, buildRequestSchema, buildSessionImage } from './build';
import {
  type EgressLogOptions,
  type EgressRecord,
  type EgressStats,
  gatewayName,
  parseEgressList,
  readEgressLog,
  readEgressPolicy,
  readEgressStats,
  waitEgressApplied,
  writeEgressPolicy,
} from './egress';
import { type GatewayReady, prepareEgressDirs, startGateway } from './egress-gateway';
import { ensureGatewayOnReattach } from './egress-reattach';
import {
  collect,
  type ExecOptions,
  type ExecResult,
  execOptionsSchema,
  type SpawnOptions,
  spawnOptionsSchema,
  toSpawnSpec,
} from './exec';
import { SandboxFiles } from './files/sandbox-files';
import { assessHardening } from './hardening';
import { inspectContainer, readInForce, readInForceOf } from './in-force';
import { withKeyedLock } from './keyed-lock';
import { type LifecycleOutcome, lifecycleSchema, runLifecycle } from './lifecycle';
import { type SandboxLogger, silentLogger } from './logger';
import { assertOk, containerRunning, createPodman, type Podman, type PodmanResult, podmanSeamSchema } from './podman';
import type { ExecProcess, SpawnSpec } from './process';
import { DEFAULT_DEV_TOOLS, type ProvisionReport, probeTools, provision, type ToolProbe } from './provision';
import type { HardeningReport, PostCreateOutcome } from './report';
import { queryContainers } from './sessions';
import { type CreatedContainer, createContainer, imageUser, inspectImageUser } from './start';
import {
  AgentTaskRegistry,
  type SpawnTaskOptions,
  spawnTaskOptionsSchema,
  type TaskBackend,
  type TaskInfo,
  type TaskLog,
  validTaskCommand,
} from './tasks';
import { PodmanTaskRegistry } from './tasks-podman';
import { AgentTerminal, type TerminalOptions } from './terminal';

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
  /** The user commands, tasks and terminals run as. @default the image's USER, else root */
  user: userSchema.optional(),
  /** The repository's post-create commands (shell lines); run only when the policy allows. @default [] */
  postCreate: z.array(z.string()).default([]),
  /**
   * The repository's lifecycle commands per stage (devcontainer.json's onCreateCommand …
   * postAttachCommand), run at their moments when the policy allows. @default {}
   */
  lifecycle: lifecycleSchema.default({
    onCreate: [],
    updateContent: [],
    postCreate: [],
    postStart: [],
    postAttach: [],
  }),
  /** The repository's image build (devcontainer.json `build`); done only when the policy allows builds. */
  build: buildRequestSchema.optional(),
  /** Where the repository wants its workspace inside the container; also the default cwd. */
  workspaceFolder: workspaceFolderSchema.optional(),
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
  /**
   * Run axo-agent as the container's init, so commands cost a fork instead of a
   * `podman exec`. When it cannot run, the session starts the old way and the report says
   * why. `false` chooses the `podman exec` path on purpose. @default true
   */
  agent: z.boolean().default(true),
  /** Reuse a running container of this session (same owner) instead of replacing it. @default false */
  reattach: z.boolean().default(false),
  /** Limit for each `podman run`. @default 300000 (a first start may pull an image) */
  startTimeoutMs: z.number().int().positive().default(300_000),
  /** Limit for each lifecycle (post-create …) command. @default 600000 */
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

/** Every axo container of this session id, whoever owns it. */
async function findAnyOwner(podman: Podman, sessionId: string): Promise<ManagedContainer | undefined> {
  const result = await podman.run(buildPsArgs({ sessionId }), { timeoutMs: 60_000 });
  assertOk(result, 'PODMAN_FAILED', 'cannot list session containers');
  return parseManagedContainers(result.stdout)[0];
}

/** How commands reach the container: the agent, or a podman exec each. */
type Backend =
  | { readonly via: 'agent'; readonly client: AgentClient; readonly tasks: TaskBackend; readonly version: string }
  | { readonly via: 'podman-exec'; readonly tasks: PodmanTaskRegistry; readonly reason: string };

/** A session's hardened container, and the commands, tasks and reports that go with it. */
export class SessionSandbox {
  /** Session id. */
  readonly sessionId: string;
  /** Container name (`axo-ses-<id>`). */
  readonly container: string;
  /** Owner id the container is labelled with. */
  readonly owner: string;
  /** Host working directory (also mounted at the same path inside the container). */
  readonly root: string;
  /** Where commands run by default inside the container: the workspace folder, else `root`. */
  readonly cwd: string;
  readonly #podman: Podman;
  #backend: Backend;
  #runDir: string | undefined;
  #stopped: Promise<void> | undefined;
  #report: HardeningReport | undefined;
  #files: { readonly client: AgentClient; readonly files: SandboxFiles } | undefined;

  private constructor(podman: Podman, c: { sessionId: string; owner: string; root: string; cwd?: string }) {
    this.#podman = podman;
    this.sessionId = c.sessionId;
    this.owner = c.owner;
    this.root = c.root;
    this.cwd = c.cwd || c.root;
    this.container = containerName(c.sessionId);
    this.#backend = this.#podmanBackend('not connected yet');
  }

  #podmanBackend(reason: string): Backend {
    return { via: 'podman-exec', tasks: new PodmanTaskRegistry(this.#podman, this.container), reason };
  }

  #agentBackend(client: AgentClient, version: string, runDir: string): void {
    this.#backend = {
      via: 'agent',
      client,
      version,
      tasks: new AgentTaskRegistry(client, { cwd: this.cwd }),
    };
    this.#runDir = runDir;
  }

  /** Connects to the session's agent when it has one; otherwise keeps the podman path. */
  async #connectAgent(labelledRunDir: string | undefined): Promise<AgentStatus> {
    if (labelledRunDir === undefined) {
      const reason = 'the container was created without the agent';
      this.#backend = this.#podmanBackend(reason);
      return { status: 'unavailable', reason };
    }
    const endpoint = await endpointFor(this.sessionId, labelledRunDir);
    if (!endpoint) {
      const reason = isOurRunDir(this.sessionId, labelledRunDir)
        ? `its run dir ${labelledRunDir} has no token (was it removed?)`
        : `its agent label names ${labelledRunDir}, outside axo's run root`;
      this.#backend = this.#podmanBackend(reason);
      return { status: 'unavailable', reason };
    }
    // Resuming a paused session goes through this sandbox's podman seam, as everything else.
    const client = new AgentClient(endpoint, { podman: this.#podmanRun });
    // A paused session is not woken just to be looked at: the first real call resumes it.
    if (isPaused(endpoint.runDir)) {
      this.#agentBackend(client, 'unknown (paused)', endpoint.runDir);
      return { status: 'running', version: 'unknown (paused)' };
    }
    try {
      const pong = await client.ping();
      this.#agentBackend(client, pong.agent, endpoint.runDir);
      return { status: 'running', version: pong.agent };
    } catch (error) {
      this.#backend = this.#podmanBackend((error as Error).message);
      return { status: 'unavailable', reason: (error as Error).message };
    }
  }

  /** What protection applied; undefined for a sandbox made with `attach`. */
  get report(): HardeningReport | undefined {
    return this.#report;
  }

  /** Whether commands go through the session's agent, and if not, why. */
  get agent(): AgentStatus {
    const b = this.#backend;
    return b.via === 'agent' ? { status: 'running', version: b.version } : { status: 'unavailable', reason: b.reason };
  }

  /** The agent client, for callers that need the agent's own operations. */
  get agentClient(): AgentClient | undefined {
    return this.#backend.via === 'agent' ? this.#backend.client : undefined;
  }

  /**
   * Starts (or with `reattach`, reuses) the session container, provisions dev tools and
   * runs allowed post-create commands. Concurrent starts of one session are serialised.
   */
  static async start(options: StartOptions): Promise<SessionSandbox> {
    const o = parseInput(startOptionsSchema, options, 'start options');
    const podman = createPodman(o.podman);
    const name = containerName(o.sessionId);
    // Locked before anything asynchronous, so concurrent starts run in call order.
    return withKeyedLock(`${podman.binary}\0${name}`, async () => {
      const workdir = await resolveWorkdir(o.workdir);
      const started = performance.now();
      // A build is an input, like the image: done (or refused) before anything running is touched.
      const built = await buildIfAllowed(podman, o, workdir);
      const image = built.report
        ? resolveImage(built.report.image, {
            ...o.policy,
            trustedImages: [...o.policy.trustedImages, built.report.image],
          })
        : resolveImage(o.image, o.policy);
      const sandbox = new SessionSandbox(podman, {
        sessionId: o.sessionId,
        owner: o.owner,
        root: workdir,
        cwd: o.workspaceFolder,
      });
      // The image's USER is read beside the `podman ps`: both only read, a new container needs
      // it, and nothing is pulled yet (that waits for the owner check), so a reattach that has
      // no use for it loses only a concurrent read.
      const userRead = o.user === undefined ? inspectImageUser(podman, image.image) : undefined;
      userRead?.catch(() => undefined);
      const existing = await findAnyOwner(podman, o.sessionId);
      if (existing && existing.owner !== o.owner) {
        throw new AxoError('START_FAILED', `session ${o.sessionId} belongs to another owner (${existing.owner})`, {
          hint: 'Use another session id; axo never touches sessions of other owners.',
        });
      }
      // Once an earlier container was removed, a failure must say so: the user's old
      // session is gone, not merely "not replaced".
      const replaced = { done: false };
      const report =
        o.reattach && existing?.state === 'running'
          ? await SessionSandbox.#reattachTo(sandbox, existing, image, o)
          : await SessionSandbox.#createIn(sandbox, podman, image, o, existing, replaced, userRead).catch(
              (error: unknown) => {
                throw replaced.done ? explainReplaced(error, o.sessionId) : error;
              },
            );
      sandbox.#report = {
        ...report,
        ...(built.report && { build: built.report }),
        ...(built.refused && { warnings: [built.refused, ...report.warnings] }),
        durationMs: Math.round(performance.now() - started),
      };
      return sandbox;
    });
  }

  /** Uses a running session container that another process (or an earlier run) started. */
  static async attach(options: AttachOptions): Promise<SessionSandbox> {
    const o = parseInput(attachOptionsSchema, options, 'attach options');
    const podman = createPodman(o.podman);
    const found = await findSession(podman, o.sessionId, o.owner);
    if (found?.state !== 'running' && found?.state !== 'paused') {
      throw new AxoError(
        'NOT_FOUND',
        `no running session ${o.sessionId} of owner ${o.owner}${found ? ` (its container is ${found.state})` : ''}`,
        {
          hint: 'Start it with SessionSandbox.start, or list sessions with `podman ps --filter label=io.axo.managed=true`.',
        },
      );
    }
    const sandbox = new SessionSandbox(podman, {
      sessionId: found.sessionId,
      owner: found.owner,
      root: found.workdir,
      cwd: found.cwd,
    });
    await sandbox.#connectAgent(found.agentRunDir);
    return sandbox;
  }

  #spec(argv: readonly string[], o: z.output<typeof spawnOptionsSchema>, stdin: boolean): SpawnSpec {
    return toSpawnSpec(argv, o, stdin, { cwd: this.cwd, user: undefined });
  }

  async #spawn(spec: SpawnSpec): Promise<ExecProcess> {
    const b = this.#backend;
    if (b.via === 'agent') return spawnViaAgent(b.client, spec);
    // The agent client resumes a paused session itself; the podman path does it here.
    await this.resume();
    return spawnViaPodman(this.#podman, this.container, spec);
  }

  /**
   * Starts `argv` and returns it as streams (stdout, stderr, stdin with `stdin: true`),
   * with backpressure: a slow reader slows the command.
   */
  spawn(argv: readonly string[], options: SpawnOptions = {}): Promise<ExecProcess> {
    const o = parseInput(spawnOptionsSchema, options, 'spawn options');
    return this.#spawn(this.#spec(argv, o, o.stdin));
  }

  /** Runs `argv` in the container; a non-zero exit is a result. */
  exec(argv: readonly string[], options: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  exec(argv: readonly string[], options?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
  exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult<string | Buffer>> {
    const o = parseInput(execOptionsSchema, options, 'exec options');
    // Nobody sees output past the cap: the agent need not send it. One byte more than the
    // cap still arrives, so the result says it was truncated.
    const unobserved = !o.onStdout && !o.onStderr && !o.stdout && !o.stderr;
    const limit = o.maxOutputBytes !== undefined && unobserved ? { outputLimit: o.maxOutputBytes + 1 } : {};
    const stdin = o.stdin !== undefined;
    return collect(() => this.#spawn({ ...this.#spec(argv, { ...o, stdin }, stdin), ...limit }), o);
  }

  /** Starts `command` (`sh -c`) in the background; resolves with its id once it runs. */
  spawnBackground(command: string, options: SpawnTaskOptions = {}): Promise<string> {
    validTaskCommand(command);
    const o = parseInput(spawnTaskOptionsSchema, options, 'task options');
    return this.#backend.tasks.spawn(command, { cwd: this.cwd, ...o });
  }

  /** A snapshot of one task, or undefined. */
  getTask(id: string): Promise<TaskInfo | undefined> {
    return this.#backend.tasks.get(id);
  }

  /** Snapshots of every task of this session (with the agent: whoever started them). */
  listTasks(): Promise<TaskInfo[]> {
    return this.#backend.tasks.list();
  }

  /** A task's combined output from a byte offset (for incremental polling). */
  taskLog(id: string, offset = 0): Promise<TaskLog> {
    return this.#backend.tasks.log(id, offset);
  }

  /** Resolves when the task has ended. */
  waitTask(id: string): Promise<TaskInfo> {
    return this.#backend.tasks.wait(id);
  }

  /** Ends a task's processes inside the container and waits for it. */
  killTask(id: string): Promise<TaskInfo> {
    return this.#backend.tasks.kill(id);
  }

  /**
   * Opens a terminal on a PTY the agent allocates. Without the agent this throws
   * AGENT_UNAVAILABLE: use @axo/pty's PtyTerminal (node-pty over `podman exec -it`) then.
   */
  openTerminal(options: TerminalOptions = {}): Promise<AgentTerminal> {
    const b = this.#backend;
    if (b.via !== 'agent') {
      return Promise.reject(
        new AxoError('AGENT_UNAVAILABLE', `session ${this.sessionId} has no agent: ${b.reason}`, {
          hint: "Use @axo/pty's PtyTerminal over podman exec for this session.",
        }),
      );
    }
    return AgentTerminal.spawn(b.client, { cwd: this.cwd }, options);
  }

  /**
   * The session's files, through its agent: stat, list, mkdir, remove, move, symlink,
   * streamed read and atomic write, and watches, each acting as the session's user. Throws
   * AGENT_UNAVAILABLE for a session without the agent: there is no weaker fallback.
   */
  get files(): SandboxFiles {
    const b = this.#backend;
    if (b.via !== 'agent') {
      const why = `session ${this.sessionId} has no agent, so no file operations: ${b.reason}`;
      throw new AxoError('AGENT_UNAVAILABLE', why, {
        hint: 'Recreate the session with its agent (without `agent: false`; `axo up --replace`). podman cp is no substitute: it acts as root and follows links the container controls.',
      });
    }
    if (this.#files?.client !== b.client) this.#files = { client: b.client, files: new SandboxFiles(b.client) };
    return this.#files.files;
  }

  /** Whether the session is paused (one stat of its marker; no podman call). */
  get paused(): boolean {
    return isPaused(sessionRunDir(this.sessionId));
  }

  /**
   * Freezes the session (cgroup freezer): its processes keep their memory and state and use
   * no CPU until `resume()` — or until any call on the session, from any axo process,
   * resumes it. Throws UNSUPPORTED where this host cannot pause (rootless on cgroup v1).
   */
  async pause(): Promise<void> {
    const support = pauseSupport();
    if (!support.supported) {
      throw new AxoError('UNSUPPORTED', `cannot pause session ${this.sessionId}: ${support.reason}`, {
        hint: 'Pausing needs root podman, or rootless podman on cgroup v2.',
      });
    }
    await pauseSession(sessionRunDir(this.sessionId), this.container, this.#podmanRun);
  }

  /** Thaws the session; resolves with how long it was paused (0 when it was not). */
  resume(): Promise<number> {
    return resumeIfPaused(sessionRunDir(this.sessionId), this.container, this.#podmanRun);
  }

  /** podman for the pause marker's helpers, through this sandbox's seam. */
  readonly #podmanRun: PodmanRun = async (args) => {
    const r = await this.#podman.run(args, { timeoutMs: 60_000 });
    return { exitCode: r.exitCode, stderr: r.stderr };
  };

  /**
   * The session's egress allowlist (its `allowlist` network), as the gateway has it; undefined
   * for a session with another network. No podman call.
   */
  async egressPolicy(): Promise<{ readonly entries: readonly string[] } | undefined> {
    const policy = await readEgressPolicy(sessionRunDir(this.sessionId));
    return policy && { entries: policy.entries };
  }

  /**
   * Replaces the session's allowlist while it runs. It applies to new connections as soon as
   * this resolves, and open tunnels the new list no longer allows are closed. Entries are
   * validated and spelled canonically; returns the list now in force. Throws CONFLICT for a
   * session without an allowlist (its network is decided when it is created).
   */
  async setEgress(entries: readonly string[], options: { readonly timeoutMs?: number } = {}): Promise<string[]> {
    const list = parseEgressList(entries);
    const runDir = sessionRunDir(this.sessionId);
    if (!(await readEgressPolicy(runDir))) {
      throw new AxoError('CONFLICT', `session ${this.sessionId} does not run with an egress allowlist`, {
        hint: 'Create it with network "allowlist" (axo up --network allowlist, or --allow-host …).',
      });
    }
    const generation = await writeEgressPolicy(runDir, list);
    await waitEgressApplied(runDir, generation, options.timeoutMs);
    return list;
  }

  /**
   * The egress audit trail: every connection the session asked for, allowed or denied,
   * oldest first. Kept outside everything the session can reach (bounded: about 8 MiB).
   */
  egressLog(options: EgressLogOptions = {}): Promise<EgressRecord[]> {
    return readEgressLog(sessionRunDir(this.sessionId), options);
  }

  /** The gateway's counters (connections by decision, bytes), or undefined without one. */
  egressStats(): Promise<EgressStats | undefined> {
    return readEgressStats(sessionRunDir(this.sessionId));
  }

  /** Removes the container (in well under a second). Calling it again is a no-op. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      // The session's egress gateway, when it has one, goes with it (--ignore: most have none).
      const result = await this.#podman.run(buildRmArgs([this.container, gatewayName(this.sessionId)]), {
        timeoutMs: 30_000,
      });
      this.#backend.tasks.abandonAll();
      assertOk(result, 'PODMAN_FAILED', `cannot remove ${this.container}`);
      if (this.#runDir) await removeRunDir(this.#runDir);
    })();
    return this.#stopped;
  }

  /** Reuses a running container: tools are checked; post-create commands ran when it was made. */
  static async #reattachTo(
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
    await sandbox.#connectAgent(existing.agentRunDir);
    // These only read (the gateway check may restart a stopped gateway, which touches neither
    // of the others), so they run side by side.
    const probe = probeIn(sandbox, o);
    const [running, inForce] = await Promise.all([
      ensureGatewayOnReattach(sandbox.#podman, sandbox.sessionId, o.policy),
      // The container was made earlier, perhaps under another policy: report what holds now.
      readInForce(sandbox.#podman, sandbox.container),
    ]);
    const hardening = assessHardening(inForce, { policy: o.policy, portsDropped: [] });
    const provisioning = await provisionIn(sandbox, o, probe);
    const warnings = provisioning.status === 'failed' ? [`provisioning failed: ${provisioning.detail ?? ''}`] : [];
    warnings.unshift(...running.warnings);
    if (image.requested !== undefined && image.image !== existing.image) {
      warnings.push(
        `the running session uses ${existing.image}, not ${image.image}: it was reused as it is (replace it to change the image)`,
      );
    }
    const lifecycle = await runLifecycleIn(sandbox, o, ['postAttach'], (m) => {
      warnings.push(m);
      o.logger.warn(m);
    });
    return {
      ...commonReport(sandbox, o.policy),
      ...hardening,
      // An allowlisted session is reported as it runs, whatever this start asked for.
      ...(running.egress && {
        network: 'allowlist' as const,
        egress: { entries: running.egress.entries, gateway: running.egress.gateway },
      }),
      inForce,
      reattached: true,
      image: { requested: image.requested, used: existing.image },
      ports: {
        requested: o.ports,
        published: running.egress?.ready?.published ?? inForce.ports,
        dropped: [],
      },
      postCreate: [],
      lifecycle,
      provisioning,
      warnings,
    };
  }

  /** Creates the container, provisions it and runs the post-create commands the policy allows. */
  static async #createIn(
    sandbox: SessionSandbox,
    podman: Podman,
    image: ResolvedImage,
    o: StartInput,
    existing: ManagedContainer | undefined,
    replaced: { done: boolean },
    userRead: Promise<PodmanResult> | undefined,
  ): Promise<ReportBody> {
    const { policy } = o;
    const warnings: string[] = [];
    const warn = (message: string) => {
      warnings.push(message);
      o.logger.warn(message);
    };
    if (image.warning) {
      if (policy.strict) {
        throw new AxoError('START_FAILED', `strict: ${image.warning}`, {
          hint: 'Trust the image (allowUntrustedImage or trustedImages), or start without strict.',
        });
      }
      warn(image.warning);
    }
    // The image's USER is the default user of commands, as with `podman exec`; it also
    // proves the image is there (or pulls it) before anything running is touched.
    const user = o.user ?? (await imageUser(podman, image.image, o.startTimeoutMs, userRead));
    if (existing) {
      // With its egress gateway, when it had one (--ignore: most have none).
      const removed = await podman.run(buildRmArgs([existing.name, gatewayName(o.sessionId)]), { timeoutMs: 30_000 });
      assertOk(removed, 'PODMAN_FAILED', `cannot remove the earlier container of session ${o.sessionId}`);
      replaced.done = true;
    }
    const spec = {
      sessionId: o.sessionId,
      owner: o.owner,
      workdir: sandbox.root,
      image: image.image,
      network: policy.network,
      publishHost: o.publishHost,
      env: o.env,
      capabilities: policy.capabilities,
      readOnlyRoot: policy.readOnlyRoot,
      ...(o.workspaceFolder !== undefined && { workspaceFolder: o.workspaceFolder }),
      // Where cgroups cannot hold the pids limit (rootless on cgroup v1), an nproc rlimit
      // stands in as the fork-bomb brake; the report shows which one is in force.
      ...(policy.limits !== false && !cgroupsDelegated() && { nproc: policy.limits.pids }),
    };
    const create = (agent?: { binary: string; runDir: string }) =>
      createContainer({
        podman,
        spec: agent ? { ...spec, agent: { ...agent, ...(user !== undefined && { user }) } } : spec,
        ports: policy.network === 'bridge' ? o.ports : [],
        policy,
        timeoutMs: o.startTimeoutMs,
        logger: o.logger,
        // Replace only a container that carries our labels for this very session and owner.
        mayReplace: async () => (await findSession(podman, o.sessionId, o.owner)) !== undefined,
      });

    let created: CreatedContainer | undefined;
    let agentReason = 'turned off (agent: false)';
    let gateway: GatewayReady | undefined;
    // With the agent, podman's record of the container is read and the dev tools are probed
    // while the agent comes up and answers: each would otherwise wait for the one before.
    let inspected: Promise<InspectFacts> | undefined;
    let probe: ToolProbe | undefined;
    if (o.agent) {
      let binary: string | undefined;
      try {
        binary = agentBinaryPath();
      } catch (error) {
        agentReason = (error as Error).message;
      }
      if (binary) {
        const run = await prepareRunDir(o.sessionId);
        // allowlist: the gateway starts beside the session (in parallel) with the policy in place.
        let gatewayStart: Promise<GatewayReady> | undefined;
        const removeGateway = () =>
          podman.run(buildRmArgs([gatewayName(o.sessionId)], { graceSeconds: 0 }), { timeoutMs: 30_000 });
        try {
          if (policy.network === 'allowlist') {
            await prepareEgressDirs(run.dir);
            await writeEgressPolicy(run.dir, policy.egress);
            gatewayStart = startGateway(podman, {
              sessionId: o.sessionId,
              owner: o.owner,
              runDir: run.dir,
              binary,
              image: image.image,
              ports: o.ports,
              publishHost: o.publishHost,
              limits: policy.limits !== false && cgroupsDelegated(),
              timeoutMs: o.startTimeoutMs,
            });
            gatewayStart.catch(() => undefined);
          }
          created = await create({ binary, runDir: run.dir });
        } catch (error) {
          if (gatewayStart) await gatewayStart.then(removeGateway, removeGateway);
          await removeRunDir(run.dir);
          throw error;
        }
        inspected = inspectContainer(podman, sandbox.container);
        inspected.catch(() => undefined);
        const client = new AgentClient(
          { runDir: run.dir, token: run.token, sessionId: o.sessionId },
          { podman: sandbox.#podmanRun },
        );
        const status = await waitForAgent(client, {
          stillRunning: async () => (await containerRunning(podman, sandbox.container)) === true,
        });
        if (status.status === 'running') {
          sandbox.#agentBackend(client, status.version, run.dir);
          // Only detects (a fixed script of ours, nothing from the repository): whatever it
          // finds is installed after the hardening check below, as before.
          probe = probeIn(sandbox, o);
          if (gatewayStart) {
            gateway = await gatewayStart.catch(async (error: unknown) => {
              await sandbox.stop().catch(() => undefined);
              throw error;
            });
          }
        } else {
          if (gatewayStart) await gatewayStart.then(removeGateway, removeGateway);
          agentReason = status.reason;
          warn(`the agent could not run in this session (${status.reason}); commands use podman exec`);
          await podman.run(buildRmArgs([sandbox.container], { graceSeconds: 0 }), { timeoutMs: 30_000 });
          await removeRunDir(run.dir);
          created = undefined;
          inspected = undefined;
        }
      }
    }
    if (!created) {
      created = await create();
      sandbox.#backend = sandbox.#podmanBackend(agentReason);
      if (policy.network === 'allowlist') {
        warn(
          `the egress allowlist needs the agent (its proxy), which is ${agentReason}: this session has no network at all`,
        );
      }
    }
    warnings.push(...created.warnings);

    const requestedPorts = [...new Set(o.ports)];
    const portsDropped = [
      ...(policy.network === 'none' || (policy.network === 'allowlist' && !gateway)
        ? requestedPorts.map((port) => ({ port, reason: 'the session has no network' }))
        : []),
      ...(gateway?.failed ?? []).map((f) => ({ port: f.port, reason: `the gateway cannot listen: ${f.reason}` })),
      ...created.dropped,
    ];
    // The host's files are read only now: the agent has answered, so the init has exec'd and
    // its seccomp filter, which runc installs just before that exec, is in place.
    const inForce = await readInForceOf(await (inspected ?? inspectContainer(podman, sandbox.container)));
    const hardening = assessHardening(inForce, {
      policy,
      imageRefused: image.warning,
      portsDropped,
      limitsNote: created.limitsDroppedReason ?? (created.runStderr.trim().split('\n').at(-1) || undefined),
    });
    const refuse = async (error: AxoError) => {
      await sandbox.stop().catch(() => undefined);
      throw error;
    };
    if (policy.limits !== false && !hardening.limits.applied) {
      if (policy.requireResourceLimits) {
        await refuse(
          new AxoError(
            'LIMITS_UNAVAILABLE',
            `resource limits are required but not in force: ${hardening.limits.droppedReason}`,
            {
              hint:
                'This host cannot apply cgroup limits to this user (rootless podman needs cgroup v2 with delegation). ' +
                'Set requireResourceLimits to false to allow an uncapped session.',
            },
          ),
        );
      }
      if (!created.limitsDroppedReason) warn(`resource limits are not in force: ${hardening.limits.droppedReason}`);
    }
    if (policy.strict && hardening.differences.length > 0) {
      await refuse(
        new AxoError('START_FAILED', `strict: not in force: ${hardening.differences.join('; ')}`, {
          hint: 'Start without strict to accept what this host can give, or fix the host.',
        }),
      );
    }

    const provisioning = await provisionIn(sandbox, o, probe);
    if (provisioning.status === 'failed') warnings.push(`provisioning failed: ${provisioning.detail ?? ''}`);

    const lifecycle = await runLifecycleIn(sandbox, o, LIFECYCLE_ON_CREATE, warn);

    return {
      ...commonReport(sandbox, policy),
      ...hardening,
      inForce,
      reattached: false,
      image: { requested: image.requested, used: image.image, ...(image.warning && { refusedReason: image.warning }) },
      ports: {
        requested: requestedPorts,
        // allowlist: forwarded by the gateway to the session's loopback (podman publishes none).
        published: gateway ? gateway.published : inForce.ports,
        dropped: portsDropped,
      },
      postCreate: postCreateOf(lifecycle),
      lifecycle,
      provisioning,
      ...(gateway && { egress: { entries: policy.egress, gateway: gatewayName(o.sessionId) } }),
      warnings,
    };
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
    agent: sandbox.agent,
  };
}

const execIn = (sandbox: SessionSandbox) => (argv: readonly string[], opts?: ExecOptions) =>
  sandbox.exec(argv, { ...opts, encoding: 'utf8' });

/** Starts detecting the missing dev tools (nothing is installed); undefined when provisioning is off. */
function probeIn(sandbox: SessionSandbox, o: StartInput): ToolProbe | undefined {
  return o.provision === false ? undefined : probeTools(execIn(sandbox), o.provision.tools);
}

/** Provisions the dev tools, finishing `probe` when one was started. */
function provisionIn(sandbox: SessionSandbox, o: StartInput, probe?: ToolProbe): Promise<ProvisionReport> {
  if (o.provision === false) return Promise.resolve(disabledProvisioning('turned off'));
  const options = {
    tools: o.provision.tools,
    timeoutMs: o.provision.timeoutMs,
    network: o.policy.network,
    logger: o.logger,
  };
  // Without a probe, provision starts its own.
  return provision(execIn(sandbox), options, probe);
}

/** Builds the repository's image when asked and allowed; says why not otherwise. */
async function buildIfAllowed(
  podman: Podman,
  o: StartInput,
  workdir: string,
): Promise<{ report?: BuildReport; refused?: string }> {
  if (!o.build) return {};
  if (!o.policy.allowBuild) {
    const refused =
      `the repository asks to build its image (${o.build.dockerfile}); builds are not allowed, so it runs on ` +
      `${o.image ?? o.policy.defaultImage} instead. Set allowBuild in the policy (axo up --allow-build) to build it.`;
    if (o.policy.strict) throw new AxoError('START_FAILED', `strict: ${refused}`);
    o.logger.warn(refused);
    return { refused };
  }
  o.logger.info(`building the session image from ${o.build.dockerfile}`);
  return {
    report: await buildSessionImage(podman, {
      sessionId: o.sessionId,
      workdir,
      request: o.build,
      policy: o.policy,
      timeoutMs: o.startTimeoutMs,
    }),
  };
}

/** An error after an earlier container was removed to replace it: say that it is gone. */
function explainReplaced(error: unknown, sessionId: string): unknown {
  if (!AxoError.isInstance(error)) return error;
  return new AxoError(
    error.code,
    `${error.message} — the earlier container of session ${sessionId} was removed to replace it`,
    {
      cause: error,
      hint: error.hint ?? 'Start the session again once the cause is fixed.',
    },
  );
}

const LIFECYCLE_ON_CREATE = ['onCreate', 'updateContent', 'postCreate', 'postStart', 'postAttach'] as const;

/** Runs the repository's lifecycle commands of `stages`, under the policy's gate. */
function runLifecycleIn(
  sandbox: SessionSandbox,
  o: StartInput,
  stages: readonly (typeof LIFECYCLE_ON_CREATE)[number][],
  warn: (message: string) => void,
): Promise<LifecycleOutcome[]> {
  const commands = { ...o.lifecycle, postCreate: [...o.postCreate, ...o.lifecycle.postCreate] };
  return runLifecycle(stages, commands, {
    allowed: o.policy.allowPostCreate,
    exec: (argv, options) => sandbox.exec(argv, { ...options, encoding: 'utf8' }),
    timeoutMs: o.postCreateTimeoutMs,
    warn,
    info: (m) => o.logger.info(m),
  });
}

/** The post-create stage in the report's older shape. */
function postCreateOf(lifecycle: readonly LifecycleOutcome[]): PostCreateOutcome[] {
  return lifecycle
    .filter((l) => l.stage === 'postCreate')
    .map((l) => ({ command: l.command, status: l.status === 'not-run' ? 'skipped' : l.status, exitCode: l.exitCode }));
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
