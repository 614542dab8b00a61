import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  AxoError,
  assertTerminalSize,
  buildExecArgs,
  buildKillTaggedArgs,
  containerRefSchema,
  DEFAULT_SHELL_COMMAND,
  EXEC_TAG_ENV,
  envSchema,
  onExited,
  parseInput,
  TerminalOutput,
  terminalColsSchema,
  terminalRowsSchema,
} from '@axo/podman-args';
import type { IPty } from 'node-pty';
import { z } from 'zod';
import { loadNodePty } from './load';

export { DEFAULT_SHELL_COMMAND, TERMINAL_LIMITS } from '@axo/podman-args';
/** Default scrollback kept for late listeners. */
export const DEFAULT_SCROLLBACK_BYTES = 256 * 1024;

export const spawnTerminalOptionsSchema = z.strictObject({
  /** Terminal id; generated when omitted. */
  id: containerRefSchema.optional(),
  /** Container to run in. */
  container: containerRefSchema,
  /** Shell command line run with `sh -c`. @default DEFAULT_SHELL_COMMAND (login bash, else sh) */
  command: z.string().min(1, 'command must not be empty').default(DEFAULT_SHELL_COMMAND),
  /** @default 80 */
  cols: terminalColsSchema.default(80),
  /** @default 24 */
  rows: terminalRowsSchema.default(24),
  /** Extra environment. @default {} */
  env: envSchema.default({}),
  /** Working directory inside the container. */
  cwd: z.string().optional(),
  /** User to run as. */
  user: z.string().optional(),
  /** `TERM` inside the container. @default 'xterm-256color' */
  term: z
    .string()
    .regex(/^[a-zA-Z0-9._+-]+$/)
    .default('xterm-256color'),
  /** Bytes of output kept for late listeners. @default 262144 */
  scrollbackBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(DEFAULT_SCROLLBACK_BYTES),
  /** The podman binary. @default 'podman' */
  podman: z.string().min(1).default('podman'),
});

export type SpawnTerminalOptions = z.input<typeof spawnTerminalOptionsSchema>;

/** How a terminal's process ended. */
export interface TerminalExit {
  readonly exitCode: number;
  readonly signal: number | undefined;
}

/** Returned by listener registrations; call `dispose` to stop listening. */
export interface Disposable {
  dispose(): void;
}

let counter = 0;
const newTerminalId = () => `term-${(++counter).toString(36)}-${randomBytes(4).toString('hex')}`;

/** An interactive terminal running `sh -c <command>` inside a container. */
export class PtyTerminal {
  readonly id: string;
  readonly container: string;
  readonly command: string;
  /** Resolves when the process has ended. */
  readonly exited: Promise<TerminalExit>;
  readonly #pty: IPty;
  readonly #output: TerminalOutput;
  readonly #podman: string;
  readonly #user: string | undefined;
  #exit: TerminalExit | undefined;
  #cols: number;
  #rows: number;

  private constructor(pty: IPty, o: z.output<typeof spawnTerminalOptionsSchema> & { id: string }) {
    this.#pty = pty;
    this.id = o.id;
    this.container = o.container;
    this.command = o.command;
    this.#podman = o.podman;
    this.#user = o.user;
    this.#cols = o.cols;
    this.#rows = o.rows;
    this.#output = new TerminalOutput(o.scrollbackBytes);
    pty.onData((data) => this.#output.push(Buffer.from(data, 'utf8'), data));
    this.exited = new Promise((resolve) => {
      pty.onExit(({ exitCode, signal }) => {
        this.#exit = { exitCode, signal: signal || undefined };
        resolve(this.#exit);
      });
    });
  }

  /** Starts a terminal; throws PTY_UNAVAILABLE when node-pty cannot load. */
  static async spawn(options: SpawnTerminalOptions): Promise<PtyTerminal> {
    const o = parseInput(spawnTerminalOptionsSchema, options, 'terminal options');
    const id = o.id ?? newTerminalId();
    const args = buildExecArgs(o.container, ['sh', '-c', o.command], {
      interactive: true,
      tty: true,
      env: { TERM: o.term, ...o.env, [EXEC_TAG_ENV]: id },
      workdir: o.cwd,
      user: o.user,
    });
    const nodePty = await loadNodePty();
    const pty = nodePty.spawn(o.podman, args, { name: o.term, cols: o.cols, rows: o.rows, encoding: 'utf8' });
    return new PtyTerminal(pty, { ...o, id });
  }

  /** Whether the process is still running. */
  get isAlive(): boolean {
    return this.#exit === undefined;
  }

  /** How it ended, once it has. */
  get exitStatus(): TerminalExit | undefined {
    return this.#exit;
  }

  /** Current size. */
  get size(): { cols: number; rows: number } {
    return { cols: this.#cols, rows: this.#rows };
  }

  /** Sends keystrokes or pasted text to the terminal. */
  write(data: string): void {
    if (!this.isAlive) throw new AxoError('NOT_FOUND', `terminal ${this.id} has exited`);
    this.#pty.write(data);
  }

  /** Resizes the terminal; sizes outside TERMINAL_LIMITS throw INVALID_INPUT. */
  resize(cols: number, rows: number): void {
    assertTerminalSize(cols, rows);
    if (!this.isAlive) return;
    this.#pty.resize(cols, rows);
    this.#cols = cols;
    this.#rows = rows;
  }

  /**
   * Calls `listener` with output as it arrives. With `replay`, it first receives the
   * scrollback (the most recent output, within the bound), so a late client sees context.
   */
  onData(listener: (data: string) => void, options: { replay?: boolean } = {}): Disposable {
    return this.#output.onData(listener, options);
  }

  /** Calls `listener` once the process ends (at once, asynchronously, if it has). */
  onExit(listener: (exit: TerminalExit) => void): Disposable {
    return onExited(this.exited, listener);
  }

  /** The most recent output, whole characters only, at most `scrollbackBytes`. */
  scrollback(): string {
    return this.#output.scrollback();
  }

  /** Bytes of output since start, and how many the scrollback no longer holds. */
  get outputStats(): { totalBytes: number; droppedBytes: number } {
    return this.#output.stats;
  }

  /**
   * Ends the terminal's processes inside the container (not only the local podman
   * client) and resolves when it has exited.
   */
  async kill(): Promise<TerminalExit> {
    // Repeat until the local client exits: right after spawn the process may not exist
    // in the container yet, and a single scan would miss it.
    const deadline = Date.now() + 10_000;
    while (!this.#exit && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const args = buildKillTaggedArgs(this.container, this.id, { user: this.#user });
        execFile(this.#podman, args, { timeout: 10_000 }, () => resolve());
      });
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 250))]);
    }
    if (!this.#exit) this.#pty.kill('SIGKILL');
    return this.exited;
  }
}
