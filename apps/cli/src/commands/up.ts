import { readDevcontainer } from '@axo/devcontainer/fs';
import { type HardeningReport, SessionSandbox } from '@axo/runtime';
import { loadSettings } from '../config';
import { realDirectory, sessionIdFor } from '../session';
import { color, spinner } from '../ui';

export interface UpOptions {
  readonly id?: string;
  readonly image?: string;
  readonly port: readonly number[];
  readonly network?: 'bridge' | 'none';
  readonly allowPostCreate?: boolean;
  readonly allowUntrustedImage?: boolean;
  readonly requireLimits?: boolean;
  readonly strict?: boolean;
  readonly readOnly?: boolean;
  readonly reattach?: boolean;
  readonly provision: boolean;
  readonly agent: boolean;
  readonly user?: string;
  readonly json?: boolean;
}

/** `axo up [dir]`: starts (or reattaches to) the session of a directory. */
export async function up(dirArg: string | undefined, o: UpOptions): Promise<number> {
  const dir = await realDirectory(dirArg ?? process.cwd());
  const request = await readDevcontainer(dir);
  const settings = await loadSettings({
    image: o.image,
    network: o.network,
    allowPostCreate: o.allowPostCreate,
    allowUntrustedImage: o.allowUntrustedImage,
    requireLimits: o.requireLimits,
    strict: o.strict,
    readOnlyRoot: o.readOnly,
  });
  const sessionId = o.id ?? sessionIdFor(dir);
  const progress = spinner(`starting session ${sessionId}`);
  let sandbox: SessionSandbox;
  try {
    sandbox = await SessionSandbox.start({
      sessionId,
      owner: settings.owner,
      workdir: dir,
      image: settings.requestedImage ?? request?.image,
      ports: [...new Set([...o.port, ...(request?.forwardPorts ?? [])])],
      env: { ...request?.containerEnv },
      postCreate: request?.postCreateCommands.map((c) => c.command) ?? [],
      policy: settings.policy,
      reattach: o.reattach ?? false,
      provision: o.provision ? undefined : false,
      agent: o.agent,
      ...(o.user !== undefined && { user: o.user }),
      logger: { info: (m) => progress.update(m), warn: () => {} },
    });
  } finally {
    progress.stop();
  }
  const report = sandbox.report as HardeningReport;
  const notApplied = [
    ...(request?.ignored ?? []).map((i) => ({ key: i.key, reason: i.reason, line: i.line })),
    ...(request?.remoteUser
      ? [{ key: 'remoteUser', reason: 'commands run as the image user (use --user on exec)' }]
      : []),
    ...(request?.workspaceFolder && request.workspaceFolder !== dir
      ? [{ key: 'workspaceFolder', reason: `axo mounts the workdir at its host path (${dir})` }]
      : []),
  ];
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ sessionId, container: sandbox.container, report, devcontainer: request ? { file: request.file, notApplied } : null }, null, 2)}\n`,
    );
    return 0;
  }
  process.stdout.write(describeReport(report, request?.file, notApplied));
  return 0;
}

const yes = (s: string) => color.green(s);
const warn = (s: string) => color.yellow(s);

/** The hardening report in plain words. */
export function describeReport(
  r: HardeningReport,
  devcontainerFile: string | undefined,
  notApplied: readonly { key: string; reason: string; line?: number }[],
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
  row('network', r.network === 'none' ? 'none (no network, no ports)' : 'bridge');
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
  const skipped = r.postCreate.filter((c) => c.status === 'skipped');
  if (skipped.length > 0) {
    row(
      'post-create',
      warn(`skipped ${skipped.length} command(s) from ${devcontainerFile}: not allowed (use --allow-post-create)`),
    );
  }
  for (const c of r.postCreate.filter((c) => c.status !== 'skipped')) {
    row(
      'post-create',
      c.status === 'ok' ? `ran: ${c.command}` : warn(`${c.status} (exit ${c.exitCode}): ${c.command}`),
    );
  }
  for (const n of notApplied) {
    row('not applied', warn(`${devcontainerFile}${n.line ? `:${n.line}` : ''} ${n.key}: ${n.reason}`));
  }
  lines.push(
    '',
    `  next: ${color.cyan(`axo exec ${r.sessionId} -- <command>`)}   ${color.cyan(`axo shell ${r.sessionId}`)}`,
  );
  return `${lines.join('\n')}\n`;
}
