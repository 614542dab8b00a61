// The image build a repository asks for: `build`, or the legacy top-level `dockerFile`/`context`.
import type jsonc from 'jsonc-parser';
import { z } from 'zod';
import { lineOf, nodeAt, type ParseContext } from './read-value';
import type { BuildRequest } from './types';

/** Why settings that could loosen the sandbox are not applied (here and in parse.ts). */
export const REFUSED = 'refused: it could undo the sandbox hardening';
const path = z.string().min(1, 'must not be empty');

/** The top-level `dockerFile` and `context` (the form before `build` existed). */
export const legacyPathSchema = path;

/** The `build` object; its unknown keys are reported, not refused. */
export const buildSchema = z.object(
  {
    dockerfile: path.optional(),
    context: path.optional(),
    args: z.record(z.string(), z.string({ error: 'must be a string' })).optional(),
    target: path.optional(),
    options: z.array(z.string()).optional(),
    cacheFrom: z.union([z.string(), z.array(z.string())]).optional(),
  },
  { error: 'must be an object' },
);

type BuildValue = z.output<typeof buildSchema>;

/** `build` keys that are read but not acted on, and why. */
const NOT_USED = new Map<string, string>([
  ['options', REFUSED],
  ['cacheFrom', 'build caches are not used'],
]);

/** A value read from the file, with the node it came from. */
export interface Located<T> {
  readonly value: T;
  readonly keyNode: jsonc.Node;
  readonly valueNode: jsonc.Node;
}

/** The directory of devcontainer.json in the repository, with `/` as in DEVCONTAINER_CANDIDATES. */
function configDirOf(file: string | undefined): string {
  const slash = file?.lastIndexOf('/') ?? -1;
  return file && slash > 0 ? file.slice(0, slash) : '.';
}

/**
 * Puts `build`, `dockerFile` and `context` together as the Dev Containers CLI does: the
 * top-level `dockerFile` wins over `build.dockerfile` and brings the top-level `context`
 * with it; `args` and `target` come from `build` either way. What is not used is reported.
 */
export function readBuild(
  ctx: ParseContext,
  build: Located<BuildValue> | undefined,
  dockerFile: Located<string> | undefined,
  context: Located<string> | undefined,
): BuildRequest | undefined {
  const b = build?.value;
  const ignore = (key: string, reason: string, node: jsonc.Node) =>
    ctx.ignored.push({ key, reason, line: lineOf(ctx, node) });

  if (build && b) {
    for (const key of Object.keys(b)) {
      const node = nodeAt(build.valueNode, [key]);
      const reason = NOT_USED.get(key);
      if (reason) ignore(`build.${key}`, reason, node);
      else if (!Object.hasOwn(buildSchema.shape, key)) ignore(`build.${key}`, 'unknown key', node);
    }
    if (dockerFile && b.dockerfile !== undefined) {
      const reason = 'not used: the top-level "dockerFile" wins, as in the Dev Containers CLI';
      ignore('build.dockerfile', reason, nodeAt(build.valueNode, ['dockerfile']));
    }
    if (dockerFile && b.context !== undefined) {
      const reason = 'not used: with the top-level "dockerFile", the top-level "context" is used';
      ignore('build.context', reason, nodeAt(build.valueNode, ['context']));
    }
  }
  if (context && !dockerFile) {
    ignore('context', 'only used with the top-level "dockerFile"; use "build.context"', context.keyNode);
  }

  const dockerfile = dockerFile?.value ?? b?.dockerfile;
  if (dockerfile === undefined) {
    if (build) ignore('build', 'no "dockerfile" given, so there is nothing to build', build.keyNode);
    return undefined;
  }
  const named = dockerFile?.keyNode ?? (build && nodeAt(build.valueNode, ['dockerfile']));
  return {
    configDir: configDirOf(ctx.file),
    dockerfile,
    context: (dockerFile ? context?.value : b?.context) ?? '.',
    args: b?.args ?? Object.create(null),
    ...(b?.target !== undefined && { target: b.target }),
    line: named ? lineOf(ctx, named) : 1,
  };
}
