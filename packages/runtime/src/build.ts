// Building a session's image from the repository's Dockerfile. A build is the repository's
// code running on the host's podman, so it gets the session's own confinement: paths only
// inside the repository, the session's network policy, and its capabilities and limits for
// every RUN step as far as `podman build` can apply them.
import { createHash } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { AxoError, InvalidInputError, type SandboxPolicy } from '@axo/podman-args';
import { z } from 'zod';
import { PodmanError } from './errors';
import type { Podman } from './podman';

/** What a repository asks to build (paths on the host, as resolved by the caller). */
export const buildRequestSchema = z.strictObject({
  /** The Dockerfile, an absolute host path inside the workdir. */
  dockerfile: z.string().startsWith('/'),
  /** The build context, an absolute host path inside the workdir. */
  context: z.string().startsWith('/'),
  /** `--build-arg`s. @default {} */
  args: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'build args are NAME=value'), z.string()).default({}),
  /** The stage to build. */
  target: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/)
    .optional(),
});
export type BuildRequest = z.input<typeof buildRequestSchema>;

/** What a build did, and which of the session's protections it could not carry. */
export interface BuildReport {
  readonly image: string;
  readonly dockerfile: string;
  readonly context: string;
  readonly network: SandboxPolicy['network'];
  readonly durationMs: number;
  /** Protections applied to the build's RUN steps. */
  readonly applied: readonly string[];
  /** Protections `podman build` cannot apply, with why. */
  readonly notApplied: readonly string[];
}

async function inside(root: string, path: string, what: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (cause) {
    throw new InvalidInputError(`build.${what}`, `the build ${what} ${path} does not exist`, { cause });
  }
  if (real !== root && !real.startsWith(root + sep)) {
    throw new InvalidInputError(`build.${what}`, `the build ${what} ${path} resolves outside the session's workdir`, {
      hint: 'A build may only read the repository: keep the Dockerfile and its context inside it.',
    });
  }
  return real;
}

/** Builds the session's image; the tag is the session's own (`localhost/axo-build-…`). */
export async function buildSessionImage(
  podman: Podman,
  o: {
    readonly sessionId: string;
    readonly workdir: string;
    readonly request: z.output<typeof buildRequestSchema>;
    readonly policy: SandboxPolicy;
    readonly timeoutMs: number;
  },
): Promise<BuildReport> {
  const started = performance.now();
  const root = await realpath(o.workdir);
  const dockerfile = await inside(root, o.request.dockerfile, 'dockerfile');
  const context = await inside(root, o.request.context, 'context');
  if (!(await stat(dockerfile)).isFile()) {
    throw new InvalidInputError('build.dockerfile', `the build dockerfile ${o.request.dockerfile} is not a file`);
  }
  if (!(await stat(context)).isDirectory()) {
    throw new InvalidInputError('build.context', `the build context ${o.request.context} is not a directory`);
  }
  const digest = createHash('sha256').update(`${o.sessionId}\0${dockerfile}\0${context}`).digest('hex').slice(0, 8);
  const image = `localhost/axo-build-${o.sessionId.toLowerCase().replace(/[^a-z0-9_.-]/g, '-')}-${digest}:latest`;
  const { policy } = o;
  const applied = [`capabilities ${policy.capabilities.join(' ') || 'none'}`];
  // podman 4.3's build refuses `--security-opt no-new-privileges` ("not supported").
  const notApplied: string[] = ['no-new-privileges: podman build does not support it for RUN steps'];
  const args = [
    'build',
    '--file',
    dockerfile,
    '--tag',
    image,
    '--cap-drop=ALL',
    ...policy.capabilities.flatMap((c) => ['--cap-add', c]),
  ];
  if (policy.network !== 'bridge') {
    // An allowlist cannot be applied to a build (it has no agent and no gateway): offline.
    args.push('--network', 'none');
    applied.push(
      `network none${policy.network === 'allowlist' ? ' (the session allowlists egress; builds run offline)' : ''} (ADD URLs and RUN fetches fail)`,
    );
  } else applied.push('network bridge');
  if (policy.limits !== false) {
    args.push(
      '--memory',
      policy.limits.memory,
      '--cpu-period',
      '100000',
      '--cpu-quota',
      String(Math.round(policy.limits.cpus * 100_000)),
    );
    applied.push(`memory ${policy.limits.memory}`, `cpus ${policy.limits.cpus}`);
    notApplied.push(`pids ${policy.limits.pids}: podman build has no pids limit for RUN steps`);
  }
  for (const [key, value] of Object.entries(o.request.args)) args.push('--build-arg', `${key}=${value}`);
  if (o.request.target) args.push('--target', o.request.target);
  args.push(context);
  const result = await podman.run(args, { timeoutMs: o.timeoutMs });
  if (result.exitCode !== 0 || result.timedOut) {
    throw new PodmanError(
      result.timedOut ? 'TIMEOUT' : 'START_FAILED',
      result.timedOut ? `the image build did not finish within ${o.timeoutMs} ms` : 'the image build failed',
      { ...result, hint: 'The build runs offline unless the session has a network: its base image must be local.' },
    );
  }
  if (!image) throw new AxoError('START_FAILED', 'the build produced no image');
  return {
    image,
    dockerfile,
    context,
    network: policy.network === 'bridge' ? 'bridge' : 'none',
    durationMs: Math.round(performance.now() - started),
    applied,
    notApplied,
  };
}
