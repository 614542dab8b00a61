import { z } from 'zod';
import { capabilitySchema, DEFAULT_CAPABILITIES } from './capabilities';
import { DEFAULT_IMAGE, DEFAULT_LIMITS, DEFAULT_OWNER, MAX_ID_LENGTH } from './constants';
import { egressListSchema } from './egress';

/**
 * A session's network: `bridge` (podman's bridge, loopback-published ports), `none` (no
 * network), or `allowlist` (no route out; an HTTP(S) proxy through a per-session gateway
 * that allows only the `egress` entries).
 */
export const networkSchema = z.enum(['bridge', 'none', 'allowlist']);

const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const ID_RULE = 'may use only ASCII letters, digits, "_", "." and "-", starting with a letter or digit';

function idSchema(what: string) {
  return z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(MAX_ID_LENGTH, `${what} must be at most ${MAX_ID_LENGTH} characters`)
    .regex(ID_PATTERN, `${what} ${ID_RULE}`);
}

/** A session id: becomes part of a container name, so podman's name rules apply. */
export const sessionIdSchema = idSchema('session id');
/** The id of the manager instance that owns a set of sessions (scopes reaping). */
export const ownerIdSchema = idSchema('owner id');

/** A container name or id as podman accepts it (never an option: no leading "-"). */
export const containerRefSchema = z
  .string()
  .min(1, 'container must not be empty')
  .max(255)
  .regex(ID_PATTERN, `container ${ID_RULE}`);

function isNormalizedAbsolute(path: string): boolean {
  if (!path.startsWith('/') || path.length < 2 || path.endsWith('/')) return false;
  return path
    .slice(1)
    .split('/')
    .every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * A host working directory: absolute, normalised, never `/` itself. Any other character
 * is carried (mounts are CSV-quoted), except NUL and newlines, which no tool handles.
 */
export const workdirSchema = z
  .string()
  .refine((p) => !/[\0\n\r]/.test(p), 'working directory must not contain NUL or newline characters')
  .refine((p) => p !== '/', 'working directory must not be the host root "/"')
  .refine(
    isNormalizedAbsolute,
    'working directory must be an absolute, normalised path (no ".", "..", "//" or trailing "/"); resolve it first',
  );

/**
 * Where a repository wants its workspace inside the container (devcontainer.json's
 * `workspaceFolder`): the workdir is mounted there too. Never over axo's own paths or the
 * kernel's file systems.
 */
export const workspaceFolderSchema = workdirSchema.refine(
  (p) => !/^\/(\.axo|proc|sys|dev)(\/|$)/.test(p),
  'workspace folder must not be under /.axo, /proc, /sys or /dev',
);

/** An image reference (`name[:tag][@digest]`), never an option. */
export const imageRefSchema = z
  .string()
  .min(1, 'image must not be empty')
  .max(512)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._/:@+-]*$/, 'image must be a reference like "docker.io/library/alpine:3.20"');

/** A TCP port number. */
export const portSchema = z
  .number()
  .int('port must be a whole number')
  .min(1, 'port must be 1-65535')
  .max(65535, 'port must be 1-65535');

/** A host address published ports bind to. */
export const hostIpSchema = z.union([z.ipv4(), z.ipv6()], { error: 'host address must be an IPv4 or IPv6 address' });

/** Environment variable name. */
export const envKeySchema = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'environment variable names use letters, digits and "_", not starting with a digit',
  );

/** Environment variables; values may hold anything but NUL. */
export const envSchema = z.record(
  envKeySchema,
  z.string().refine((v) => !v.includes('\0'), 'environment values must not contain NUL'),
);

/** Resource limits; each field falls back to DEFAULT_LIMITS. */
export const resourceLimitsSchema = z.strictObject({
  /** Memory cap in podman's syntax (`512m`, `2g`). @default '2g' */
  memory: z
    .string()
    .regex(/^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$/, 'memory must look like "512m" or "2g"')
    .default(DEFAULT_LIMITS.memory),
  /** CPUs (fractional allowed). @default 2 */
  cpus: z.number().positive('cpus must be positive').max(1024).default(DEFAULT_LIMITS.cpus),
  /** Maximum number of processes. @default 512 */
  pids: z.number().int().min(8, 'pids must be at least 8').max(4_194_304).default(DEFAULT_LIMITS.pids),
});

/** What a session may do. Defaults are the secure choice. */
export const sandboxPolicySchema = z.strictObject({
  /** Run the repository's lifecycle commands (onCreate … postAttach). @default false */
  allowPostCreate: z.boolean().default(false),
  /** Build the repository's image from its Dockerfile (with the session's confinement). @default false */
  allowBuild: z.boolean().default(false),
  /** Use images other than `defaultImage` and `trustedImages`. @default false */
  allowUntrustedImage: z.boolean().default(false),
  /**
   * `bridge` (with loopback-published ports), `none` (no network, no ports) or `allowlist`
   * (only `egress`, through the session's gateway; ports forwarded by it). @default 'bridge'
   */
  network: networkSchema.default('bridge'),
  /**
   * With `allowlist`: where the session may connect (`deb.debian.org`, `*.example.com:443`,
   * `10.0.0.0/8:5432`, `[2001:db8::1]:5432`; no port = 80 and 443). Deny by default. @default []
   */
  egress: egressListSchema.default([]),
  /** Fail instead of starting uncapped when the host cannot apply limits. @default false */
  requireResourceLimits: z.boolean().default(false),
  /** Limits to apply, or `false` for none. @default DEFAULT_LIMITS */
  limits: z.union([z.literal(false), resourceLimitsSchema]).default(() => resourceLimitsSchema.parse({})),
  /** The trusted image used when none is requested or a request is refused. @default DEFAULT_IMAGE */
  defaultImage: imageRefSchema.default(DEFAULT_IMAGE),
  /** Further images trusted without `allowUntrustedImage`. @default [] */
  trustedImages: z.array(imageRefSchema).default([]),
  /**
   * Capabilities kept after `--cap-drop=ALL`; list more to widen, fewer to narrow.
   * @default DEFAULT_CAPABILITIES (CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID)
   */
  capabilities: z.array(capabilitySchema).default(() => [...DEFAULT_CAPABILITIES]),
  /** A read-only root file system (tmpfs on /tmp, /var/tmp, /run, /dev/shm; the workdir stays writable). @default false */
  readOnlyRoot: z.boolean().default(false),
  /**
   * Fail the start when anything asked for is not in force (an image downgrade, a limit the
   * host dropped, a protection that did not apply), leaving nothing behind. @default false
   */
  strict: z.boolean().default(false),
});

const hostPathSchema = z
  .string()
  .refine((p) => p.startsWith('/') && !/[\0\n\r]/.test(p), 'must be an absolute host path without NUL or newlines');

/** `user`, `uid`, `uid:gid` or `user:group`, as podman and the agent take it. */
export const userSchema = z
  .string()
  .regex(/^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]*)?$/, 'user must be "name", "uid" or "uid:gid"');

/** How a session container runs the agent as its init (packages/agent). */
export const agentSpecSchema = z.strictObject({
  /** Host path of the static agent binary (mounted read-only). */
  binary: hostPathSchema,
  /** The session's host run dir: holds `token` and the socket dir `s/`. */
  runDir: hostPathSchema,
  /** The user commands run as by default (the image's USER, say); root when omitted. */
  user: userSchema.optional(),
});

/** Everything `podman run` needs to start one session container. */
export const runSpecSchema = z.strictObject({
  sessionId: sessionIdSchema,
  /** Manager instance owning the session. @default 'default' */
  owner: ownerIdSchema.default(DEFAULT_OWNER),
  workdir: workdirSchema,
  image: imageRefSchema,
  /** Ports published as host:container with the same number. @default [] */
  ports: z
    .array(portSchema)
    .default([])
    .transform((ports) => [...new Set(ports)]),
  /** Host address ports bind to. @default '127.0.0.1' */
  publishHost: hostIpSchema.default('127.0.0.1'),
  /** `allowlist` runs with `--network none` plus the agent's proxy (see EGRESS_PATHS). @default 'bridge' */
  network: networkSchema.default('bridge'),
  /** Limits to apply; omitted means none. */
  limits: resourceLimitsSchema.optional(),
  /** Environment for the container. @default {} */
  env: envSchema.default({}),
  /** Run the agent as init; without it, `--init` and `sleep infinity` (the fallback). */
  agent: agentSpecSchema.optional(),
  /** Also mount the workdir here, and make it the default working directory. */
  workspaceFolder: workspaceFolderSchema.optional(),
  /** Capabilities kept after `--cap-drop=ALL`. @default DEFAULT_CAPABILITIES */
  capabilities: z.array(capabilitySchema).default(() => [...DEFAULT_CAPABILITIES]),
  /** Read-only root file system (podman's tmpfs on /tmp, /var/tmp, /run, /dev/shm). @default false */
  readOnlyRoot: z.boolean().default(false),
  /** An nproc rlimit, the fork-bomb brake where the pids limit cannot apply. */
  nproc: z.number().int().min(16).max(4_194_304).optional(),
});

/** Options of `podman exec`. */
export const execArgsOptionsSchema = z.strictObject({
  /** Keep stdin open (`-i`). @default false */
  interactive: z.boolean().default(false),
  /** Allocate a terminal (`-t`); detach keys are disabled so every key reaches the program. @default false */
  tty: z.boolean().default(false),
  /** @default {} */
  env: envSchema.default({}),
  /** Working directory inside the container. */
  workdir: z
    .string()
    .refine((p) => p.startsWith('/') && !/[\0\n\r]/.test(p), 'workdir must be an absolute path')
    .optional(),
  /** `user`, `uid` or `uid:gid`. */
  user: userSchema.optional(),
});

export type SandboxPolicyInput = z.input<typeof sandboxPolicySchema>;
export type SandboxPolicy = z.output<typeof sandboxPolicySchema>;
export type ResourceLimits = z.output<typeof resourceLimitsSchema>;
export type RunSpecInput = z.input<typeof runSpecSchema>;
export type RunSpec = z.output<typeof runSpecSchema>;
export type ExecArgsOptionsInput = z.input<typeof execArgsOptionsSchema>;
export type Network = SandboxPolicy['network'];
export type AgentSpec = z.output<typeof agentSpecSchema>;
