// devcontainer.json's lifecycle commands, run at their moments: onCreate, updateContent,
// postCreate and postStart when the container is made; postAttach whenever a session is
// started or reattached. They are the repository's code, so one policy gate
// (allowPostCreate) decides them all.
import { shellJoin } from '@axo/podman-args';
import { z } from 'zod';
import type { ExecOptions, ExecResult } from './exec';

/** The stages, in the order the Dev Containers spec runs them. */
export const LIFECYCLE_STAGES = Object.freeze([
  'onCreate',
  'updateContent',
  'postCreate',
  'postStart',
  'postAttach',
] as const);
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];

/** A command: a shell line (`sh -c`), or an exec-form argv (no shell). `name` for the object form. */
export const lifecycleCommandSchema = z.union([
  z.string().min(1),
  z.strictObject({ name: z.string().optional(), command: z.string().min(1) }),
  z.strictObject({ name: z.string().optional(), argv: z.array(z.string()).min(1) }),
]);
export type LifecycleCommand = z.input<typeof lifecycleCommandSchema>;

/**
 * Commands per stage. Named commands (devcontainer.json's object form) of one stage run
 * at the same time; the others one after another.
 */
export const lifecycleSchema = z.strictObject({
  onCreate: z.array(lifecycleCommandSchema).default([]),
  updateContent: z.array(lifecycleCommandSchema).default([]),
  postCreate: z.array(lifecycleCommandSchema).default([]),
  postStart: z.array(lifecycleCommandSchema).default([]),
  postAttach: z.array(lifecycleCommandSchema).default([]),
});
export type LifecycleCommands = z.input<typeof lifecycleSchema>;

/** One lifecycle command and how it went. */
export interface LifecycleOutcome {
  readonly stage: LifecycleStage;
  readonly name?: string;
  /** The command as a shell line (argv forms are quoted for display). */
  readonly command: string;
  /**
   * `skipped`: the policy does not allow it; `not-run`: an earlier command failed (the spec
   * stops there); otherwise how it ran.
   */
  readonly status: 'skipped' | 'not-run' | 'ok' | 'failed' | 'timed-out';
  readonly exitCode: number | null;
}

type Command = z.output<typeof lifecycleCommandSchema>;
const argvOf = (c: Command) =>
  typeof c === 'string' ? ['sh', '-c', c] : 'argv' in c ? c.argv : ['sh', '-c', c.command];
const shown = (c: Command) => (typeof c === 'string' ? c : 'argv' in c ? shellJoin(c.argv) : c.command);
const nameOf = (c: Command) => (typeof c === 'string' ? undefined : c.name);

export interface RunLifecycleOptions {
  readonly allowed: boolean;
  readonly exec: (argv: readonly string[], options: ExecOptions) => Promise<ExecResult>;
  readonly timeoutMs: number;
  readonly warn: (message: string) => void;
  readonly info: (message: string) => void;
}

/** Runs `stages` of `commands` in order, stopping at the first failure as the spec does. */
export async function runLifecycle(
  stages: readonly LifecycleStage[],
  commands: z.output<typeof lifecycleSchema>,
  o: RunLifecycleOptions,
): Promise<LifecycleOutcome[]> {
  const outcomes: LifecycleOutcome[] = [];
  const planned = stages.flatMap((stage) => commands[stage].map((c) => ({ stage, c })));
  if (planned.length === 0) return outcomes;
  if (!o.allowed) {
    o.warn(
      `skipped ${planned.length} lifecycle command(s) from the repository (${[...new Set(planned.map((p) => p.stage))].join(', ')}): ` +
        'they are not run automatically. Set allowPostCreate in the policy (axo up --allow-post-create) to run them.',
    );
    return planned.map(({ stage, c }) => ({
      stage,
      ...(nameOf(c) && { name: nameOf(c) }),
      command: shown(c),
      status: 'skipped',
      exitCode: null,
    }));
  }
  let failed = false;
  const runOne = async (stage: LifecycleStage, c: Command): Promise<LifecycleOutcome> => {
    const base = { stage, ...(nameOf(c) && { name: nameOf(c) }), command: shown(c) };
    if (failed) return { ...base, status: 'not-run', exitCode: null };
    o.info(`running ${stage} command: ${base.command}`);
    const r = await o.exec(argvOf(c), { timeoutMs: o.timeoutMs });
    const status = r.timedOut ? 'timed-out' : r.exitCode === 0 ? 'ok' : 'failed';
    if (status !== 'ok') {
      const said = r.stderr.trim() ? `: ${r.stderr.trim().slice(-500)}` : '';
      o.warn(
        `${stage} command ${status === 'timed-out' ? 'timed out' : `failed (exit ${r.exitCode})`}: ${base.command}${said}`,
      );
    }
    return { ...base, status, exitCode: r.exitCode };
  };
  for (const stage of stages) {
    const list = commands[stage];
    // The object form (all named) runs in parallel; anything else in order.
    if (list.length > 1 && list.every((c) => nameOf(c) !== undefined)) {
      const results = await Promise.all(list.map((c) => runOne(stage, c)));
      outcomes.push(...results);
      if (results.some((r) => r.status !== 'ok' && r.status !== 'not-run')) failed = true;
    } else {
      for (const c of list) {
        const r = await runOne(stage, c);
        outcomes.push(r);
        if (r.status !== 'ok' && r.status !== 'not-run') failed = true;
      }
    }
  }
  return outcomes;
}
