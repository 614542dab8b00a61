// The gateway container of an allowlisted session: its directories in the run dir, its
// start (beside the session's), its restart, and waiting until it listens.
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AxoError,
  buildGatewayRunArgs,
  buildRmArgs,
  classifyPodmanFailure,
  EGRESS_PATHS,
  gatewayName,
  LABELS,
} from '@axo/podman-args';
import { z } from 'zod';
import { parseJson, readState, sleep } from './egress';
import { assertOk, containerRunning, type Podman } from './podman';

/** The uid:gid root podman runs gateways as (nobody): never root, no capabilities. */
export const GATEWAY_UID = 65534;

const isRoot = () => process.getuid?.() === 0;
const stateDir = (runDir: string) => join(runDir, EGRESS_PATHS.hostState);

/**
 * Makes the run dir's egress directories: `e/out` (the gateway's socket; read-only in the
 * session), `e/in` (the session agent's ingress socket; read-only in the gateway) and
 * `gw` (the gateway's state, never in the session). Rootful, the gateway runs as nobody,
 * so it owns `e/out` and `gw`; rootless, the user owns everything (the gateway runs as
 * that user, keep-id).
 */
export async function prepareEgressDirs(runDir: string): Promise<void> {
  const dirs: [string, number, boolean][] = [
    ['e', 0o700, false],
    [EGRESS_PATHS.hostOut, 0o711, true],
    [EGRESS_PATHS.hostIn, 0o711, false],
    [EGRESS_PATHS.hostState, 0o700, true],
  ];
  for (const [dir, mode, gateway] of dirs) {
    const path = join(runDir, dir);
    await mkdir(path, { mode });
    await chmod(path, mode);
    if (gateway && isRoot()) await chown(path, GATEWAY_UID, GATEWAY_UID);
  }
}

const readySchema = z.looseObject({
  published: z.array(z.looseObject({ host: z.string(), port: z.number().int() })).default([]),
  failed: z
    .array(z.looseObject({ host: z.string(), port: z.number().int(), error: z.string().optional() }))
    .default([]),
});

/** What a gateway published (ports forwarded into the session) and could not. */
export interface GatewayReady {
  readonly published: readonly { readonly hostIp: string; readonly port: number }[];
  readonly failed: readonly { readonly port: number; readonly reason: string }[];
}

export interface StartGatewayOptions {
  readonly sessionId: string;
  readonly owner: string;
  readonly runDir: string;
  readonly binary: string;
  readonly image: string;
  readonly ports: readonly number[];
  readonly publishHost?: string | undefined;
  /** Cap the gateway's own memory and pids (only where cgroups can). */
  readonly limits: boolean;
  readonly timeoutMs: number;
}

const GATEWAY_LIMITS = { memory: '256m', pids: 256 } as const;

/**
 * Starts a session's gateway container and waits until it listens (its ready.json). The
 * policy file must be written first. Throws START_FAILED with podman's words otherwise.
 */
export async function startGateway(podman: Podman, o: StartGatewayOptions): Promise<GatewayReady> {
  const name = gatewayName(o.sessionId);
  await rm(join(stateDir(o.runDir), 'ready.json'), { force: true });
  const spec = {
    sessionId: o.sessionId,
    owner: o.owner,
    binary: o.binary,
    runDir: o.runDir,
    image: o.image,
    user: isRoot() ? { uid: GATEWAY_UID, gid: GATEWAY_UID } : ('keep-id' as const),
    ports: [...o.ports],
    ...(o.publishHost !== undefined && { publishHost: o.publishHost }),
  };
  let withLimits = o.limits;
  let replaced = false;
  for (;;) {
    const result = await podman.run(buildGatewayRunArgs({ ...spec, ...(withLimits && { limits: GATEWAY_LIMITS }) }), {
      timeoutMs: o.timeoutMs,
    });
    if (result.exitCode === 0 && !result.timedOut) break;
    const kind = classifyPodmanFailure(result.stderr);
    if (kind === 'name-in-use' && !replaced) {
      // A stale gateway of this session (a start that died half way): replaced only when it
      // carries this owner's labels.
      const format = `{{index .Config.Labels "${LABELS.owner}"}} {{index .Config.Labels "${LABELS.role}"}}`;
      const labels = await podman.run(['container', 'inspect', '--format', format, name], { timeoutMs: 30_000 });
      if (labels.stdout.trim() !== `${o.owner} gateway`) {
        throw new AxoError('START_FAILED', `a container named ${name} exists that this owner did not create`, {
          hint: 'Remove it yourself or use another session id; axo never touches containers it does not own.',
        });
      }
      replaced = true;
      await podman.run(buildRmArgs([name], { graceSeconds: 0 }), { timeoutMs: 30_000 });
      continue;
    }
    await podman.run(buildRmArgs([name], { graceSeconds: 0 }), { timeoutMs: 30_000 });
    if (withLimits && kind === 'cgroup') {
      withLimits = false;
      continue;
    }
    assertOk(result, 'START_FAILED', `cannot start the egress gateway ${name}`);
  }
  return waitGatewayReady(podman, o.runDir, name);
}

/** Restarts a session's stopped gateway (`podman start`), e.g. when reattaching. */
export async function restartGateway(podman: Podman, sessionId: string, runDir: string): Promise<GatewayReady> {
  const name = gatewayName(sessionId);
  await rm(join(stateDir(runDir), 'ready.json'), { force: true });
  const result = await podman.run(['start', name], { timeoutMs: 60_000 });
  assertOk(result, 'START_FAILED', `cannot restart the egress gateway ${name}`);
  return waitGatewayReady(podman, runDir, name);
}

/** What a running gateway said when it got ready, or undefined. */
export async function readGatewayReady(runDir: string): Promise<GatewayReady | undefined> {
  const ready = parseJson(await readState(runDir, 'ready.json'), readySchema);
  return (
    ready && {
      published: ready.published.map((p) => ({ hostIp: p.host, port: p.port })),
      failed: ready.failed.map((f) => ({ port: f.port, reason: f.error ?? 'the gateway could not listen' })),
    }
  );
}

async function waitGatewayReady(podman: Podman, runDir: string, name: string): Promise<GatewayReady> {
  const deadline = performance.now() + 10_000;
  let delay = 2;
  let lastCheck = performance.now();
  for (;;) {
    const ready = await readGatewayReady(runDir);
    if (ready) return ready;
    const late = performance.now() > deadline;
    if (late || performance.now() - lastCheck > 500) {
      lastCheck = performance.now();
      if ((await containerRunning(podman, name)) !== true || late) {
        const logs = await podman.run(['logs', '--tail', '5', name], { timeoutMs: 30_000 });
        await podman.run(buildRmArgs([name], { graceSeconds: 0 }), { timeoutMs: 30_000 });
        throw new AxoError(
          'START_FAILED',
          `the egress gateway ${name} ${late ? 'did not get ready within 10 s' : 'stopped right after it started'}: ${(logs.stdout + logs.stderr).trim() || 'no output'}`,
        );
      }
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 25);
  }
}
