import {
  AxoError,
  assertTerminalSize,
  DEFAULT_SHELL_COMMAND,
  envSchema,
  onExited,
  parseInput,
  TerminalOutput,
  terminalColsSchema,
  terminalRowsSchema,
  userSchema,
} from '@axo/podman-args';
import { z } from 'zod';
import type { AgentClient, AgentProcess } from './agent/client';
import { signalExitCode } from './agent/protocol';
import { newId } from './ids';

/** The command a terminal runs when given none (the same on both terminal paths). */
export const DEFAULT_TERMINAL_COMMAND = DEFAULT_SHELL_COMMAND;

export const terminalOptionsSchema = z.strictObject({
  /** Terminal id; generated when omitted. */
  id: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/)
    .optional(),
  /** Shell command line run with `sh -c`. @default DEFAULT_TERMINAL_COMMAND */
  command: z.string().min(1, 'command must not be empty').default(DEFAULT_TERMINAL_COMMAND),
  /** @default 80 */
  cols: terminalColsSchema.default(80),
  /** @default 24 */
  rows: terminalRowsSchema.default(24),
  /** Extra environment. @default {} */
  env: envSchema.default({}),
  /** Working directory inside the container. @default the session's workdir */
  cwd: z.string().optional(),
  /** User to run as. @default the session's user */
  user: userSchema.optional(),
  /** `TERM` inside the container. @default 'xterm-256color' */
  term: z
    .string()
    .regex(/^[a-zA-Z0-9._+-]+$/)
    .default('xterm-256color'),
  /** Bytes of output kept for late listeners (here and in the agent). @default 262144 */
  scrollbackBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(256 * 1024),
});

export type TerminalOptions = z.input<typeof terminalOptionsSchema>;

/** How a terminal's process ended. */
export interface AgentTerminalExit {
  readonly exitCode: number;
  readonly signal: number | undefined;
}

/**
 * A terminal whose PTY the session's agent allocated. It has the same shape as @axo/pty's
 * PtyTerminal (the `podman exec -it` fallback), so a registry can hold either. The process
 * belongs to the agent: it survives this object's host process.
 */
export class AgentTerminal {
  readonly id: string;
  readonly command: string;
  readonly exited: Promise<AgentTerminalExit>;
  readonly #proc: AgentProcess;
  readonly #output: TerminalOutput;
  readonly #decoder = new TextDecoder('utf-8');
  #exit: AgentTerminalExit | undefined;
  #cols: number;
  #rows: number;

  private constructor(proc: AgentProcess, o: z.output<typeof terminalOptionsSchema> & { id: string }) {
    this.#proc = proc;
    this.id = o.id;
    this.command = o.command;
    this.#cols = o.cols;
    this.#rows = o.rows;
    this.#output = new TerminalOutput(o.scrollbackBytes);
    proc.stdout.on('data', (chunk: Buffer) => {
      this.#output.push(chunk, this.#decoder.decode(chunk, { stream: true }));
    });
    proc.stderr.resume();
    this.exited = proc.exited.then(
      (exit) => {
        this.#exit = { exitCode: exit?.exitCode ?? signalExitCode(exit?.signal) ?? 1, signal: undefined };
        return this.#exit;
      },
      () => {
        this.#exit = { exitCode: 1, signal: undefined };
        return this.#exit;
      },
    );
  }

  /** Starts a terminal through the session's agent. */
  static async spawn(client: AgentClient, defaults: { cwd: string }, options: TerminalOptions = {}) {
    const o = parseInput(terminalOptionsSchema, options, 'terminal options');
    const id = o.id ?? newId('term');
    const proc = await client.start({
      argv: ['sh', '-c', o.command],
      env: { TERM: o.term, ...o.env },
      cwd: o.cwd ?? defaults.cwd,
      ...(o.user !== undefined && { user: o.user }),
      stdin: true,
      pty: { cols: o.cols, rows: o.rows },
      keep: true,
      ringBytes: o.scrollbackBytes,
      tag: o.command,
      id,
    });
    return new AgentTerminal(proc, { ...o, id });
  }

  get isAlive(): boolean {
    return this.#exit === undefined;
  }

  get exitStatus(): AgentTerminalExit | undefined {
    return this.#exit;
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.#cols, rows: this.#rows };
  }

  /** Sends keystrokes or pasted text; throws NOT_FOUND once the terminal has exited. */
  write(data: string): void {
    if (!this.isAlive) throw new AxoError('NOT_FOUND', `terminal ${this.id} has exited`);
    this.#proc.stdin?.write(Buffer.from(data, 'utf8'));
  }

  /** Resizes the terminal; sizes outside 2–1000 columns and 1–500 rows throw INVALID_INPUT. */
  resize(cols: number, rows: number): void {
    assertTerminalSize(cols, rows);
    if (!this.isAlive) return;
    this.#proc.resize(cols, rows);
    this.#cols = cols;
    this.#rows = rows;
  }

  /** Calls `listener` with output; with `replay`, first with the scrollback. */
  onData(listener: (data: string) => void, options: { replay?: boolean } = {}): { dispose(): void } {
    return this.#output.onData(listener, options);
  }

  /** Calls `listener` once the process ends. */
  onExit(listener: (exit: AgentTerminalExit) => void): { dispose(): void } {
    return onExited(this.exited, listener);
  }

  /** The most recent output, whole characters only. */
  scrollback(): string {
    return this.#output.scrollback();
  }

  /** Bytes of output since start, and how many the scrollback no longer holds. */
  get outputStats(): { totalBytes: number; droppedBytes: number } {
    return this.#output.stats;
  }

  /** Kills the terminal's whole process tree inside the container. */
  async kill(): Promise<AgentTerminalExit> {
    if (this.isAlive) this.#proc.kill();
    return this.exited;
  }
}
