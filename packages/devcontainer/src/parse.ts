import { shellJoin } from '@axo/podman-args';
import jsonc from 'jsonc-parser';
import { z } from 'zod';
import { buildSchema, type Located, legacyPathSchema, REFUSED, readBuild } from './build';
import { DevcontainerError } from './error';
import { LIFECYCLE_KEYS, readLifecycle, waitForSchema } from './lifecycle';
import { checkNesting, exceedsByteLimit, tooLargeError } from './limits';
import { createLineIndex } from './line-index';
import { readForwardPorts } from './ports';
import { lineOf, type ParseContext, propertiesOf, readValue } from './read-value';
import type { DevcontainerRequest, LifecycleCommand, LifecycleCommands } from './types';

export { DevcontainerError } from './error';

/** Where a repository's devcontainer.json may live, in the order they are tried. */
export const DEVCONTAINER_CANDIDATES = Object.freeze(['.devcontainer/devcontainer.json', '.devcontainer.json']);

const COMPOSE = 'Docker Compose is not supported';
/** Keys that are reported in `ignored`, and why. A Map: a key such as `toString` must not find Object.prototype. */
const NOT_READ = new Map<string, string>([
  ['initializeCommand', 'never run: it would run on the host'],
  ['dockerComposeFile', COMPOSE],
  ['service', COMPOSE],
  ['runServices', COMPOSE],
  ['features', 'dev container features are not supported'],
  ['runArgs', REFUSED],
  ['mounts', REFUSED],
  ['workspaceMount', REFUSED],
  ['privileged', REFUSED],
  ['capAdd', REFUSED],
  ['securityOpt', REFUSED],
  ['init', 'axo always runs an init process'],
  ['appPort', 'use forwardPorts'],
  ['portsAttributes', 'port attributes are not supported'],
  ['otherPortsAttributes', 'port attributes are not supported'],
  ['customizations', 'editor-specific settings are not used by axo'],
  ['overrideCommand', 'axo always keeps its own container command'],
  ['shutdownAction', 'sessions end with `axo down`'],
  ['hostRequirements', 'host requirements are not checked'],
  ['userEnvProbe', 'not supported'],
  ['updateRemoteUserUID', 'not supported'],
  ['dockerfile', 'unknown key: the Dev Containers keys are "build.dockerfile" and "dockerFile"'],
]);

const nonEmpty = z.string().min(1, 'must not be empty');
/**
 * Keys read into the request as they are, each checked by its schema. forwardPorts and the
 * lifecycle keys have readers of their own.
 */
const READ = new Map<string, z.ZodType>([
  ['$schema', z.string()],
  ['name', z.string()],
  ['image', nonEmpty],
  ['containerEnv', z.record(z.string(), z.string({ error: 'must be a string' }))],
  ['remoteEnv', z.record(z.string(), z.string({ error: 'must be a string or null' }).nullable())],
  ['containerUser', nonEmpty],
  ['remoteUser', nonEmpty],
  ['workspaceFolder', nonEmpty],
  ['waitFor', waitForSchema],
  ['build', buildSchema],
  ['dockerFile', legacyPathSchema],
  ['context', legacyPathSchema],
]);

const BOM = '\uFEFF';

function parseTree(ctx: ParseContext, text: string): jsonc.Node {
  const errors: jsonc.ParseError[] = [];
  let root: jsonc.Node | undefined;
  try {
    root = jsonc.parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  } catch (error) {
    // checkNesting bounds the recursion; this is the backstop should anything else overflow.
    if (!(error instanceof RangeError)) throw error;
    throw new DevcontainerError(ctx.file, 1, 1, 'too deeply nested to read', { cause: error });
  }
  const firstError = errors[0];
  if (firstError) {
    const { line, column } = ctx.at(firstError.offset);
    throw new DevcontainerError(
      ctx.file,
      line,
      column,
      `invalid JSON (${jsonc.printParseErrorCode(firstError.error)})`,
    );
  }
  if (root?.type !== 'object') {
    const { line, column } = ctx.at(root?.offset ?? 0);
    throw new DevcontainerError(ctx.file, line, column, 'the top level must be an object');
  }
  return root;
}

/**
 * Parses devcontainer.json text (JSONC: comments, trailing commas and a UTF-8 byte order
 * mark allowed) into what the repository asks for. Throws DevcontainerError, with a line
 * and column, for a file that is malformed, over MAX_DEVCONTAINER_BYTES, nested deeper than
 * MAX_DEVCONTAINER_DEPTH, or holding a value of the wrong type.
 */
export function parseDevcontainer(text: string, options: { readonly file?: string } = {}): DevcontainerRequest {
  const { file } = options;
  // Refused before any other work: a hostile repository must not make a server parse megabytes.
  if (exceedsByteLimit(text)) throw tooLargeError(file);
  // The Dev Containers CLI accepts a byte order mark; jsonc-parser does not.
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  const ctx: ParseContext = { file, at: createLineIndex(body), notes: [], ignored: [] };
  checkNesting(body, file, ctx.at);
  const root = parseTree(ctx, body);

  const lines: Record<string, number> = Object.create(null);
  const values = new Map<string, Located<unknown>>();
  const lifecycle: Record<keyof LifecycleCommands, LifecycleCommand[]> = {
    onCreate: [],
    updateContent: [],
    postCreate: [],
    postStart: [],
    postAttach: [],
  };
  let forwardPorts: number[] = [];
  for (const [key, [keyNode, valueNode]] of propertiesOf(ctx, root, [])) {
    const line = lineOf(ctx, keyNode);
    lines[key] = line;
    const schema = READ.get(key);
    if (schema) values.set(key, { value: readValue(ctx, key, valueNode, schema), keyNode, valueNode });
    else if (key === 'forwardPorts') forwardPorts = readForwardPorts(ctx, valueNode);
    else if (Object.hasOwn(LIFECYCLE_KEYS, key))
      lifecycle[LIFECYCLE_KEYS[key as keyof typeof LIFECYCLE_KEYS]] = readLifecycle(ctx, key, valueNode);
    else ctx.ignored.push({ key, reason: NOT_READ.get(key) ?? 'unknown key', line });
  }

  const value = <T>(key: string) => values.get(key)?.value as T | undefined;
  const build = readBuild(
    ctx,
    values.get('build') as Located<z.output<typeof buildSchema>> | undefined,
    values.get('dockerFile') as Located<string> | undefined,
    values.get('context') as Located<string> | undefined,
  );
  const image = value<string>('image');
  if (image !== undefined && build) {
    ctx.notes.push({
      key: 'image',
      message: 'both an image and a Dockerfile are given; they are alternatives, and both are reported',
      line: lines.image as number,
    });
  }
  const name = value<string>('name');
  const waitFor = value<DevcontainerRequest['waitFor']>('waitFor');
  const containerUser = value<string>('containerUser');
  const remoteUser = value<string>('remoteUser');
  const workspaceFolder = value<string>('workspaceFolder');

  return {
    file,
    ...(name !== undefined && { name }),
    ...(image !== undefined && { image }),
    ...(build && { build }),
    forwardPorts,
    lifecycle,
    ...(waitFor !== undefined && { waitFor }),
    postCreateCommands: lifecycle.postCreate.map((c) => ({
      ...(c.name !== undefined && { name: c.name }),
      command: c.argv ? shellJoin(c.argv) : c.command,
    })),
    containerEnv: value<Record<string, string>>('containerEnv') ?? Object.create(null),
    remoteEnv: value<Record<string, string | null>>('remoteEnv') ?? Object.create(null),
    ...(containerUser !== undefined && { containerUser }),
    ...(remoteUser !== undefined && { remoteUser }),
    ...(workspaceFolder !== undefined && { workspaceFolder }),
    lines,
    notes: ctx.notes.sort((a, b) => a.line - b.line),
    ignored: ctx.ignored.sort((a, b) => a.line - b.line),
  };
}

/**
 * Finds and parses a repository's devcontainer.json. `read` returns a candidate file's
 * text (a path relative to the repository), or undefined when it does not exist; this
 * package does no I/O itself.
 */
export async function findDevcontainer(
  read: (relativePath: string) => Promise<string | undefined>,
): Promise<DevcontainerRequest | undefined> {
  for (const candidate of DEVCONTAINER_CANDIDATES) {
    const text = await read(candidate);
    if (text !== undefined) return parseDevcontainer(text, { file: candidate });
  }
  return undefined;
}
