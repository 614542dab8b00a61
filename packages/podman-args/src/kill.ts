import { parseInput } from './errors';
import { containerRefSchema, execArgsOptionsSchema } from './schemas';

/** The environment variable that tags every process an axo exec, task or terminal starts. */
export const EXEC_TAG_ENV = 'AXO_EXEC_TAG';

// Finds processes whose environment carries the tag (children inherit it, so the whole
// tree is found), freezes them all before signalling any, so none can react to another's
// death (a parent shell running its next command), then signals and resumes them.
// Rounds catch children forked while the previous scan ran.
const KILL_TAGGED_SCRIPT = `tag="$1"; sig="$2"; self=$$
for round in 1 2 3 4; do
  pids=
  for d in /proc/[0-9]*; do
    p=\${d#/proc/}
    [ "$p" = "$self" ] && continue
    if { tr '\\0' '\\n' < "$d/environ" | grep -qxF "$tag"; } 2>/dev/null; then pids="$pids $p"; fi
  done
  [ -z "$pids" ] && break
  kill -s STOP $pids 2>/dev/null
  kill -s "$sig" $pids 2>/dev/null
  kill -s CONT $pids 2>/dev/null
  [ "$sig" = KILL ] || break
done
exit 0`;

export interface KillTaggedOptions {
  /** Signal name without `SIG`. @default 'KILL' */
  readonly signal?: 'KILL' | 'TERM' | 'INT' | 'HUP';
  /**
   * The user the tagged processes run as. Required when it is not root: without
   * SYS_PTRACE, only a process's own user can read its environment.
   */
  readonly user?: string;
}

/**
 * Argv (after `podman`) that signals, inside `container`, every process started with
 * `${EXEC_TAG_ENV}=<tag>` — so a timed-out or killed command really ends, not only
 * the local podman client.
 */
export function buildKillTaggedArgs(container: string, tag: string, options: KillTaggedOptions = {}): string[] {
  const name = parseInput(containerRefSchema, container, 'container');
  const value = parseInput(containerRefSchema, tag, 'tag');
  const { user } = parseInput(execArgsOptionsSchema, { user: options.user }, 'kill options');
  const signal = options.signal ?? 'KILL';
  return [
    'exec',
    ...(user === undefined ? [] : ['--user', user]),
    name,
    'sh',
    '-c',
    KILL_TAGGED_SCRIPT,
    'sh',
    `${EXEC_TAG_ENV}=${value}`,
    signal,
  ];
}
