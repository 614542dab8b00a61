// Argument helpers with no dependencies, so the fast commands (exec, shell) load nothing else.
import { InvalidInputError } from '@axo/podman-args/errors';

/** Parses durations like `500ms`, `30s`, `2m`, `1h` or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new InvalidInputError('timeout', `"${text}" is not a duration (try 500ms, 30s, 2m)`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const ms = value * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  if (ms < 1) throw new InvalidInputError('timeout', 'timeout must be at least 1ms');
  return Math.round(ms);
}

/** Drops the `--` that separates a command from axo's own options. */
export function commandArgs(argv: readonly string[]): string[] {
  return argv[0] === '--' ? argv.slice(1) : [...argv];
}

/** Parses repeated `NAME=value` flags into an environment object. */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(pair.slice(0, eq))) {
      throw new InvalidInputError('env', `--env "${pair}" must look like NAME=value`);
    }
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}
