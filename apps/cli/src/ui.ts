import { isatty } from 'node:tty';
import { AxoError } from '@axo/runtime';
import { createColors } from 'picocolors';
import yoctoSpinner from 'yocto-spinner';
import { writeText } from './io';

// Asked of the descriptors: process.stdout and process.stderr are made only where they are
// written (a terminal's spinner, `axo shell`), and everything else goes to fds 1 and 2.
const interactive = isatty(2) && process.env.TERM !== 'dumb';
const colorEnabled = !('NO_COLOR' in process.env) && (isatty(1) || 'FORCE_COLOR' in process.env);

/** Colours for stdout, off in pipes and under NO_COLOR. */
export const color = createColors(colorEnabled);

/** Shows `text` with a spinner on a terminal; silent in pipes. */
export function spinner(text: string) {
  if (!interactive) {
    return { update(_: string) {}, stop() {} };
  }
  const s = yoctoSpinner({ text, stream: process.stderr }).start();
  return {
    update(next: string) {
      s.text = next;
    },
    stop() {
      s.stop();
    },
  };
}

/** Prints an error as one line plus a hint; the stack only with --debug. */
export function printError(error: unknown, debug: boolean): void {
  const message = error instanceof Error ? error.message : String(error);
  const errColor = createColors(!('NO_COLOR' in process.env) && isatty(2));
  writeText(2, `${errColor.red('error:')} ${message.split('\n')[0]}\n`);
  if (AxoError.isInstance(error) && error.hint) writeText(2, `${errColor.dim('hint:')} ${error.hint}\n`);
  if (debug && error instanceof Error) {
    writeText(2, `${error.stack ?? ''}\n`);
    if (error.cause) writeText(2, `cause: ${String((error.cause as Error).stack ?? error.cause)}\n`);
  } else if (!AxoError.isInstance(error)) {
    writeText(2, `${errColor.dim('run with --debug for details')}\n`);
  }
}

/** Formats seconds ago as a short age ("45s", "3m", "2h", "5d"). */
export function age(createdAtSeconds: number | undefined, now = Date.now()): string {
  if (createdAtSeconds === undefined) return '-';
  const s = Math.max(0, Math.round(now / 1000 - createdAtSeconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Renders rows as an aligned table with a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [color.bold(line(header)), ...rows.map(line)].join('\n');
}
