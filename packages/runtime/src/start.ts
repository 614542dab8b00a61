import {
  buildRmArgs,
  buildRunArgs,
  classifyPodmanFailure,
  containerName,
  extractConflictingPort,
  type RunSpecInput,
  type SandboxPolicy,
} from '@axo/podman-args';
import { PodmanError } from './errors';
import type { SandboxLogger } from './logger';
import { assertOk, type Podman, type PodmanResult } from './podman';

export interface CreateContainerInput {
  readonly podman: Podman;
  readonly spec: Omit<RunSpecInput, 'limits' | 'ports'>;
  readonly ports: readonly number[];
  readonly policy: SandboxPolicy;
  readonly timeoutMs: number;
  readonly logger: SandboxLogger;
  /** Called when a container of this name exists: may it be removed? */
  readonly mayReplace: (stderr: string) => Promise<boolean>;
}

export interface CreatedContainer {
  /** Whether limits were passed to podman (what is in force is read afterwards). */
  readonly limitsApplied: boolean;
  /** What podman printed on a successful run (it drops limits with only a warning, rootless on cgroup v1). */
  readonly runStderr: string;
  readonly limitsDroppedReason?: string;
  readonly published: readonly number[];
  readonly dropped: readonly { readonly port: number; readonly reason: string }[];
  readonly warnings: readonly string[];
}

const IMAGE_HINT =
  'No registry may be reachable: build a local image (`axo image bootstrap`, or scripts/setup-podman.sh) ' +
  'and make it the policy default.';

/** The image's USER as podman records it, without pulling: the first half of imageUser. */
export function inspectImageUser(podman: Podman, image: string): Promise<PodmanResult> {
  return podman.run(['image', 'inspect', '--format', '{{.Config.User}}', image], { timeoutMs: 60_000 });
}

/**
 * The image's configured USER (the default user of commands, as `podman exec` has it), or
 * undefined for root. A missing image is pulled here, so an image that cannot be had fails
 * the start before anything that runs is touched. `inspected` is an inspectImageUser already
 * under way (a start runs it beside its `podman ps`).
 */
export async function imageUser(
  podman: Podman,
  image: string,
  timeoutMs: number,
  inspected: Promise<PodmanResult> = inspectImageUser(podman, image),
): Promise<string | undefined> {
  let result = await inspected;
  if (result.exitCode !== 0) {
    const pulled = await podman.run(['pull', '--quiet', image], { timeoutMs });
    if (pulled.exitCode !== 0 || pulled.timedOut) {
      throw new PodmanError('START_FAILED', `image ${image} is not available`, { ...pulled, hint: IMAGE_HINT });
    }
    result = await inspectImageUser(podman, image);
    assertOk(result, 'START_FAILED', `cannot inspect image ${image}`);
  }
  const user = result.stdout.trim();
  return user === '' || user === 'root' || user === '0' || user === '0:0' ? undefined : user;
}

/**
 * Runs the container, adapting to what the host refuses: limits dropped on a cgroup error
 * (unless required), a taken port dropped on a conflict. Never leaves a dead container.
 */
export async function createContainer(input: CreateContainerInput): Promise<CreatedContainer> {
  const { podman, policy, logger } = input;
  const name = containerName(input.spec.sessionId);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    logger.warn(message, { container: name });
  };
  let withLimits = policy.limits !== false;
  let limitsDroppedReason: string | undefined;
  let ports = [...new Set(input.ports)];
  const dropped: { port: number; reason: string }[] = [];
  let replaced = false;
  let runStderr = '';

  const removeLeftover = () => podman.run(buildRmArgs([name], { graceSeconds: 0 }), { timeoutMs: 30_000 });
  const fail = (code: PodmanError['code'], message: string, result: PodmanResult, hint?: string) =>
    new PodmanError(code, message, { ...result, hint });

  for (;;) {
    const args = buildRunArgs({
      ...input.spec,
      ports,
      limits: withLimits && policy.limits !== false ? policy.limits : undefined,
    });
    const result = await podman.run(args, { timeoutMs: input.timeoutMs });
    if (result.exitCode === 0 && !result.timedOut) {
      runStderr = result.stderr;
      break;
    }
    const kind = classifyPodmanFailure(result.stderr);

    if (kind === 'name-in-use' && !replaced) {
      if (!(await input.mayReplace(result.stderr))) {
        throw fail(
          'START_FAILED',
          `a container named ${name} exists that this owner did not create`,
          result,
          'Remove it yourself or use another session id; axo never touches containers it does not own.',
        );
      }
      replaced = true;
      await removeLeftover();
      continue;
    }
    // `podman run` may have created the container before failing: remove it.
    await removeLeftover();
    if (result.timedOut) {
      throw fail(
        'TIMEOUT',
        `podman did not start ${name} within ${input.timeoutMs} ms`,
        result,
        'Check `podman info`; a first start may be pulling the image.',
      );
    }
    if (kind === 'cgroup' && withLimits) {
      if (policy.requireResourceLimits) {
        throw fail(
          'LIMITS_UNAVAILABLE',
          'resource limits are required but this host cannot apply them (no cgroup delegation)',
          result,
          'Enable cgroup v2 controller delegation for this user, or set requireResourceLimits to false to allow an uncapped sandbox.',
        );
      }
      withLimits = false;
      limitsDroppedReason = `the host cannot apply cgroup limits: ${result.stderr.trim()}`;
      warn('this host cannot apply container resource limits; starting the session without memory/CPU/pids caps');
      continue;
    }
    if (kind === 'port-conflict' && ports.length > 0) {
      const port = extractConflictingPort(result.stderr);
      if (port !== undefined && ports.includes(port)) {
        ports = ports.filter((p) => p !== port);
        dropped.push({ port, reason: 'host port already in use' });
        warn(`host port ${port} is already in use; it is not published for this session (other ports stay mapped)`);
      } else {
        for (const p of ports) dropped.push({ port: p, reason: 'a host port was in use and podman did not say which' });
        warn(`a port conflict could not be traced to one port; no ports are published for this session`);
        ports = [];
      }
      continue;
    }
    if (kind === 'image-unavailable') {
      throw fail(
        'START_FAILED',
        `cannot start ${name}: image ${input.spec.image} is not available`,
        result,
        IMAGE_HINT,
      );
    }
    throw fail('START_FAILED', `cannot start ${name}`, result, 'Run `axo doctor` to check the podman setup.');
  }
  return { limitsApplied: withLimits, limitsDroppedReason, published: ports, dropped, warnings, runStderr };
}
