// The lifecycle commands: onCreateCommand … postAttachCommand, in each of their three forms.
import type jsonc from 'jsonc-parser';
import { z } from 'zod';
import { type ParseContext, readValue } from './read-value';
import type { LifecycleCommand, LifecycleCommandKey, LifecycleCommands } from './types';

/** The lifecycle keys this package reads, and the field of LifecycleCommands each fills. */
export const LIFECYCLE_KEYS = Object.freeze({
  onCreateCommand: 'onCreate',
  updateContentCommand: 'updateContent',
  postCreateCommand: 'postCreate',
  postStartCommand: 'postStart',
  postAttachCommand: 'postAttach',
} as const satisfies Record<string, keyof LifecycleCommands>);

const WAIT_FOR = [
  'initializeCommand',
  'onCreateCommand',
  'updateContentCommand',
  'postCreateCommand',
  'postStartCommand',
  'postAttachCommand',
] as const satisfies readonly LifecycleCommandKey[];

/** `waitFor`: the stage the Dev Containers tools wait for. */
export const waitForSchema = z.enum(WAIT_FOR, { error: `must be one of ${WAIT_FOR.join(', ')}` });

const commandSchema = z.union(
  [
    z.string(),
    z
      .array(z.string({ error: 'must be a string' }))
      .refine((argv) => argv.length === 0 || argv[0]?.trim() !== '', 'must name a program first'),
  ],
  { error: 'must be a command string or an array of strings' },
);

const lifecycleSchema = z.union([commandSchema, z.record(z.string(), commandSchema)], {
  error: 'must be a command string, an array of strings, or an object of named commands',
});

type CommandValue = z.output<typeof commandSchema>;

function toCommand(value: CommandValue, name: string | undefined): LifecycleCommand | undefined {
  const named = name === undefined ? {} : { name };
  // Blank means nothing to run: GitHub's codespaces-jupyter template has `"postCreateCommand": ""`.
  if (typeof value === 'string') return value.trim() === '' ? undefined : { ...named, command: value };
  // The exec form stays an argv: quoting it into a shell line would change how it runs.
  return value.length === 0 ? undefined : { ...named, argv: value };
}

/** Reads one lifecycle key's value into its commands (none for a blank one). */
export function readLifecycle(ctx: ParseContext, key: string, node: jsonc.Node): LifecycleCommand[] {
  const value = readValue(ctx, key, node, lifecycleSchema);
  if (typeof value === 'string' || Array.isArray(value))
    return [toCommand(value, undefined)].filter((c) => c !== undefined);
  return Object.entries(value)
    .map(([name, command]) => toCommand(command, name))
    .filter((c) => c !== undefined);
}
