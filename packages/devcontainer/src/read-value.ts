// Turns one JSONC value node into a checked value, with every problem pinned to a line.
import jsonc from 'jsonc-parser';
import type { z } from 'zod';
import { DevcontainerError } from './error';
import type { Position } from './line-index';
import type { DevcontainerNote, IgnoredSetting } from './types';

/** The state one parse shares between the readers of its keys. */
export interface ParseContext {
  readonly file: string | undefined;
  readonly at: (offset: number) => Position;
  readonly notes: DevcontainerNote[];
  readonly ignored: IgnoredSetting[];
}

type Segment = string | number;

/** `containerEnv.A`, `forwardPorts[2]`: how a place in the file is named in messages. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? String(s) : `.${String(s)}`)).join('');
}

/** The line of `node`. */
export const lineOf = (ctx: ParseContext, node: jsonc.Node): number => ctx.at(node.offset).line;

/** Throws a DevcontainerError at `node`. */
export function failAt(ctx: ParseContext, node: jsonc.Node, message: string): never {
  const { line, column } = ctx.at(node.offset);
  throw new DevcontainerError(ctx.file, line, column, message);
}

/**
 * The properties of an object node, the last one winning for a repeated key as in
 * JSON.parse — but a repeat is noted, because a reviewer reading the first one would not
 * see the value that counts. A `__proto__` key is refused: plain objects and z.record
 * drop it without a word (this package's records have no prototype, but the objects its
 * callers build from them do), and no real file needs one.
 */
export function propertiesOf(
  ctx: ParseContext,
  node: jsonc.Node,
  path: readonly Segment[],
): Map<string, readonly [key: jsonc.Node, value: jsonc.Node]> {
  const found = new Map<string, readonly [jsonc.Node, jsonc.Node]>();
  for (const property of node.children ?? []) {
    const [keyNode, valueNode] = property.children ?? [];
    if (!keyNode || !valueNode) continue;
    const key = String(keyNode.value);
    if (key === '__proto__') failAt(ctx, keyNode, `"${formatPath([...path, key])}": a key named __proto__ is refused`);
    const earlier = found.get(key);
    if (earlier) {
      ctx.notes.push({
        key: formatPath([...path, key]),
        message: `given more than once; the one on line ${lineOf(ctx, keyNode)} is used`,
        line: lineOf(ctx, earlier[0]),
      });
    }
    // Re-inserting keeps the first position in the Map's order, which is file order.
    found.set(key, [keyNode, valueNode]);
  }
  return found;
}

function checkKeys(ctx: ParseContext, node: jsonc.Node, path: Segment[]): void {
  if (node.type === 'object') {
    for (const [key, [, value]] of propertiesOf(ctx, node, path)) checkKeys(ctx, value, [...path, key]);
  } else if (node.type === 'array') {
    (node.children ?? []).forEach((child, i) => {
      checkKeys(ctx, child, [...path, i]);
    });
  }
}

/** The node at `path` below `node` (the last of repeated keys, the one whose value counts). */
export function nodeAt(node: jsonc.Node, path: readonly PropertyKey[]): jsonc.Node {
  let current = node;
  for (const segment of path) {
    const next =
      current.type === 'array'
        ? current.children?.[Number(segment)]
        : current.children?.findLast((p) => p.children?.[0]?.value === segment)?.children?.[1];
    if (!next) break;
    current = next;
  }
  return current;
}

interface Explained {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** The value failed on its type alone: in a union, another branch explains it better. */
  readonly wrongType: boolean;
}

const NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  record: 'an object',
};

/**
 * zod reports a failed union as one "Invalid input" over every branch's issues. The branch
 * that got past the type check (an object of commands with one bad entry, say) tells the
 * user what is wrong, so that one is chosen; otherwise the union's own message stands.
 */
function explain(issue: z.core.$ZodIssue, base: readonly PropertyKey[]): Explained {
  const path = [...base, ...issue.path];
  if (issue.code === 'invalid_union') {
    for (const branch of issue.errors) {
      const first = branch[0];
      const explained = first && explain(first, path);
      if (explained && !explained.wrongType) return explained;
    }
    return { path, message: issue.message, wrongType: issue.path.length === 0 };
  }
  const wrongType = issue.code === 'invalid_type' && issue.path.length === 0;
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
    return { path, message: `must be ${NOUNS[issue.expected] ?? issue.expected}`, wrongType };
  }
  // zod's own wording ("Too small: …") reads as a reason; ours ("must …") as a predicate.
  const ours = /^(must|is|has) /.test(issue.message);
  return { path, message: ours ? issue.message : `is invalid: ${issue.message}`, wrongType };
}

/**
 * Checks the value of top-level `key` against `schema` and returns it. The value is built
 * by jsonc-parser, whose objects have no prototype, and kept as is: zod only checks it (its
 * output, a plain object, is where keys like `__proto__` would vanish).
 */
export function readValue<S extends z.ZodType>(
  ctx: ParseContext,
  key: string,
  node: jsonc.Node,
  schema: S,
): z.output<S> {
  checkKeys(ctx, node, [key]);
  const value: unknown = jsonc.getNodeValue(node);
  const result = schema.safeParse(value);
  if (!result.success) {
    const first = result.error.issues[0];
    const { path, message } = first ? explain(first, []) : { path: [], message: 'is invalid' };
    failAt(ctx, nodeAt(node, path), `"${formatPath([key, ...path])}" ${message}`);
  }
  return value as z.output<S>;
}
