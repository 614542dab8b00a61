// File requests to a session's agent (packages/agent/README.md, "Files"), one connection
// each. Part of the light entry: no zod here (SandboxFiles validates options before it
// calls in), and every agent message was already checked by protocol.ts.
import type { Readable } from 'node:stream';
import type { AgentClient } from './client';
import { agentFailed } from './connection';
import { entryOf, firstAnswer, guard, openFor, unary, unexpected, withUser } from './file-requests';
import { type FileWriteSource, readStream, sendWrite } from './file-streams';
import { FileWatch } from './file-watch';
import { type FileEntry, FrameKind } from './protocol';

export type { FileWriteSource } from './file-streams';

/** Most entries one listing may hold (the agent's own cap). */
export const MAX_LIST_ENTRIES = 100_000;

export interface FileUserOptions {
  /** Act as this user (`name`, `uid`, `uid:gid`). @default the session's user */
  readonly user?: string;
}
export interface FileStatOptions extends FileUserOptions {
  /** Describe what a link points to instead of the link. @default false */
  readonly follow?: boolean;
}
export interface FileListOptions extends FileUserOptions {
  /** Levels to descend, 1–32 (1: the directory's own entries). @default 1 */
  readonly depth?: number;
}
export interface FileMkdirOptions extends FileUserOptions {
  /** Create missing parents; an existing directory is then fine. @default false */
  readonly parents?: boolean;
  /** Permission bits. @default 0o755 */
  readonly mode?: number;
}
export interface FileRemoveOptions extends FileUserOptions {
  /** Remove a directory with everything in it. @default false */
  readonly recursive?: boolean;
}
export interface FileReadOptions extends FileUserOptions {
  /** First byte to read. @default 0 */
  readonly offset?: number;
  /** Bytes to read at most. @default to the end */
  readonly length?: number;
  /** Aborting ends the read; the stream fails with the signal's reason. */
  readonly signal?: AbortSignal;
}
export interface FileWriteOptions extends FileUserOptions {
  /** Permission bits of the file. @default the replaced file's, else 0o644 less the umask */
  readonly mode?: number;
  /** Create missing parent directories. @default false */
  readonly parents?: boolean;
  /** Refuse (TOO_LARGE) once the data passes this many bytes; the earlier file stays. */
  readonly maxBytes?: number;
  /** Aborting ends the write without touching the file. */
  readonly signal?: AbortSignal;
}
export interface FileWatchOptions extends FileUserOptions {
  /** Watch subdirectories too, also those created later. @default false */
  readonly recursive?: boolean;
}

/** A directory listing. */
export interface FileList {
  readonly entries: FileEntry[];
  /** True when the listing stopped at 100 000 entries. */
  readonly truncated: boolean;
}

/** A read in progress: what the file is, and its bytes as a stream. */
export interface FileRead {
  readonly entry: FileEntry;
  /** The bytes, at the reader's pace. Destroying it stops the read inside the container. */
  readonly stream: Readable;
}

/**
 * File operations on one session, through its agent. Cheap to create; each call opens its
 * own connection. `SandboxFiles` (`sandbox.files`) is the validated, documented front; this
 * is what the CLI uses directly, since it loads no zod.
 */
export class AgentFiles {
  readonly client: AgentClient;
  readonly #timeoutMs: number;

  /** `timeoutMs` bounds the wait for each answer (not a stream's pace). @default 120000 */
  constructor(client: AgentClient, options: { readonly timeoutMs?: number } = {}) {
    this.client = client;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
  }

  /** Describes `path` (a link itself, unless `follow`). */
  async stat(path: string, o: FileStatOptions = {}): Promise<FileEntry> {
    return this.#entry('stat', path, { type: 'fs.stat', path, follow: o.follow === true, ...withUser(o) });
  }

  /** Lists a directory, `depth` levels deep; links are listed, never followed. */
  async list(path: string, o: FileListOptions = {}): Promise<FileList> {
    const conn = await openFor(this.client, 'files');
    const entries: FileEntry[] = [];
    try {
      const truncated = await new Promise<boolean>((resolve, reject) => {
        const fail = guard(conn, 'list', path, this.#timeoutMs, reject);
        conn.onFrame((frame) => {
          fail.alive();
          const m = frame.kind === FrameKind.msg ? frame.message : undefined;
          if (m?.type === 'entries') {
            if (entries.length + m.entries.length > MAX_LIST_ENTRIES) {
              fail(agentFailed(conn.endpoint, `listed more than ${MAX_LIST_ENTRIES} entries`));
              return;
            }
            for (const e of m.entries) entries.push(e);
          } else if (m?.type === 'end' && 'truncated' in m) {
            fail.done();
            resolve(m.truncated);
          } else fail(unexpected(conn, 'list', path, frame, m));
        });
        conn.request({ type: 'fs.list', path, depth: o.depth ?? 1, ...withUser(o) });
      });
      return { entries, truncated };
    } finally {
      conn.destroy();
    }
  }

  /** Creates a directory; resolves with its entry. */
  async mkdir(path: string, o: FileMkdirOptions = {}): Promise<FileEntry> {
    return this.#entry('create directory', path, {
      type: 'fs.mkdir',
      path,
      parents: o.parents === true,
      ...(o.mode !== undefined && { mode: o.mode }),
      ...withUser(o),
    });
  }

  /** Removes a file, link or directory (a non-empty one only with `recursive`); never follows a link. */
  async remove(path: string, o: FileRemoveOptions = {}): Promise<void> {
    const request = { type: 'fs.remove', path, recursive: o.recursive === true, ...withUser(o) };
    const m = await unary(this.client, 'remove', path, request, this.#timeoutMs);
    if (m.type !== 'ok') throw agentFailed(this.client.endpoint, `answered the remove of ${path} with "${m.type}"`);
  }

  /** Renames `from` to `to` (rename(2): CROSS_DEVICE across file systems); resolves with `to`'s entry. */
  async move(from: string, to: string, o: FileUserOptions = {}): Promise<FileEntry> {
    return this.#entry('move', from, { type: 'fs.move', from, to, ...withUser(o) });
  }

  /** Creates a link at `path` holding `target` (never resolved here); resolves with the link's entry. */
  async symlink(path: string, target: string, o: FileUserOptions = {}): Promise<FileEntry> {
    return this.#entry('create link', path, { type: 'fs.symlink', path, target, ...withUser(o) });
  }

  /**
   * Reads a regular file as a stream. Resolves once the agent opened it (a FIFO, device or
   * socket is refused at once, a directory is IS_DIR); the stream then carries its bytes at
   * the consumer's pace and fails if fewer arrive than the agent said it sent.
   */
  async read(path: string, o: FileReadOptions = {}): Promise<FileRead> {
    o.signal?.throwIfAborted();
    const conn = await openFor(this.client, 'files');
    const request = { type: 'fs.read', path, offset: o.offset ?? 0, length: o.length ?? -1, ...withUser(o) };
    try {
      const first = await firstAnswer(conn, 'read', path, request, 'entry', this.#timeoutMs, o.signal);
      return { entry: entryOf(conn, first, 'read'), stream: readStream(conn, path, o.signal) };
    } catch (error) {
      conn.destroy();
      throw error;
    }
  }

  /**
   * Replaces `path` atomically with `data`: the agent writes a temporary file and renames it
   * over the target only after the last byte, so readers see the old file or the new one.
   * If `data` fails or `signal` aborts, the connection is closed before the final frame and
   * the agent discards what it had; the target is untouched.
   */
  async write(path: string, data: FileWriteSource, o: FileWriteOptions = {}): Promise<FileEntry> {
    o.signal?.throwIfAborted();
    const conn = await openFor(this.client, 'files');
    const request = {
      type: 'fs.write',
      path,
      parents: o.parents === true,
      ...(o.mode !== undefined && { mode: o.mode }),
      ...(o.maxBytes !== undefined && { maxBytes: o.maxBytes }),
      ...withUser(o),
    };
    try {
      await firstAnswer(conn, 'write', path, request, 'ready', this.#timeoutMs, o.signal);
    } catch (error) {
      conn.destroy();
      throw error;
    }
    return sendWrite(conn, path, data, o.signal);
  }

  /**
   * Watches `path` (a directory, or a file's changes) until `close()`. Events queue up to a
   * bound; past it the connection pauses, and the agent reports `overflow` for what the
   * kernel then had to drop.
   */
  async watch(path: string, o: FileWatchOptions = {}): Promise<FileWatch> {
    const conn = await openFor(this.client, 'watch');
    const request = { type: 'fs.watch', path, recursive: o.recursive === true, ...withUser(o) };
    try {
      await firstAnswer(conn, 'watch', path, request, 'watching', this.#timeoutMs);
    } catch (error) {
      conn.destroy();
      throw error;
    }
    return new FileWatch(conn, path);
  }

  async #entry(op: string, path: string, request: { readonly type: string } & Record<string, unknown>) {
    return entryOf(this.client, await unary(this.client, op, path, request, this.#timeoutMs), op);
  }
}
