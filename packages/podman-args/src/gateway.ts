// The egress gateway of an allowlisted session: its own small container beside the
// session, running the agent binary as `axo-agent gateway`. It outlives whatever started
// it (a CLI has no process after `axo up`; a server restart must not cut egress).
import { z } from 'zod';
import { AGENT_PATHS, EGRESS_PATHS, GATEWAY_PREFIX, LABELS } from './constants';
import { parseInput } from './errors';
import { parsePsEntries } from './ps';
import { hostIpSchema, imageRefSchema, ownerIdSchema, portSchema, sessionIdSchema } from './schemas';

/** The container name of a session's gateway; throws InvalidInputError for an unusable id. */
export function gatewayName(sessionId: string): string {
  return `${GATEWAY_PREFIX}${parseInput(sessionIdSchema, sessionId, 'session id')}`;
}

const hostPath = z
  .string()
  .refine(
    (p) => p.startsWith('/') && !/[\0\n\r",]/.test(p),
    'must be an absolute host path without NUL, newlines, quotes or commas',
  );

export const gatewaySpecSchema = z.strictObject({
  sessionId: sessionIdSchema,
  owner: ownerIdSchema,
  /** Host path of the static agent binary (mounted read-only). */
  binary: hostPath,
  /** The session's host run dir (holds e/out, e/in and gw). */
  runDir: hostPath,
  /** Any local image: only the agent binary runs in it. */
  image: imageRefSchema,
  /**
   * Who the gateway runs as: a uid:gid (root podman: 65534, nobody) or `keep-id` (rootless:
   * the host user's own uid inside, which owns the run dir). Never root.
   */
  user: z.union([z.literal('keep-id'), z.strictObject({ uid: z.number().int().min(1), gid: z.number().int().min(1) })]),
  /** Ports forwarded from `publishHost` on the host to the session's loopback. @default [] */
  ports: z.array(portSchema).default([]),
  /** @default '127.0.0.1' */
  publishHost: hostIpSchema.default('127.0.0.1'),
  /** Caps for the gateway itself, when the host can apply them. */
  limits: z.strictObject({ memory: z.string().regex(/^\d+[kmg]?$/), pids: z.number().int().min(16) }).optional(),
});

export type GatewaySpecInput = z.input<typeof gatewaySpecSchema>;

/**
 * Argv (after `podman`) that starts a session's gateway: labelled with the session and a
 * gateway role, hardened like sessions (no capabilities at all, no new privileges, a
 * read-only root, a non-root user), on the host's network so that "the host's loopback"
 * is the host's (the gateway refuses loopback unless an IP entry names it), with the run
 * dir's egress directories mounted.
 */
export function buildGatewayRunArgs(spec: GatewaySpecInput): string[] {
  const s = parseInput(gatewaySpecSchema, spec, 'gateway spec');
  // podman parses --mount as CSV: quote a field with spaces (the path itself has no quotes or commas).
  const field = (f: string) => (/\s/.test(f) ? `"${f}"` : f);
  const mount = (src: string, dst: string, ro = false) =>
    `type=bind,${field(`source=${src}`)},destination=${dst}${ro ? ',ro=true' : ''}`;
  const args = [
    'run',
    '--detach',
    '--name',
    gatewayName(s.sessionId),
    '--label',
    `${LABELS.managed}=true`,
    '--label',
    `${LABELS.session}=${s.sessionId}`,
    '--label',
    `${LABELS.owner}=${s.owner}`,
    '--label',
    `${LABELS.role}=gateway`,
    '--network',
    'host',
    '--cap-drop=ALL',
    '--security-opt=no-new-privileges',
    '--read-only',
    // Nothing from the image but its files: no environment (GODEBUG, TZ, …), no healthcheck.
    '--unsetenv-all',
    '--no-healthcheck',
    ...(s.user === 'keep-id' ? ['--userns=keep-id'] : ['--user', `${s.user.uid}:${s.user.gid}`]),
    '--mount',
    mount(s.binary, AGENT_PATHS.binary, true),
    '--mount',
    mount(`${s.runDir}/${EGRESS_PATHS.hostOut}`, EGRESS_PATHS.out),
    '--mount',
    mount(`${s.runDir}/${EGRESS_PATHS.hostIn}`, EGRESS_PATHS.in, true),
    '--mount',
    mount(`${s.runDir}/${EGRESS_PATHS.hostState}`, EGRESS_PATHS.state),
    '--entrypoint',
    AGENT_PATHS.binary,
  ];
  if (s.limits) args.push('--memory', s.limits.memory, '--pids-limit', String(s.limits.pids));
  args.push(
    s.image,
    'gateway',
    '--socket',
    EGRESS_PATHS.socket,
    '--state',
    EGRESS_PATHS.state,
    '--session',
    s.sessionId,
    '--ingress',
    EGRESS_PATHS.ingressSocket,
  );
  const host = s.publishHost.includes(':') ? `[${s.publishHost}]` : s.publishHost;
  for (const port of new Set(s.ports)) args.push('--publish', `${host}:${port}`);
  return args;
}

/** A session gateway, as `podman ps` reports it. */
export interface GatewayContainer {
  readonly id: string;
  readonly name: string;
  readonly sessionId: string;
  readonly owner: string;
  readonly state: string;
  readonly createdAt: number | undefined;
}

/**
 * The gateways in `podman ps --format json` output (the same query that lists sessions):
 * the managed and gateway-role labels, a valid session label, and a name that is exactly
 * that session's gateway.
 */
export function parseGatewayContainers(stdout: string): GatewayContainer[] {
  const out: GatewayContainer[] = [];
  for (const entry of parsePsEntries(stdout)) {
    const labels = entry.Labels ?? {};
    const sessionId = labels[LABELS.session];
    if (labels[LABELS.managed] !== 'true' || labels[LABELS.role] !== 'gateway') continue;
    if (!sessionIdSchema.safeParse(sessionId).success) continue;
    const name = `${GATEWAY_PREFIX}${sessionId}`;
    if (!(entry.Names ?? []).includes(name)) continue;
    out.push({
      id: entry.Id,
      name,
      sessionId: sessionId as string,
      owner: labels[LABELS.owner] ?? '',
      state: entry.State,
      createdAt: entry.Created,
    });
  }
  return out;
}
