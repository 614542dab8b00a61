export { loadNodePty } from './load';
export type { RegistrySpawnOptions, Terminal, TerminalSummary } from './registry';
export { TerminalRegistry } from './registry';
export type { Disposable, SpawnTerminalOptions, TerminalExit } from './terminal';
export {
  DEFAULT_SCROLLBACK_BYTES,
  DEFAULT_SHELL_COMMAND,
  PtyTerminal,
  spawnTerminalOptionsSchema,
  TERMINAL_LIMITS,
} from './terminal';
