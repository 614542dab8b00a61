// The fallback path: one `podman exec` per command, for sessions without an agent.
import { Readable } from 'node:stream';
import { buildExecArgs, EXEC_TAG_ENV, isContainerGone, shellJoin } from '@axo/podman-args';
import { PodmanError } from '../errors';
import { newId } from '../ids';
import { killTaggedUntilExit } from '../kill';
import { containerRunning, type Podman, rethrowIfMissing } from '../podman';
import type { ExecExit, ExecProcess, OutputSink, SpawnSpec } from '../process';

/** The last bytes of stderr, kept to explain podman's own failures (exit 125). */
const STDERR_TAIL = 4096;

/**
 * Runs `spec` with `podman exec`. Output is read through reused-buffer sockets and pushed
 * into the returned streams; when a stream's consumer falls behind, reading stops, the
 * podman client blocks, and so does the command. Kills find the command's processes by
 * an environment tag (what this path can do; the agent's subreaper is the robust way).
 */
export async function spawnViaPodman(podman: Podman, container: string, spec: SpawnSpec): Promise<ExecProcess> {
  const tag = newId('x');
  const args = buildExecArgs(container, spec.argv, {
    interactive: spec.stdin,
    env: { ...spec.env, [EXEC_TAG_ENV]: tag },
    workdir: spec.cwd,
    user: spec.user,
  });
  let child: Awaited<ReturnType<Podman['spawn']>> | undefined;
  const stdout = new Readable({ read: () => child?.resume('stdout'), highWaterMark: 64 * 1024 });
  const stderr = new Readable({ read: () => child?.resume('stderr'), highWaterMark: 64 * 1024 });
  let tail = Buffer.alloc(0);
  // Output handed to a sink is done only when its promise settles: the exit waits for it.
  const pendingSinks = new Set<Promise<void>>();
  // The chunks are views into a reused buffer: a sink gets the view and reading waits
  // for it; a stream gets a copy.
  const forward = (stream: Readable, name: 'stdout' | 'stderr', sink: OutputSink | undefined) => (chunk: Buffer) => {
    if (sink) {
      const pending = sink(chunk);
      if (!pending) return true;
      const settled = pending.then(
        () => child?.resume(name),
        () => {
          void killTree('abort');
          child?.resume(name);
        },
      );
      pendingSinks.add(settled);
      void settled.then(() => pendingSinks.delete(settled));
      return false;
    }
    return stream.destroyed ? true : stream.push(Buffer.from(chunk));
  };
  const toStderr = forward(stderr, 'stderr', spec.sinks?.stderr);
  // podman prints its own failures ("Error: container has already been removed") on the
  // command's stderr. A chunk that starts that way is held until more stderr comes or the
  // command ends, so the error about a session that went away is axo's, not podman's.
  let held: Buffer | undefined;
  const flushHeld = () => {
    const h = held;
    held = undefined;
    if (h) toStderr(h);
  };
  child = await podman.spawn(args, {
    stdin: spec.stdin ? 'pipe' : 'ignore',
    onStdout: forward(stdout, 'stdout', spec.sinks?.stdout),
    onStderr: (chunk) => {
      tail = Buffer.concat([tail, chunk]).subarray(-STDERR_TAIL);
      flushHeld();
      if (chunk.subarray(0, 7).toString('latin1') === 'Error: ') {
        held = Buffer.from(chunk);
        return true;
      }
      return toStderr(chunk);
    },
  });
  const running = child;
  // EPIPE on stdin means the command stopped reading it: not an error of this process.
  running.stdin?.on('error', () => {});

  let killedBy: 'timeout' | 'abort' | undefined;
  const finished = running.exited.then(() => undefined);
  async function killTree(reason: 'timeout' | 'abort'): Promise<void> {
    if (killedBy) return finished;
    killedBy = reason;
    await killTaggedUntilExit(podman, container, tag, finished, {
      user: spec.user,
      killClient: () => running.kill('SIGKILL'),
    });
  }
  const timer = spec.timeoutMs === undefined ? undefined : setTimeout(() => void killTree('timeout'), spec.timeoutMs);

  const exited = running.exited.then(async (result): Promise<ExecExit> => {
    if (timer) clearTimeout(timer);
    const said = tail.toString('utf8');
    // podman's own failure (125), or the command killed from outside (137, 255): was it
    // the session that went away? One inspect tells, and only on these codes.
    const suspicious = [125, 137, 255].includes(result.exitCode ?? -1);
    const gone =
      !killedBy && suspicious && (isContainerGone(said) || (await containerRunning(podman, container)) !== true);
    if (!gone) flushHeld();
    await Promise.all(pendingSinks);
    stdout.push(null);
    stderr.push(null);
    rethrowIfMissing(podman.binary, result.cause);
    if (gone) {
      throw new PodmanError(
        'SESSION_ENDED',
        `session ${container.replace(/^axo-ses-/, '')} ended while the command ran (its container was removed or stopped)`,
        {
          command: shellJoin(['podman', ...args]),
          exitCode: result.exitCode,
          signal: undefined,
          stderr: said,
          timedOut: false,
          hint: '`axo ls` lists the sessions that still run; `axo up` starts one again.',
        },
      );
    }
    return {
      exitCode: killedBy ? null : (result.exitCode ?? null),
      signal: killedBy ? 'KILL' : null,
      timedOut: killedBy === 'timeout',
      aborted: killedBy === 'abort',
    };
  });
  exited.catch(() => undefined);
  return {
    via: 'podman-exec',
    stdout,
    stderr,
    stdin: running.stdin,
    exited,
    kill: () => killTree('abort'),
  };
}
