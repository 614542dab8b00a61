import { AxoError, containerRefSchema, parseInput } from '@axo/podman-args';
import { type Disposable, PtyTerminal, type SpawnTerminalOptions } from './terminal';

/**
 * What a registry holds: PtyTerminal (node-pty over `podman exec -it`) or anything of the
 * same shape, such as @axo/runtime's AgentTerminal (a PTY the session's agent allocates).
 */
export interface Terminal {
  readonly id: string;
  readonly command: string;
  readonly isAlive: boolean;
  readonly size: { cols: number; rows: number };
  write(data: string): void;
  resize(cols: number, rows: number): void;
  onData(listener: (data: string) => void, options?: { replay?: boolean }): Disposable;
  onExit(listener: (exit: { exitCode: number }) => void): Disposable;
  /** Resolves once the process has ended. */
  readonly exited: Promise<unknown>;
  readonly outputStats: { totalBytes: number; droppedBytes: number };
  /** The most recent output, for a client that attaches late. */
  scrollback(): string;
  kill(): Promise<unknown>;
}

/** Options a registry passes when it spawns a terminal (the container is the registry's). */
export type RegistrySpawnOptions = Omit<SpawnTerminalOptions, 'container' | 'podman'>;

/** One row of `TerminalRegistry.list()`. */
export interface TerminalSummary {
  readonly id: string;
  readonly command: string;
  readonly alive: boolean;
}

/** The terminals of one session container. */
export class TerminalRegistry {
  readonly container: string;
  readonly #spawn: (options: RegistrySpawnOptions) => Promise<Terminal>;
  readonly #terminals = new Map<string, Terminal>();

  /**
   * `spawn` starts terminals another way (the session's agent, say); by default they are
   * node-pty over `podman exec -it` in `container`.
   */
  constructor(options: {
    readonly container: string;
    readonly podman?: string;
    readonly spawn?: (options: RegistrySpawnOptions) => Promise<Terminal>;
  }) {
    this.container = parseInput(containerRefSchema, options.container, 'container');
    const podman = options.podman;
    this.#spawn =
      options.spawn ??
      ((o) => PtyTerminal.spawn({ ...o, container: this.container, ...(podman !== undefined && { podman }) }));
  }

  /** Starts a terminal in this registry's container. */
  async spawn(options: RegistrySpawnOptions = {}): Promise<Terminal> {
    if (options.id !== undefined && this.#terminals.has(options.id)) {
      throw new AxoError('INVALID_INPUT', `a terminal with id "${options.id}" already exists`);
    }
    const terminal = await this.#spawn(options);
    this.#terminals.set(terminal.id, terminal);
    return terminal;
  }

  /** The terminal with this id, or undefined. */
  get(id: string): Terminal | undefined {
    return this.#terminals.get(id);
  }

  /** Every terminal, oldest first, with whether it is still running. */
  list(): TerminalSummary[] {
    return [...this.#terminals.values()].map((t) => ({ id: t.id, command: t.command, alive: t.isAlive }));
  }

  /** Kills the terminal's processes and forgets it; false when there was none. */
  async kill(id: string): Promise<boolean> {
    const terminal = this.#terminals.get(id);
    if (!terminal) return false;
    await terminal.kill();
    this.#terminals.delete(id);
    return true;
  }

  /** Kills and forgets every terminal. */
  async killAll(): Promise<void> {
    await Promise.all([...this.#terminals.keys()].map((id) => this.kill(id)));
  }
}
