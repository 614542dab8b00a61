import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError, imageRefSchema, ownerIdSchema, sandboxPolicySchema } from '@axo/podman-args';
import { z } from 'zod';

const bool = z
  .enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));
const ms = z.coerce.number().int().min(0);

/** Everything axo-server can be told, with safe defaults. */
export const serverConfigSchema = z.strictObject({
  /** Address to listen on. @default '127.0.0.1' (loopback only) */
  host: z.string().min(1).default('127.0.0.1'),
  /** @default 7878 */
  port: z.coerce.number().int().min(0).max(65535).default(7878),
  /** Bearer token; when absent one is generated into `stateDir/token` (0600) and printed once. */
  token: z.string().min(16, 'token must be at least 16 characters').optional(),
  /** Where the token, the instance id and session reports are kept. */
  stateDir: z.string().min(1),
  /** Session working directories must resolve inside one of these (comma-separated in the environment). @default [] (none allowed) */
  allowedRoots: z.array(z.string().min(1)).default([]),
  /** The server's sandbox policy: the most any client can get. */
  policy: sandboxPolicySchema.default(() => sandboxPolicySchema.parse({})),
  /** Owner label of this instance's containers; generated and kept in stateDir when absent. */
  instanceId: ownerIdSchema.optional(),
  /** @default 20 */
  maxSessions: z.coerce.number().int().min(1).max(10_000).default(20),
  /** Largest request body in bytes. @default 1048576 */
  bodyLimit: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** Largest file a client may upload (PUT …/files), bytes; more is 413 and the earlier file stays. @default 1 GiB */
  maxFileBytes: z.coerce
    .number()
    .int()
    .min(1)
    .default(1024 * 1024 * 1024),
  /** Remove sessions unused this long (ms); 0 never. @default 3600000 */
  idleTimeoutMs: ms.default(3_600_000),
  /** Remove sessions older than this (ms); 0 never. @default 0 */
  maxLifetimeMs: ms.default(0),
  /**
   * Pause (freeze) a session after this long without activity (ms); 0 never. Any use resumes
   * it. Ignored where this host cannot pause (rootless on cgroup v1). @default 300000
   */
  idlePauseMs: ms.default(300_000),
  /** A running background task alone keeps a session awake (E2B's default: it does not). @default false */
  keepAwakeWithTasks: z.boolean().default(false),
  /** How often the idle/lifetime reaper runs (ms). @default 30000 */
  reapIntervalMs: z.coerce.number().int().min(100).default(30_000),
  /** On SIGTERM, also remove every session (default: leave them for the next start). */
  stopSessionsOnShutdown: z.boolean().default(false),
  /** Dev tools to ensure in new sessions; [] skips provisioning. @default [] */
  provisionTools: z.array(z.string()).default([]),
  /**
   * Serve E2B's API (control plane and envd) on this port too, so the official E2B SDKs work
   * unchanged against this server (see README, "E2B compatibility"). @default false
   */
  e2b: z.boolean().default(false),
  /** pino log level. @default 'info' */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ServerConfigInput = z.input<typeof serverConfigSchema>;
export type ServerConfig = z.output<typeof serverConfigSchema>;

const envSchema = z.object({
  AXO_SERVER_HOST: z.string().optional(),
  AXO_SERVER_PORT: z.string().optional(),
  AXO_TOKEN: z.string().optional(),
  AXO_SERVER_STATE_DIR: z.string().optional(),
  AXO_SERVER_ROOTS: z.string().optional(),
  AXO_SERVER_DEFAULT_IMAGE: imageRefSchema.optional(),
  AXO_SERVER_TRUSTED_IMAGES: z.string().optional(),
  AXO_SERVER_NETWORK: z.enum(['bridge', 'none', 'allowlist']).optional(),
  AXO_SERVER_EGRESS: z.string().optional(),
  AXO_SERVER_ALLOW_POST_CREATE: bool.optional(),
  AXO_SERVER_ALLOW_UNTRUSTED_IMAGE: bool.optional(),
  AXO_SERVER_REQUIRE_LIMITS: bool.optional(),
  AXO_SERVER_STRICT: bool.optional(),
  AXO_SERVER_ALLOW_BUILD: bool.optional(),
  AXO_SERVER_READ_ONLY: bool.optional(),
  AXO_SERVER_CAPABILITIES: z.string().optional(),
  AXO_SERVER_INSTANCE_ID: z.string().optional(),
  AXO_SERVER_MAX_SESSIONS: z.string().optional(),
  AXO_SERVER_BODY_LIMIT: z.string().optional(),
  AXO_SERVER_MAX_FILE_BYTES: z.string().optional(),
  AXO_SERVER_IDLE_TIMEOUT_MS: z.string().optional(),
  AXO_SERVER_IDLE_PAUSE_MS: z.string().optional(),
  AXO_SERVER_KEEP_AWAKE_WITH_TASKS: bool.optional(),
  AXO_SERVER_MAX_LIFETIME_MS: z.string().optional(),
  AXO_SERVER_REAP_INTERVAL_MS: z.string().optional(),
  AXO_SERVER_STOP_SESSIONS_ON_SHUTDOWN: bool.optional(),
  AXO_SERVER_PROVISION_TOOLS: z.string().optional(),
  AXO_SERVER_LOG_LEVEL: z.string().optional(),
  AXO_SERVER_E2B: bool.optional(),
  XDG_STATE_HOME: z.string().optional(),
});

const list = (s: string | undefined) =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

/** Builds the configuration from AXO_SERVER_* variables (and AXO_TOKEN). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(
      String(issue?.path[0] ?? 'environment'),
      `${String(issue?.path[0])}: ${issue?.message}`,
    );
  }
  const e = parsed.data;
  const stateHome = e.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  const input: Record<string, unknown> = {
    host: e.AXO_SERVER_HOST,
    port: e.AXO_SERVER_PORT,
    token: e.AXO_TOKEN || undefined,
    stateDir: e.AXO_SERVER_STATE_DIR ?? join(stateHome, 'axo-server'),
    allowedRoots: list(e.AXO_SERVER_ROOTS),
    instanceId: e.AXO_SERVER_INSTANCE_ID,
    maxSessions: e.AXO_SERVER_MAX_SESSIONS,
    bodyLimit: e.AXO_SERVER_BODY_LIMIT,
    maxFileBytes: e.AXO_SERVER_MAX_FILE_BYTES,
    idleTimeoutMs: e.AXO_SERVER_IDLE_TIMEOUT_MS,
    idlePauseMs: e.AXO_SERVER_IDLE_PAUSE_MS,
    keepAwakeWithTasks: e.AXO_SERVER_KEEP_AWAKE_WITH_TASKS,
    maxLifetimeMs: e.AXO_SERVER_MAX_LIFETIME_MS,
    reapIntervalMs: e.AXO_SERVER_REAP_INTERVAL_MS,
    stopSessionsOnShutdown: e.AXO_SERVER_STOP_SESSIONS_ON_SHUTDOWN,
    provisionTools: list(e.AXO_SERVER_PROVISION_TOOLS),
    logLevel: e.AXO_SERVER_LOG_LEVEL,
    e2b: e.AXO_SERVER_E2B,
    policy: {
      ...(e.AXO_SERVER_DEFAULT_IMAGE && { defaultImage: e.AXO_SERVER_DEFAULT_IMAGE }),
      ...(e.AXO_SERVER_TRUSTED_IMAGES && { trustedImages: list(e.AXO_SERVER_TRUSTED_IMAGES) }),
      ...(e.AXO_SERVER_NETWORK && { network: e.AXO_SERVER_NETWORK }),
      ...(e.AXO_SERVER_EGRESS !== undefined && { egress: list(e.AXO_SERVER_EGRESS) }),
      ...(e.AXO_SERVER_ALLOW_POST_CREATE !== undefined && { allowPostCreate: e.AXO_SERVER_ALLOW_POST_CREATE }),
      ...(e.AXO_SERVER_ALLOW_UNTRUSTED_IMAGE !== undefined && {
        allowUntrustedImage: e.AXO_SERVER_ALLOW_UNTRUSTED_IMAGE,
      }),
      ...(e.AXO_SERVER_REQUIRE_LIMITS !== undefined && { requireResourceLimits: e.AXO_SERVER_REQUIRE_LIMITS }),
      ...(e.AXO_SERVER_STRICT !== undefined && { strict: e.AXO_SERVER_STRICT }),
      ...(e.AXO_SERVER_ALLOW_BUILD !== undefined && { allowBuild: e.AXO_SERVER_ALLOW_BUILD }),
      ...(e.AXO_SERVER_READ_ONLY !== undefined && { readOnlyRoot: e.AXO_SERVER_READ_ONLY }),
      ...(e.AXO_SERVER_CAPABILITIES !== undefined && { capabilities: list(e.AXO_SERVER_CAPABILITIES) }),
    },
  };
  for (const key of Object.keys(input)) if (input[key] === undefined) delete input[key];
  const config = serverConfigSchema.safeParse(input);
  if (!config.success) {
    const issue = config.error.issues[0];
    const key = issue?.path.join('.') ?? 'config';
    throw new InvalidInputError(key, `server configuration: ${key}: ${issue?.message}`);
  }
  return config.data;
}
