import { AxoError, containerRefSchema, parseInput } from '@axo/podman-args';
import { PtyTerminal, type SpawnTerminalOptions } from './terminal';

/** One row of `TerminalRegistry.list()`. */
export interface TerminalSummary {
  readonly id: string;
  readonly command: string;
  readonly alive: boolean;
}

/** The terminals of one session container. */
export class TerminalRegistry {
  readonly container: string;
  readonly #podman: string | undefined;
  readonly #terminals = new Map<string, PtyTerminal>();

  constructor(options: { readonly container: string; readonly podman?: string }) {
    this.container = parseInput(containerRefSchema, options.container, 'container');
    this.#podman = options.podman;
  }

  /** Starts a terminal in this registry's container. */
  async spawn(options: Omit<SpawnTerminalOptions, 'container' | 'podman'> = {}): Promise<PtyTerminal> {
    if (options.id !== undefined && this.#terminals.has(options.id)) {
      throw new AxoError('INVALID_INPUT', `a terminal with id "${options.id}" already exists`);
    }
    const terminal = await PtyTerminal.spawn({
      ...options,
      container: this.container,
      ...(this.#podman && { podman: this.#podman }),
    });
    this.#terminals.set(terminal.id, terminal);
    return terminal;
  }

  /** The terminal with this id, or undefined. */
  get(id: string): PtyTerminal | undefined {
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
