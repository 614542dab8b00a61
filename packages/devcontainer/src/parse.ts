import { AxoError, shellJoin } from '@axo/podman-args';
import jsonc from 'jsonc-parser';
import { z } from 'zod';

/** Where a repository's devcontainer.json may live, in the order they are tried. */
export const DEVCONTAINER_CANDIDATES = Object.freeze(['.devcontainer/devcontainer.json', '.devcontainer.json']);

/** A key (or value) of devcontainer.json that axo does not act on, and why. */
export interface IgnoredSetting {
  readonly key: string;
  readonly reason: string;
  readonly line: number;
}

/** A post-create command; `name` is set for the object form. */
export interface PostCreateCommand {
  readonly name?: string;
  /** A shell command line (the array form is quoted into one). */
  readonly command: string;
}

/** What the repository asks for. The policy, not the repository, decides what is granted. */
export interface DevcontainerRequest {
  readonly file: string | undefined;
  readonly name?: string;
  readonly image?: string;
  readonly forwardPorts: readonly number[];
  readonly postCreateCommands: readonly PostCreateCommand[];
  readonly containerEnv: Readonly<Record<string, string>>;
  readonly remoteUser?: string;
  readonly workspaceFolder?: string;
  /** Everything present that axo does not act on. Never silently dropped. */
  readonly ignored: readonly IgnoredSetting[];
}

/** devcontainer.json could not be read; `line` and `column` are 1-based. */
export class DevcontainerError extends AxoError {
  readonly file: string | undefined;
  readonly line: number;
  readonly column: number;

  constructor(file: string | undefined, line: number, column: number, message: string) {
    super('INVALID_INPUT', `${file ?? 'devcontainer.json'}:${line}:${column}: ${message}`, {
      hint: 'Fix the file, or move it aside to start without it.',
    });
    this.name = 'DevcontainerError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

const REFUSED = 'refused: it could undo the sandbox hardening';
const UNSUPPORTED: Record<string, string> = {
  build: 'building images is not supported; name an image instead',
  dockerFile: 'building images is not supported; name an image instead',
  dockerfile: 'building images is not supported; name an image instead',
  context: 'building images is not supported; name an image instead',
  dockerComposeFile: 'Docker Compose is not supported',
  service: 'Docker Compose is not supported',
  runServices: 'Docker Compose is not supported',
  features: 'dev container features are not supported',
  runArgs: REFUSED,
  mounts: REFUSED,
  workspaceMount: REFUSED,
  privileged: REFUSED,
  capAdd: REFUSED,
  securityOpt: REFUSED,
  init: 'axo always runs an init process',
  initializeCommand: 'only postCreateCommand is supported (this would run on the host)',
  onCreateCommand: 'only postCreateCommand is supported',
  updateContentCommand: 'only postCreateCommand is supported',
  postStartCommand: 'only postCreateCommand is supported',
  postAttachCommand: 'only postCreateCommand is supported',
  waitFor: 'only postCreateCommand is supported',
  appPort: 'use forwardPorts',
  portsAttributes: 'port attributes are not supported',
  otherPortsAttributes: 'port attributes are not supported',
  remoteEnv: 'use containerEnv',
  containerUser: 'use remoteUser',
  customizations: 'editor-specific settings are not used by axo',
  overrideCommand: 'axo always keeps its own container command',
  shutdownAction: 'sessions end with `axo down`',
  hostRequirements: 'host requirements are not checked',
  userEnvProbe: 'not supported',
  updateRemoteUserUID: 'not supported',
};

const portEntry = z.union([z.number().int().min(1).max(65535), z.string().min(1)]);
const commandValue = z.union([z.string().min(1), z.array(z.string()).min(1)]);
const known = {
  $schema: z.string(),
  name: z.string(),
  image: z.string().min(1, 'must not be empty'),
  forwardPorts: z.array(portEntry),
  postCreateCommand: z.union([commandValue, z.record(z.string(), commandValue)]),
  containerEnv: z.record(z.string(), z.string()),
  remoteUser: z.string().min(1),
  workspaceFolder: z.string().min(1),
} as const;

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

const asCommand = (value: string | string[]) => (typeof value === 'string' ? value : shellJoin(value));

/** Parses devcontainer.json text (JSONC: comments and trailing commas allowed). */
export function parseDevcontainer(text: string, options: { readonly file?: string } = {}): DevcontainerRequest {
  const { file } = options;
  const errors: jsonc.ParseError[] = [];
  const root = jsonc.parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const firstError = errors[0];
  if (firstError) {
    const { line, column } = position(text, firstError.offset);
    throw new DevcontainerError(file, line, column, `invalid JSON (${jsonc.printParseErrorCode(firstError.error)})`);
  }
  if (root?.type !== 'object') {
    const { line, column } = position(text, root?.offset ?? 0);
    throw new DevcontainerError(file, line, column, 'the top level must be an object');
  }

  const ignored: IgnoredSetting[] = [];
  const values: Record<string, unknown> = {};
  for (const property of root.children ?? []) {
    const [keyNode, valueNode] = property.children ?? [];
    if (!keyNode || !valueNode) continue;
    const key = String(keyNode.value);
    const where = position(text, keyNode.offset);
    if (!(key in known)) {
      ignored.push({ key, reason: UNSUPPORTED[key] ?? 'unknown key', line: where.line });
      continue;
    }
    const value = jsonc.getNodeValue(valueNode);
    const parsed = known[key as keyof typeof known].safeParse(value);
    if (!parsed.success) {
      const at = position(text, valueNode.offset);
      const detail = parsed.error.issues[0]?.message ?? 'has the wrong type';
      throw new DevcontainerError(
        file,
        at.line,
        at.column,
        `"${key}" ${detail.startsWith('Invalid') ? `is invalid: ${detail}` : detail}`,
      );
    }
    values[key] = parsed.data;
  }

  const forwardPorts: number[] = [];
  const portLine = () => position(text, jsonc.findNodeAtLocation(root, ['forwardPorts'])?.offset ?? 0).line;
  for (const entry of (values.forwardPorts as Array<number | string> | undefined) ?? []) {
    if (typeof entry === 'number') {
      forwardPorts.push(entry);
      continue;
    }
    const match = /^(?:(localhost|127\.0\.0\.1|0\.0\.0\.0):)?(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : Number.NaN;
    if (match && port >= 1 && port <= 65535) forwardPorts.push(port);
    else {
      ignored.push({
        key: `forwardPorts: ${JSON.stringify(entry)}`,
        reason: 'only ports of the session container itself can be forwarded',
        line: portLine(),
      });
    }
  }

  const post = values.postCreateCommand as string | string[] | Record<string, string | string[]> | undefined;
  const postCreateCommands: PostCreateCommand[] =
    post === undefined
      ? []
      : typeof post === 'string' || Array.isArray(post)
        ? [{ command: asCommand(post) }]
        : Object.entries(post).map(([name, value]) => ({ name, command: asCommand(value) }));

  return {
    file,
    ...(values.name !== undefined && { name: values.name as string }),
    ...(values.image !== undefined && { image: values.image as string }),
    forwardPorts: [...new Set(forwardPorts)],
    postCreateCommands,
    containerEnv: (values.containerEnv as Record<string, string> | undefined) ?? {},
    ...(values.remoteUser !== undefined && { remoteUser: values.remoteUser as string }),
    ...(values.workspaceFolder !== undefined && { workspaceFolder: values.workspaceFolder as string }),
    ignored,
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
