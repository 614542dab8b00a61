import type { AgentProcess } from '@axo/runtime/agent';
import { commandArgs } from '../args';
import { pumpTo } from '../io';
import { agentOf, isNoAgent, userOf } from '../reach';

/** The login shell a terminal opens when given no command: bash where the image has it. */
const LOGIN_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi';

function term(): string {
  return process.env.TERM && /^[a-zA-Z0-9._+-]+$/.test(process.env.TERM) ? process.env.TERM : 'xterm-256color';
}

/** Puts the local terminal in raw mode until `restore` is called (also on exit and signals). */
function rawMode(): () => void {
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  const restore = () => {
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
  };
  process.once('exit', restore);
  if (stdin.isTTY) stdin.setRawMode(true);
  return restore;
}

/** `axo shell <id> [-- cmd…]`: an interactive terminal in the session. */
export async function shell(id: string, rawArgv: readonly string[], o: { user?: string }): Promise<number> {
  const argv = commandArgs(rawArgv);
  const client = agentOf(id);
  let proc: AgentProcess | undefined;
  if (client) {
    proc = await client
      .start({
        // A command given after `--` runs as it is; without one, a login shell.
        argv: argv.length > 0 ? argv : ['sh', '-c', LOGIN_SHELL],
        env: { TERM: term() },
        stdin: true,
        pty: { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 },
        ...userOf(o.user),
        tag: argv.length > 0 ? argv.join(' ') : 'login shell',
      })
      .catch((error: unknown) => {
        if (isNoAgent(error)) return undefined;
        throw error;
      });
  }
  if (proc) return viaAgent(proc);
  const { shellJoin } = await import('@axo/podman-args');
  return viaPodman(id, argv.length > 0 ? shellJoin(argv) : LOGIN_SHELL, o);
}

/** The terminal is a PTY the agent allocated: keystrokes and output are frames on one socket. */
async function viaAgent(proc: AgentProcess): Promise<number> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const restore = rawMode();
  const onInput = (data: Buffer) => proc.stdin?.write(data);
  const onResize = () => {
    if (stdout.columns && stdout.rows) proc.resize(stdout.columns, stdout.rows);
  };
  const onSignal = () => proc.kill();
  try {
    stdin.on('data', onInput);
    stdin.resume();
    stdout.on('resize', onResize);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    proc.stderr.resume();
    const [exit] = await Promise.all([proc.exited, pumpTo(proc.stdout, stdout).catch(() => proc.kill())]);
    return exit?.exitCode ?? 128 + 9;
  } finally {
    stdin.off('data', onInput);
    stdout.off('resize', onResize);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    restore();
    stdin.pause();
    stdin.unref?.();
  }
}

/** Sessions without an agent: node-pty over `podman exec -it`. */
async function viaPodman(id: string, command: string, o: { user?: string }): Promise<number> {
  const [{ PtyTerminal }, { loadSettings }, { attachSession }] = await Promise.all([
    import('@axo/pty'),
    import('../config'),
    import('../session'),
  ]);
  const settings = await loadSettings();
  const sandbox = await attachSession(id, settings.owner);
  const stdin = process.stdin;
  const stdout = process.stdout;
  const terminal = await PtyTerminal.spawn({
    container: sandbox.container,
    command,
    cols: stdout.columns || 80,
    rows: stdout.rows || 24,
    cwd: sandbox.root,
    term: term(),
    ...userOf(o.user),
  });
  const restore = rawMode();
  const onResize = () => {
    if (stdout.columns && stdout.rows) terminal.resize(stdout.columns, stdout.rows);
  };
  const onInput = (data: Buffer) => {
    if (terminal.isAlive) terminal.write(data.toString('utf8'));
  };
  const onSignal = () => void terminal.kill();
  try {
    stdin.on('data', onInput);
    stdin.resume();
    stdout.on('resize', onResize);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    terminal.onData((data) => stdout.write(data));
    const exit = await terminal.exited;
    return exit.exitCode;
  } finally {
    stdin.off('data', onInput);
    stdout.off('resize', onResize);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    restore();
    stdin.pause();
    stdin.unref?.();
  }
}
