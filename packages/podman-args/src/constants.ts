/** The image used when a session asks for none, or for one the policy does not trust. */
export const DEFAULT_IMAGE = 'docker.io/library/alpine:3.20';

/** Every session container is named `${NAME_PREFIX}${sessionId}`. */
export const NAME_PREFIX = 'axo-ses-';

/** The egress gateway of an allowlisted session is named `${GATEWAY_PREFIX}${sessionId}`. */
export const GATEWAY_PREFIX = 'axo-gw-';

/** Label keys that mark containers axo created; only these are ever reaped. */
export const LABELS = Object.freeze({
  managed: 'io.axo.managed',
  session: 'io.axo.session',
  workdir: 'io.axo.workdir',
  owner: 'io.axo.owner',
  /** The session's host run dir (agent socket and token), when it runs the agent. */
  agent: 'io.axo.agent',
  /** The default working directory inside the container, when it is not the workdir's own path. */
  cwd: 'io.axo.cwd',
  /** `gateway` on a session's egress gateway (session containers carry no role). */
  role: 'io.axo.role',
} as const);

/** Where a session container sees the agent: the contract between the run argv and the agent. */
export const AGENT_PATHS = Object.freeze({
  /** The static agent binary (read-only bind mount). */
  binary: '/.axo/agent',
  /** The per-session token (read-only, root-only). */
  token: '/.axo/token',
  /** The directory of the agent's socket (the host's `<run dir>/s`). */
  socketDir: '/.axo/run',
  /** The socket itself. */
  socket: '/.axo/run/agent.sock',
} as const);

/**
 * Where an allowlisted session and its gateway see the egress directories: the contract
 * between the run argv, the gateway argv and the agent. Host side, under the run dir:
 * `e/out` (the gateway listens), `e/in` (the session's agent listens, for published
 * ports), `gw` (policy, audit trail, counters: the gateway's only).
 */
export const EGRESS_PATHS = Object.freeze({
  /** Host dirs, relative to the session's run dir. */
  hostOut: 'e/out',
  hostIn: 'e/in',
  hostState: 'gw',
  /** The gateway's socket dir (read-only in the session). */
  out: '/.axo/egress',
  socket: '/.axo/egress/gw.sock',
  /** The session agent's ingress dir (read-only in the gateway). */
  in: '/.axo/ingress',
  ingressSocket: '/.axo/ingress/fwd.sock',
  /** The gateway's state dir (never in the session). */
  state: '/.axo/gw',
} as const);

/** Owner id used when the caller names none. */
export const DEFAULT_OWNER = 'default';

/** Resource limits applied when a session asks for them. */
export const DEFAULT_LIMITS = Object.freeze({ memory: '2g', cpus: 2, pids: 512 } as const);

/** Longest accepted session or owner id. */
export const MAX_ID_LENGTH = 64;
