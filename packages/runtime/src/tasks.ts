import { AxoError, envSchema, type RingSlice, userSchema } from '@axo/podman-args';
import { z } from 'zod';
import type { AgentClient } from './agent/client';
import { type ProcInfo, signalExitCode } from './agent/protocol';
import { newId } from './ids';

/** Default size of a task's output ring. */
export const DEFAULT_TASK_LOG_BYTES = 64 * 1024;

export const spawnTaskOptionsSchema = z.strictObject({
  /** Extra environment. @default {} */
  env: envSchema.default({}),
  /** Working directory inside the container. */
  cwd: z.string().optional(),
  /** User to run as. @default the session's user */
  user: userSchema.optional(),
  /** Bytes of combined output kept. @default 65536 */
  logBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .optional(),
});

export type SpawnTaskOptions = z.input<typeof spawnTaskOptionsSchema>;

/** `running` until the command ends; `exited` with its code; `failed` when it could not run. */
export type TaskStatus = 'running' | 'exited' | 'failed';

/** A snapshot of a background task. */
export interface TaskInfo {
  readonly id: string;
  readonly command: string;
  readonly status: TaskStatus;
  /** Exit code once exited (137 after a kill; 128 + n for signal n); `null` while running or when it failed. */
  readonly exitCode: number | null;
  /** Ended by `killTask`. */
  readonly killed: boolean;
  /** Why a `failed` task failed. */
  readonly error: string | undefined;
  readonly startedAt: Date;
  readonly endedAt: Date | undefined;
  /** Output bytes produced so far, and how many the ring dropped. */
  readonly outputBytes: number;
  readonly droppedBytes: number;
}

/** Output of a task, from a stream offset, for incremental polling. */
export interface TaskLog extends RingSlice {
  readonly text: string;
}

/** Where a session's background tasks live: in its agent, or in this process. */
export interface TaskBackend {
  spawn(command: string, options: SpawnTaskOptions): Promise<string>;
  get(id: string): Promise<TaskInfo | undefined>;
  list(): Promise<TaskInfo[]>;
  log(id: string, offset: number): Promise<TaskLog>;
  wait(id: string): Promise<TaskInfo>;
  kill(id: string): Promise<TaskInfo>;
  /** Lets go of everything this process holds (the container is going away). */
  abandonAll(): void;
}

export function validTaskCommand(command: unknown): string {
  if (typeof command !== 'string' || command.trim() === '') {
    throw new AxoError('INVALID_INPUT', 'Invalid task: command must be a non-empty string');
  }
  return command;
}

/** A task as the agent describes it. */
export function taskFromProc(p: ProcInfo): TaskInfo {
  return {
    id: p.id,
    command: p.tag,
    status: p.running ? 'running' : 'exited',
    exitCode: p.running ? null : (p.exitCode ?? signalExitCode(p.signal) ?? null),
    killed: p.killed,
    error: undefined,
    startedAt: new Date(p.startedAt),
    endedAt: p.endedAt ? new Date(p.endedAt) : undefined,
    outputBytes: p.stdout.total,
    droppedBytes: p.stdout.dropped,
  };
}

/**
 * Tasks kept by the session's agent: they outlive the process that started them, and any
 * axo process (a new CLI, a restarted server) finds them by id and reads their log.
 */
export class AgentTaskRegistry implements TaskBackend {
  constructor(
    private readonly client: AgentClient,
    private readonly defaults: { readonly cwd: string },
  ) {}

  async spawn(command: string, o: SpawnTaskOptions): Promise<string> {
    const id = newId('task');
    const proc = await this.client.start({
      argv: ['sh', '-c', command],
      env: o.env ?? {},
      cwd: o.cwd ?? this.defaults.cwd,
      ...(o.user !== undefined && { user: o.user }),
      keep: true,
      combined: true,
      ringBytes: o.logBytes ?? DEFAULT_TASK_LOG_BYTES,
      tag: command,
      id,
    });
    // The task belongs to the agent now; output goes to its ring until someone attaches.
    proc.detach();
    return id;
  }

  async #proc(id: string): Promise<ProcInfo | undefined> {
    return (await this.client.list()).find((p) => p.id === id && !p.pty && p.keep);
  }

  async get(id: string): Promise<TaskInfo | undefined> {
    const p = await this.#proc(id);
    return p && taskFromProc(p);
  }

  async list(): Promise<TaskInfo[]> {
    return (await this.client.list()).filter((p) => p.keep && !p.pty).map(taskFromProc);
  }

  async log(id: string, offset: number): Promise<TaskLog> {
    const proc = await this.client.attach(id, { stdout: offset, follow: false });
    const chunks: Buffer[] = [];
    let missed = 0;
    proc.on('lost', (l) => {
      if (l.stream === 'stdout') missed += l.to - Math.max(l.from, offset);
    });
    proc.stderr.resume();
    for await (const chunk of proc.stdout) chunks.push(chunk as Buffer);
    await proc.exited;
    const data = Buffer.concat(chunks);
    const from = proc.startOffsets.stdout;
    return {
      data,
      from,
      to: proc.endOffsets?.stdout ?? from + data.length,
      missed: Math.max(missed, from - offset, 0),
      text: data.toString('utf8'),
    };
  }

  async wait(id: string): Promise<TaskInfo> {
    const now = await this.#proc(id);
    if (!now) throw new AxoError('NOT_FOUND', `no task with id "${id}"`);
    if (now.running) {
      // Only the exit matters: the agent sends nothing else (an older one streams from the end).
      const proc = await this.client.attach(id, { stdout: now.stdout.total, stderr: now.stderr.total, wait: true });
      proc.stdout.resume();
      proc.stderr.resume();
      await proc.exited;
    }
    const done = await this.get(id);
    if (!done) throw new AxoError('NOT_FOUND', `task "${id}" was forgotten while waiting for it`);
    return done;
  }

  async kill(id: string): Promise<TaskInfo> {
    const before = await this.#proc(id);
    if (!before) throw new AxoError('NOT_FOUND', `no task with id "${id}"`);
    if (before.running) await this.client.kill(id);
    const after = await this.get(id);
    if (!after) throw new AxoError('NOT_FOUND', `task "${id}" was forgotten while killing it`);
    return after;
  }

  abandonAll(): void {
    // Nothing to let go of: the tasks live in the agent, which goes with the container.
  }
}
