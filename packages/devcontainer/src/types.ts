/** A key (or value) of devcontainer.json that axo does not act on, and why. */
export interface IgnoredSetting {
  /** The top-level key, a dotted sub-key (`build.options`), or `key: value` for one entry. */
  readonly key: string;
  readonly reason: string;
  readonly line: number;
}

/** Something axo does act on, but not exactly as written (a port's bind address, a repeated key). */
export interface DevcontainerNote {
  readonly key: string;
  readonly message: string;
  readonly line: number;
}

/**
 * One lifecycle command: `command` is a shell command line (the string form); `argv` is
 * the exec form (an array in the file), to run without a shell — it is kept as given, not
 * quoted into a string. `name` is set for the object form's named commands.
 */
export type LifecycleCommand =
  | { readonly name?: string; readonly command: string; readonly argv?: undefined }
  | { readonly name?: string; readonly argv: readonly string[]; readonly command?: undefined };

/**
 * The lifecycle commands, by stage (`onCreateCommand` → `onCreate`, …). Blank commands
 * (`""`, `[]`, `{}`, or a named entry that is blank) mean nothing to run and give no entry.
 * `initializeCommand` is not here: it would run on the host, so it is only reported.
 */
export interface LifecycleCommands {
  readonly onCreate: readonly LifecycleCommand[];
  readonly updateContent: readonly LifecycleCommand[];
  readonly postCreate: readonly LifecycleCommand[];
  readonly postStart: readonly LifecycleCommand[];
  readonly postAttach: readonly LifecycleCommand[];
}

/** The values `waitFor` may name. */
export type LifecycleCommandKey =
  | 'initializeCommand'
  | 'onCreateCommand'
  | 'updateContentCommand'
  | 'postCreateCommand'
  | 'postStartCommand'
  | 'postAttachCommand';

/** A post-create command as one shell command line; `name` is set for the object form. */
export interface PostCreateCommand {
  readonly name?: string;
  /** A shell command line (the array form is quoted into one). */
  readonly command: string;
}

/**
 * An image build the repository asks for (`build`, or the legacy top-level `dockerFile` and
 * `context`). Paths are as written, relative to `configDir`; nothing here touched the disk.
 * Resolve them with `resolveBuildPaths` from `@axo/devcontainer/fs`, which keeps them inside
 * the repository.
 */
export interface BuildRequest {
  /** The devcontainer.json's directory relative to the repository: `.devcontainer`, or `.`. */
  readonly configDir: string;
  /** The Dockerfile, relative to `configDir`. */
  readonly dockerfile: string;
  /** The build context, relative to `configDir`. @default '.' */
  readonly context: string;
  /** Build arguments (`--build-arg`), as written: `${localEnv:…}` is not substituted. */
  readonly args: Readonly<Record<string, string>>;
  readonly target?: string;
  /** The line of the key that named the Dockerfile. */
  readonly line: number;
}

/**
 * What the repository asks for. The policy, not the repository, decides what is granted.
 * Values are as written: variables such as `${localEnv:HOME}` are not substituted.
 */
export interface DevcontainerRequest {
  readonly file: string | undefined;
  readonly name?: string;
  readonly image?: string;
  readonly build?: BuildRequest;
  readonly forwardPorts: readonly number[];
  readonly lifecycle: LifecycleCommands;
  /** The stage the Dev Containers tools wait for before connecting, if set. */
  readonly waitFor?: LifecycleCommandKey;
  /** `lifecycle.postCreate` as shell command lines (exec form quoted), as before `lifecycle` existed. */
  readonly postCreateCommands: readonly PostCreateCommand[];
  readonly containerEnv: Readonly<Record<string, string>>;
  /** Environment for the tools' processes; `null` means unset the variable. */
  readonly remoteEnv: Readonly<Record<string, string | null>>;
  readonly containerUser?: string;
  readonly remoteUser?: string;
  readonly workspaceFolder?: string;
  /** The line of every top-level key present (the last one when a key is repeated). */
  readonly lines: Readonly<Record<string, number>>;
  /** What is acted on, but not exactly as written. */
  readonly notes: readonly DevcontainerNote[];
  /**
   * Everything present that is not part of the request above: unsupported, refused, never
   * run, or unknown — each with a reason and a line. Never silently dropped.
   */
  readonly ignored: readonly IgnoredSetting[];
}
