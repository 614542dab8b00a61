import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_IMAGE, InvalidInputError, imageRefSchema, ownerIdSchema, sandboxPolicySchema } from '@axo/podman-args';
import { z } from 'zod';

/** The config file's shape. Every key is optional; unknown keys are errors. */
export const configFileSchema = z.strictObject({
  /** Image used when none is asked for; `axo image bootstrap` sets it. */
  defaultImage: imageRefSchema.optional(),
  /** Images trusted besides the default. */
  trustedImages: z.array(imageRefSchema).optional(),
  /** Owner label of this CLI's sessions. @default 'cli' */
  owner: ownerIdSchema.optional(),
  /** Sandbox policy (see @axo/podman-args' SandboxPolicy). */
  policy: sandboxPolicySchema.omit({ defaultImage: true, trustedImages: true }).partial().optional(),
});

export type ConfigFile = z.infer<typeof configFileSchema>;

/** Where the config lives: $AXO_CONFIG, else $XDG_CONFIG_HOME/axo/config.json. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AXO_CONFIG) return env.AXO_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'axo', 'config.json');
}

function invalid(where: string, error: z.ZodError): InvalidInputError {
  const issue = error.issues[0];
  const key =
    issue?.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]].join('.') : (issue?.path.join('.') ?? '');
  const message = issue?.code === 'unrecognized_keys' ? 'is not a known setting' : (issue?.message ?? 'is invalid');
  return new InvalidInputError(key, `${where}: "${key}" ${message}`, {
    cause: error,
    hint: 'Known settings: defaultImage, trustedImages, owner, policy.{allowPostCreate, allowUntrustedImage, allowBuild, network, egress, requireResourceLimits, limits, capabilities, readOnlyRoot, strict}.',
  });
}

/** Reads the config file; a missing file is an empty config. */
export async function readConfigFile(path = configPath()): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new InvalidInputError('config', `${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) throw invalid(path, parsed.error);
  return parsed.data;
}

/** Updates the config file with `change`, keeping every other setting. */
export async function updateConfigFile(change: (config: ConfigFile) => ConfigFile, path = configPath()): Promise<void> {
  const next = configFileSchema.parse(change(await readConfigFile(path)));
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

const bool = z
  .enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

/** AXO_* environment variables and the settings they override. */
const envSchema = z.object({
  AXO_IMAGE: imageRefSchema.optional(),
  AXO_OWNER: ownerIdSchema.optional(),
  AXO_NETWORK: z.enum(['bridge', 'none', 'allowlist']).optional(),
  /** Comma-separated egress entries (implies network allowlist unless AXO_NETWORK says otherwise). */
  AXO_EGRESS: z.string().optional(),
  AXO_ALLOW_POST_CREATE: bool.optional(),
  AXO_ALLOW_UNTRUSTED_IMAGE: bool.optional(),
  AXO_REQUIRE_LIMITS: bool.optional(),
  AXO_STRICT: bool.optional(),
  AXO_ALLOW_BUILD: bool.optional(),
  AXO_READ_ONLY: bool.optional(),
});

/** Settings from the command line; undefined means "not given". */
export interface FlagSettings {
  readonly image?: string;
  readonly network?: 'bridge' | 'none' | 'allowlist';
  /** Egress entries (`--allow-host`, `--allow-cidr`): added to the config's, and imply network allowlist. */
  readonly egress?: readonly string[];
  readonly allowPostCreate?: boolean;
  readonly allowUntrustedImage?: boolean;
  readonly requireLimits?: boolean;
  readonly strict?: boolean;
  readonly readOnlyRoot?: boolean;
  readonly allowBuild?: boolean;
}

/** The effective settings: flags > AXO_* environment > config file > defaults. */
export interface Settings {
  readonly owner: string;
  readonly defaultImage: string;
  readonly requestedImage: string | undefined;
  readonly policy: z.input<typeof sandboxPolicySchema>;
  readonly configPath: string;
}

/**
 * The allowlist: the config file's entries, then AXO_EGRESS's, then the flags'. Entries
 * given in the environment or as flags make the network `allowlist` unless one is named.
 */
function egressSettings(
  fromFile: readonly string[] | undefined,
  fromEnv: string | undefined,
  namedNetwork: string | undefined,
  fromFlags: readonly string[] | undefined,
): { egress?: string[]; network?: 'allowlist' } {
  const envEntries = fromEnv
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const added = [...(envEntries ?? []), ...(fromFlags ?? [])];
  if (added.length === 0) return {};
  if (namedNetwork !== undefined && namedNetwork !== 'allowlist') {
    throw new InvalidInputError(
      'network',
      `egress entries (${added.join(', ')}) need network "allowlist", not "${namedNetwork}"`,
    );
  }
  return { egress: [...(fromFile ?? []), ...added], network: 'allowlist' };
}

/** Resolves the effective settings. */
export async function loadSettings(flags: FlagSettings = {}, env: NodeJS.ProcessEnv = process.env): Promise<Settings> {
  const path = configPath(env);
  const file = await readConfigFile(path);
  const parsedEnv = envSchema.safeParse(env);
  if (!parsedEnv.success) throw invalid('environment', parsedEnv.error);
  const e = parsedEnv.data;
  const defaultImage = file.defaultImage ?? DEFAULT_IMAGE;
  const policy = {
    ...file.policy,
    defaultImage,
    trustedImages: file.trustedImages ?? [],
    ...(e.AXO_NETWORK !== undefined && { network: e.AXO_NETWORK }),
    ...(e.AXO_ALLOW_POST_CREATE !== undefined && { allowPostCreate: e.AXO_ALLOW_POST_CREATE }),
    ...(e.AXO_ALLOW_UNTRUSTED_IMAGE !== undefined && { allowUntrustedImage: e.AXO_ALLOW_UNTRUSTED_IMAGE }),
    ...(e.AXO_REQUIRE_LIMITS !== undefined && { requireResourceLimits: e.AXO_REQUIRE_LIMITS }),
    ...(e.AXO_STRICT !== undefined && { strict: e.AXO_STRICT }),
    ...(e.AXO_ALLOW_BUILD !== undefined && { allowBuild: e.AXO_ALLOW_BUILD }),
    ...(e.AXO_READ_ONLY !== undefined && { readOnlyRoot: e.AXO_READ_ONLY }),
    ...(flags.network !== undefined && { network: flags.network }),
    // Flags win over the environment: --allow-host makes the network allowlist unless --network names another.
    ...egressSettings(
      file.policy?.egress,
      e.AXO_EGRESS,
      flags.network ?? (flags.egress?.length ? undefined : e.AXO_NETWORK),
      flags.egress,
    ),
    ...(flags.allowPostCreate !== undefined && { allowPostCreate: flags.allowPostCreate }),
    ...(flags.allowUntrustedImage !== undefined && { allowUntrustedImage: flags.allowUntrustedImage }),
    ...(flags.requireLimits !== undefined && { requireResourceLimits: flags.requireLimits }),
    ...(flags.strict !== undefined && { strict: flags.strict }),
    ...(flags.allowBuild !== undefined && { allowBuild: flags.allowBuild }),
    ...(flags.readOnlyRoot !== undefined && { readOnlyRoot: flags.readOnlyRoot }),
  };
  return {
    owner: e.AXO_OWNER ?? file.owner ?? 'cli',
    defaultImage,
    requestedImage: flags.image ?? e.AXO_IMAGE,
    policy,
    configPath: path,
  };
}
