import type { ExecOptions, ExecResult } from './exec';
import type { SandboxLogger } from './logger';

/** Tools a session gets when provisioning is on and no list is given. */
export const DEFAULT_DEV_TOOLS = Object.freeze(['bash', 'git', 'curl', 'less', 'vim']);

export type PackageManager = 'apk' | 'apt-get' | 'dnf';

/** What provisioning did. */
export interface ProvisionReport {
  /**
   * `present`: nothing was missing; `installed`: missing tools were installed;
   * `failed`: installing failed (see `detail`); `unsupported`: no known package manager;
   * `skipped`: not attempted (see `detail`); `disabled`: turned off by the caller.
   */
  readonly status: 'present' | 'installed' | 'failed' | 'unsupported' | 'skipped' | 'disabled';
  readonly packageManager: PackageManager | undefined;
  /** Tools that were checked. */
  readonly tools: readonly string[];
  /** Tools found missing before installing. */
  readonly missing: readonly string[];
  /** Packages installed. */
  readonly installed: readonly string[];
  /** Why it failed or was skipped; the tail of the package manager's output on failure. */
  readonly detail?: string;
  readonly durationMs: number;
}

// Where a tool's package is named differently from the tool.
const PACKAGE_NAMES: Record<string, Partial<Record<PackageManager, string>>> = {
  pip3: { apk: 'py3-pip', 'apt-get': 'python3-pip', dnf: 'python3-pip' },
  node: { apk: 'nodejs', 'apt-get': 'nodejs', dnf: 'nodejs' },
  vim: { dnf: 'vim-enhanced' },
  ps: { apk: 'procps', 'apt-get': 'procps', dnf: 'procps-ng' },
};

// Each cleans its package lists and caches afterwards, whether the install worked or not:
// they would otherwise stay in every session's writable layer (~200 MB for apt).
const INSTALL_SCRIPTS: Record<PackageManager, string> = {
  apk: 'apk add --no-cache "$@"',
  'apt-get':
    'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; ' +
    'rc=$?; apt-get clean; rm -rf /var/lib/apt/lists/*; exit $rc',
  dnf: 'dnf install -y -q "$@"; rc=$?; dnf clean all >/dev/null 2>&1; exit $rc',
};

const DETECT_SCRIPT = `for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "missing $t"; done
for pm in apk apt-get dnf; do command -v "$pm" >/dev/null 2>&1 && { echo "pm $pm"; break; }; done; exit 0`;

type Exec = (argv: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

export interface ProvisionOptions {
  readonly tools: readonly string[];
  readonly timeoutMs: number;
  /** `allowlist` sessions install through their proxy (which must allow the package archive). */
  readonly network: 'bridge' | 'none' | 'allowlist';
  readonly logger: SandboxLogger;
}

const tail = (text: string, bytes = 2000) => (text.length > bytes ? `…${text.slice(-bytes)}` : text).trim();

/** The detection half of provisioning, started on its own: see probeTools. */
export interface ToolProbe {
  /** When it started (performance.now()), so the report's duration covers it. */
  readonly startedAt: number;
  /** The detection script's result; undefined when there is nothing to check. */
  readonly result: Promise<ExecResult> | undefined;
}

/**
 * Starts detecting which of `tools` the container lacks, without installing anything: a
 * start runs it while it reads what is in force, and installs (provision) only afterwards.
 */
export function probeTools(exec: Exec, tools: readonly string[]): ToolProbe {
  const startedAt = performance.now();
  if (tools.length === 0) return { startedAt, result: undefined };
  // async: an exec that throws at once becomes a rejection, reported like any other failure.
  const result = (async () => exec(['sh', '-c', DETECT_SCRIPT, 'sh', ...tools], { timeoutMs: 30_000 }))();
  // Awaited by provision; until then a failure must not count as unhandled.
  result.catch(() => undefined);
  return { startedAt, result };
}

/**
 * Installs whichever of `tools` the container lacks, best effort: never throws. `probe`, when
 * given, is a detection already under way for the same tools.
 */
export async function provision(
  exec: Exec,
  options: ProvisionOptions,
  probe: ToolProbe = probeTools(exec, options.tools),
): Promise<ProvisionReport> {
  const started = probe.startedAt;
  const { tools, logger } = options;
  const done = (r: Omit<ProvisionReport, 'durationMs' | 'tools'>): ProvisionReport => ({
    ...r,
    tools,
    durationMs: Math.round(performance.now() - started),
  });
  if (probe.result === undefined) {
    return done({ status: 'present', packageManager: undefined, missing: [], installed: [] });
  }
  try {
    const probed = await probe.result;
    const lines = probed.stdout.split('\n');
    const missing = lines.filter((l) => l.startsWith('missing ')).map((l) => l.slice(8));
    const packageManager = lines.find((l) => l.startsWith('pm '))?.slice(3) as PackageManager | undefined;
    if (probed.exitCode !== 0) {
      return done({ status: 'failed', packageManager, missing, installed: [], detail: tail(probed.stderr) });
    }
    if (missing.length === 0) return done({ status: 'present', packageManager, missing, installed: [] });
    if (!packageManager) {
      logger.warn('cannot provision dev tools: no apk, apt-get or dnf in the image', { missing });
      return done({ status: 'unsupported', packageManager, missing, installed: [], detail: 'no apk, apt-get or dnf' });
    }
    if (options.network === 'none') {
      return done({ status: 'skipped', packageManager, missing, installed: [], detail: 'the session has no network' });
    }
    const packages = missing.map((t) => PACKAGE_NAMES[t]?.[packageManager] ?? t);
    logger.info(`provisioning: installing ${packages.join(' ')} with ${packageManager}`);
    const install = await exec(['sh', '-c', INSTALL_SCRIPTS[packageManager], 'sh', ...packages], {
      timeoutMs: options.timeoutMs,
      maxOutputBytes: 256 * 1024,
    });
    if (install.exitCode === 0) return done({ status: 'installed', packageManager, missing, installed: packages });
    const detail = install.timedOut
      ? `timed out after ${options.timeoutMs} ms`
      : `${packageManager} exited with ${install.exitCode}: ${tail(`${install.stdout}\n${install.stderr}`)}`;
    logger.warn(`provisioning failed: ${detail}`);
    return done({ status: 'failed', packageManager, missing, installed: [], detail });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    logger.warn(`provisioning failed: ${detail}`);
    return done({ status: 'failed', packageManager: undefined, missing: [], installed: [], detail });
  }
}
