import { readSessionRequest } from '@axo/devcontainer/fs';
import { InvalidInputError, parseEgressEntry } from '@axo/podman-args';
import { type HardeningReport, SessionSandbox } from '@axo/runtime';
import { loadSettings } from '../config';
import { writeText } from '../io';
import { realDirectory, sessionIdFor } from '../session';
import { color, spinner } from '../ui';

export interface UpOptions {
  readonly id?: string;
  readonly image?: string;
  readonly port: readonly number[];
  readonly network?: 'bridge' | 'none' | 'allowlist';
  readonly allowHost?: readonly string[];
  readonly allowCidr?: readonly string[];
  readonly allowPostCreate?: boolean;
  readonly allowUntrustedImage?: boolean;
  readonly requireLimits?: boolean;
  readonly strict?: boolean;
  readonly readOnly?: boolean;
  readonly allowBuild?: boolean;
  readonly replace?: boolean;
  readonly provision: boolean;
  readonly agent: boolean;
  readonly user?: string;
  readonly json?: boolean;
}

/**
 * `axo up [dir]`: starts the session of a directory, or reuses it when it runs (as
 * `devcontainer up` does); `--replace` recreates it. Warnings go to stderr, loudly.
 */
export async function up(dirArg: string | undefined, o: UpOptions): Promise<number> {
  const dir = await realDirectory(dirArg ?? process.cwd());
  // The config is read while the repository's devcontainer.json is; an error in the latter
  // still comes first (async: a bad flag, too, waits its turn as a rejection).
  const settingsRead = (async () =>
    loadSettings({
      image: o.image,
      network: o.network,
      egress: egressFlags(o.allowHost ?? [], o.allowCidr ?? []),
      allowPostCreate: o.allowPostCreate,
      allowUntrustedImage: o.allowUntrustedImage,
      allowBuild: o.allowBuild,
      requireLimits: o.requireLimits,
      strict: o.strict,
      readOnlyRoot: o.readOnly,
    }))();
  settingsRead.catch(() => undefined);
  const request = await readSessionRequest(dir);
  const settings = await settingsRead;
  const sessionId = o.id ?? sessionIdFor(dir);
  const progress = spinner(`starting session ${sessionId}`);
  const user = o.user ?? request?.user;
  let sandbox: SessionSandbox;
  try {
    sandbox = await SessionSandbox.start({
      sessionId,
      owner: settings.owner,
      workdir: dir,
      image: settings.requestedImage ?? request?.image,
      // An image named on the command line wins over the repository's build.
      ...(request?.build && settings.requestedImage === undefined && { build: request.build }),
      ports: [...new Set([...o.port, ...(request?.ports ?? [])])],
      env: { ...request?.env },
      ...(request && { lifecycle: request.lifecycle }),
      ...(request?.workspaceFolder !== undefined && { workspaceFolder: request.workspaceFolder }),
      policy: settings.policy,
      reattach: !o.replace,
      provision: o.provision ? undefined : false,
      agent: o.agent,
      ...(user !== undefined && { user }),
      logger: { info: (m) => progress.update(m), warn: () => {} },
    });
  } finally {
    progress.stop();
  }
  const report = sandbox.report as HardeningReport;
  // A downgrade or a skipped command must not pass quietly, even with --json on stdout.
  for (const w of report.warnings) writeText(2, `${color.yellow('warning:')} ${w}\n`);
  const notApplied = request?.notApplied ?? [];
  if (o.json) {
    writeText(
      1,
      `${JSON.stringify(
        {
          sessionId,
          container: sandbox.container,
          report,
          devcontainer: request ? { file: request.file, notApplied, notes: request.notes } : null,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  writeText(1, describeReport(report, request?.file, notApplied, request?.notes ?? []));
  return 0;
}

const yes = (s: string) => color.green(s);
const warn = (s: string) => color.yellow(s);

/** The hardening report in plain words. */
export function describeReport(
  r: HardeningReport,
  devcontainerFile: string | undefined,
  notApplied: readonly { key: string; reason: string; line?: number }[],
  notes: readonly { key: string; message: string; line: number }[] = [],
): string {
  const lines: string[] = [];
  const verb = r.reattached ? 'reattached to' : 'started';
  lines.push(
    `${yes('✔')} ${verb} session ${color.bold(r.sessionId)} (container ${r.container}, ${(r.durationMs / 1000).toFixed(1)} s)`,
  );
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(12)}${text}`);
  row('workdir', `${r.workdir} (mounted at the same path)`);
  row(
    'image',
    r.image.refusedReason
      ? `${r.image.used} ${warn(`(asked for ${r.image.requested}: refused, not trusted)`)}`
      : r.image.used,
  );
  row(
    'network',
    r.network === 'none'
      ? 'none (no network, no ports)'
      : r.network === 'allowlist'
        ? r.egress
          ? `allowlist: ${r.egress.entries.join(', ') || warn('nothing (every connection is refused)')} (through ${r.egress.gateway}; \`axo net log ${r.sessionId}\`)`
          : warn('allowlist, but without its gateway: no network at all')
        : 'bridge',
  );
  const published = r.ports.published.map((p) => `${p.port} → ${p.hostIp}:${p.port}`);
  row('ports', published.length ? published.join(', ') : 'none published');
  for (const d of r.ports.dropped) row('', warn(`port ${d.port} not published: ${d.reason}`));
  const limits = r.limits.requested;
  const f = r.inForce;
  if (limits === false) row('limits', warn('none (turned off by policy)'));
  else if (r.limits.applied) {
    row(
      'limits',
      `memory ${limits.memory}, cpus ${limits.cpus}, pids ${limits.pids} (in force, read from the ${f.limits.source})`,
    );
  } else {
    row('limits', warn(`NOT in force: ${r.limits.droppedReason ?? 'the host cannot apply them'}`));
    if (f.limits.nproc !== null) row('', `fork-bomb brake: nproc rlimit ${f.limits.nproc}`);
  }
  row(
    'hardening',
    `capabilities ${f.capabilities.length ? f.capabilities.join(' ') : 'none'} (podman's default has 11); ` +
      `no-new-privileges ${f.noNewPrivileges ? 'on' : warn('OFF')}; seccomp ${f.seccomp}`,
  );
  if (r.readOnlyRoot.requested || r.readOnlyRoot.inForce) {
    row('', `read-only root ${r.readOnlyRoot.inForce ? 'in force' : warn('NOT in force')}`);
  }
  for (const d of r.differences) row('differs', warn(d));
  row(
    'agent',
    r.agent.status === 'running'
      ? `running (axo-agent ${r.agent.version}): commands are forked inside the container`
      : warn(`unavailable (${r.agent.reason}): each command is a podman exec`),
  );
  const p = r.provisioning;
  const tools: Record<typeof p.status, string> = {
    present: `all present (${p.tools.join(', ')})`,
    installed: `installed ${p.installed.join(', ')} with ${p.packageManager}`,
    failed: warn(`provisioning failed: ${p.detail ?? ''}`),
    unsupported: warn(`missing ${p.missing.join(', ')}; the image has no apk, apt-get or dnf`),
    skipped: warn(`missing ${p.missing.join(', ')}; not installed: ${p.detail ?? ''}`),
    disabled: `not checked (${p.detail ?? 'off'})`,
  };
  row('dev tools', tools[p.status]);
  if (r.build)
    row('build', `built ${r.build.image} in ${(r.build.durationMs / 1000).toFixed(1)} s (network ${r.build.network})`);
  for (const n of r.build?.notApplied ?? []) row('', warn(`not applied to the build: ${n}`));
  const skipped = r.lifecycle.filter((c) => c.status === 'skipped');
  if (skipped.length > 0) {
    row(
      'lifecycle',
      warn(`skipped ${skipped.length} command(s) from ${devcontainerFile}: not allowed (use --allow-post-create)`),
    );
  }
  for (const c of r.lifecycle.filter((c) => c.status !== 'skipped')) {
    const text = `${c.stage}: ${c.command}`;
    row(
      'lifecycle',
      c.status === 'ok'
        ? `ran ${text}`
        : warn(`${c.status}${c.exitCode !== null ? ` (exit ${c.exitCode})` : ''} ${text}`),
    );
  }
  for (const n of notes) row('note', `${devcontainerFile}:${n.line} ${n.key}: ${n.message}`);
  for (const n of notApplied) {
    row('not applied', warn(`${devcontainerFile}${n.line ? `:${n.line}` : ''} ${n.key}: ${n.reason}`));
  }
  lines.push(
    '',
    `  next: ${color.cyan(`axo exec ${r.sessionId} -- <command>`)}   ${color.cyan(`axo shell ${r.sessionId}`)}`,
  );
  return `${lines.join('\n')}\n`;
}

/** `--allow-host` takes names and wildcards, `--allow-cidr` addresses and prefixes (each with an optional port). */
function egressFlags(hosts: readonly string[], cidrs: readonly string[]): string[] | undefined {
  const check = (entry: string, flag: string, ok: (kind: string) => boolean, what: string) => {
    let kind: string;
    try {
      kind = parseEgressEntry(entry).kind;
    } catch (error) {
      throw new InvalidInputError(flag, `${flag} ${(error as Error).message}`);
    }
    if (!ok(kind)) throw new InvalidInputError(flag, `${flag} "${entry}" is not ${what}`);
    return entry;
  };
  const entries = [
    ...hosts.map((h) =>
      check(h, '--allow-host', (k) => k !== 'prefix', 'a host name (use --allow-cidr for addresses)'),
    ),
    ...cidrs.map((c) =>
      check(c, '--allow-cidr', (k) => k === 'prefix', 'an IP address or CIDR (use --allow-host for names)'),
    ),
  ];
  return entries.length > 0 ? entries : undefined;
}
