import { shellJoin } from '@axo/podman-args';
import { PtyTerminal } from '@axo/pty';
import { loadSettings } from '../config';
import { attachSession, commandArgs } from '../session';

/** `axo shell <id> [-- cmd…]`: an interactive terminal in the session. */
export async function shell(id: string, rawArgv: readonly string[], o: { user?: string }): Promise<number> {
  const argv = commandArgs(rawArgv);
  const settings = await loadSettings();
  const sandbox = await attachSession(id, settings.owner);
  const stdin = process.stdin;
  const stdout = process.stdout;
  const terminal = await PtyTerminal.spawn({
    container: sandbox.container,
    ...(argv.length > 0 && { command: shellJoin(argv) }),
    cols: stdout.columns || 80,
    rows: stdout.rows || 24,
    cwd: sandbox.root,
    term: process.env.TERM && /^[a-zA-Z0-9._+-]+$/.test(process.env.TERM) ? process.env.TERM : 'xterm-256color',
    ...(o.user !== undefined && { user: o.user }),
  });

  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  // Restored on every way out: normal exit, errors, and signals.
  const restore = () => {
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
  };
  process.once('exit', restore);
  const onResize = () => {
    if (stdout.columns && stdout.rows) terminal.resize(stdout.columns, stdout.rows);
  };
  const onInput = (data: Buffer) => {
    if (terminal.isAlive) terminal.write(data.toString('utf8'));
  };
  const onSignal = () => void terminal.kill();
  try {
    if (stdin.isTTY) stdin.setRawMode(true);
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
