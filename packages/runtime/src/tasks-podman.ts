import { AxoError, ByteRing, buildExecArgs, EXEC_TAG_ENV, isContainerGone } from '@axo/podman-args';
import { newId } from './ids';
import { killTaggedUntilExit } from './kill';
import { isMissingBinary, type Podman } from './podman';
import {
  DEFAULT_TASK_LOG_BYTES,
  type SpawnTaskOptions,
  type TaskBackend,
  type TaskInfo,
  type TaskLog,
  type TaskStatus,
} from './tasks';

interface TaskEntry {
  readonly id: string;
  readonly command: string;
  readonly user: string | undefined;
  readonly ring: ByteRing;
  readonly startedAt: Date;
  readonly done: Promise<void>;
  readonly kill: () => void;
  status: TaskStatus;
  exitCode: number | null;
  killed: boolean;
  error: string | undefined;
  endedAt: Date | undefined;
}

/**
 * The background tasks of one session container without an agent: each is a `podman exec`
 * client of this process, so they end with it.
 */
export class PodmanTaskRegistry implements TaskBackend {
  readonly #tasks = new Map<string, TaskEntry>();

  constructor(
    private readonly podman: Podman,
    private readonly container: string,
  ) {}

  /** Starts `command` under `sh -c` in the background and returns its id (the sandbox validated both). */
  async spawn(command: string, o: SpawnTaskOptions = {}): Promise<string> {
    const id = newId('task');
    const ring = new ByteRing(o.logBytes ?? DEFAULT_TASK_LOG_BYTES);
    // stderr joins stdout inside the container, so the log keeps the command's own order.
    const args = buildExecArgs(this.container, ['sh', '-c', `exec 2>&1\n${command}`], {
      env: { ...o.env, [EXEC_TAG_ENV]: id },
      workdir: o.cwd,
      user: o.user,
    });
    // stdout and stderr share one socket (arrival order kept); podman's own complaints
    // (container gone, bad workdir) land in the log too. The ring copies each chunk.
    const started = this.podman.spawn(args, {
      combined: true,
      onStdout: (chunk) => {
        ring.push(chunk);
        return true;
      },
    });
    const entry: TaskEntry = {
      id,
      command,
      user: o.user,
      ring,
      startedAt: new Date(),
      status: 'running',
      exitCode: null,
      killed: false,
      error: undefined,
      endedAt: undefined,
      // Runs once the spawn has resolved, whether it already has or not.
      kill: () =>
        void started.then(
          (child) => child.kill('SIGKILL'),
          () => undefined,
        ),
      done: started
        .then((child) => child.exited)
        .then(
          (result) => {
            if (isMissingBinary(result.cause)) {
              fail(`podman was not found (tried "${this.podman.binary}")`);
            } else if (result.exitCode === 125 && !entry.killed) {
              const said = ring.text().trim().split('\n').at(-1) ?? '';
              fail(
                isContainerGone(said)
                  ? `session container ${this.container} is not running: ${said}`
                  : `podman could not run the task: ${said}`,
              );
            } else {
              entry.status = 'exited';
              entry.exitCode = result.exitCode ?? (entry.killed ? 137 : null);
            }
            entry.endedAt = new Date();
          },
          // The task could not even be started (say, no socket for its output).
          (error: unknown) => {
            fail(`the task could not start: ${error instanceof Error ? error.message : String(error)}`);
            entry.endedAt = new Date();
          },
        ),
    };
    const fail = (message: string) => {
      entry.status = 'failed';
      entry.error = message;
    };
    this.#tasks.set(id, entry);
    return id;
  }

  /** A snapshot of one task, or undefined. */
  async get(id: string): Promise<TaskInfo | undefined> {
    const t = this.#tasks.get(id);
    return t && this.#info(t);
  }

  /** Snapshots of every task, oldest first. */
  async list(): Promise<TaskInfo[]> {
    return [...this.#tasks.values()].map((t) => this.#info(t));
  }

  /** The task's output from stream offset `offset` on (default: all that is held). */
  async log(id: string, offset = 0): Promise<TaskLog> {
    const slice = this.#require(id).ring.read(offset);
    return { ...slice, text: slice.data.toString('utf8') };
  }

  /** Resolves when the task has ended. */
  async wait(id: string): Promise<TaskInfo> {
    const t = this.#require(id);
    await t.done;
    return this.#info(t);
  }

  /** Ends the task's processes inside the container, then waits for it. */
  async kill(id: string): Promise<TaskInfo> {
    const t = this.#require(id);
    if (t.status === 'running') {
      t.killed = true;
      await killTaggedUntilExit(this.podman, this.container, t.id, t.done, { user: t.user, killClient: t.kill });
    }
    return this.#info(t);
  }

  /** Stops every local podman client (used when the container is going away). */
  abandonAll(): void {
    for (const t of this.#tasks.values()) if (t.status === 'running') t.kill();
  }

  #require(id: string): TaskEntry {
    const t = this.#tasks.get(id);
    if (!t) throw new AxoError('NOT_FOUND', `no task with id "${id}" in ${this.container}`);
    return t;
  }

  #info(t: TaskEntry): TaskInfo {
    return {
      id: t.id,
      command: t.command,
      status: t.status,
      exitCode: t.exitCode,
      killed: t.killed,
      error: t.error,
      startedAt: t.startedAt,
      endedAt: t.endedAt,
      outputBytes: t.ring.totalBytes,
      droppedBytes: t.ring.droppedBytes,
    };
  }
}
