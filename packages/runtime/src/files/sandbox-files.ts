// `sandbox.files`: the session's files through its agent, which performs every lookup and
// open as the requesting user (so links and races can never reach further than that user
// could inside the container). There is no podman-exec fallback on purpose: `podman cp`
// and `podman exec cat` act as root and follow links the container controls.
import type { Readable } from 'node:stream';
import { parseInput } from '@axo/podman-args';
import type { AgentClient } from '../agent/client';
import { FileError } from '../agent/file-error';
import type { FileWatch } from '../agent/file-watch';
import { AgentFiles, type FileList } from '../agent/files-client';
import type { FileEntry } from '../agent/protocol';
import {
  type FileListOptions,
  type FileMkdirOptions,
  type FileReadFileOptions,
  type FileReadOptions,
  type FileRemoveOptions,
  type FileStatOptions,
  type FileUserOptions,
  type FileWatchOptions,
  type FileWriteOptions,
  fileListOptionsSchema,
  fileMkdirOptionsSchema,
  filePathSchema,
  fileReadFileOptionsSchema,
  fileReadOptionsSchema,
  fileRemoveOptionsSchema,
  fileStatOptionsSchema,
  fileUserOptionsSchema,
  fileWatchOptionsSchema,
  fileWriteDataSchema,
  fileWriteOptionsSchema,
} from './options';

const path = (value: unknown, field = 'path'): string => parseInput(filePathSchema, value, field);

/**
 * File operations on a session (`sandbox.files`). Paths are absolute, or relative to the
 * session's cwd; every request acts as the session's user unless `user` says otherwise.
 * Errors are AxoErrors (FileError for the agent's refusals, with its own code in `agentCode`).
 */
export class SandboxFiles {
  readonly #files: AgentFiles;

  /** @internal made by `sandbox.files`. */
  constructor(client: AgentClient) {
    this.#files = new AgentFiles(client);
  }

  /** Describes `path`; a link is described itself unless `follow`. */
  async stat(p: string, options: FileStatOptions = {}): Promise<FileEntry> {
    return this.#files.stat(path(p), parseInput(fileStatOptionsSchema, options, 'stat options'));
  }

  /** Lists a directory `depth` levels deep (at most 100 000 entries; then `truncated`). */
  async list(p: string, options: FileListOptions = {}): Promise<FileList> {
    return this.#files.list(path(p), parseInput(fileListOptionsSchema, options, 'list options'));
  }

  /** Creates a directory (with `parents`, missing parents too); resolves with its entry. */
  async mkdir(p: string, options: FileMkdirOptions = {}): Promise<FileEntry> {
    return this.#files.mkdir(path(p), parseInput(fileMkdirOptionsSchema, options, 'mkdir options'));
  }

  /** Removes a file, link or empty directory (any directory with `recursive`); links are never followed. */
  async remove(p: string, options: FileRemoveOptions = {}): Promise<void> {
    return this.#files.remove(path(p), parseInput(fileRemoveOptionsSchema, options, 'remove options'));
  }

  /** Renames `from` to `to` (within one file system); resolves with the entry of `to`. */
  async move(from: string, to: string, options: FileUserOptions = {}): Promise<FileEntry> {
    return this.#files.move(
      path(from, 'from'),
      path(to, 'to'),
      parseInput(fileUserOptionsSchema, options, 'move options'),
    );
  }

  /** Creates a symbolic link at `p` holding `target` (not resolved); resolves with the link's entry. */
  async symlink(p: string, target: string, options: FileUserOptions = {}): Promise<FileEntry> {
    return this.#files.symlink(
      path(p),
      path(target, 'target'),
      parseInput(fileUserOptionsSchema, options, 'symlink options'),
    );
  }

  /**
   * Opens a regular file for reading: resolves with its entry and a Readable of its bytes,
   * streamed with backpressure (a slow consumer holds the agent back; memory stays bounded).
   * A FIFO, device or socket is refused at once (INVALID_INPUT, agentCode NOT_REGULAR).
   */
  async read(p: string, options: FileReadOptions = {}): Promise<{ entry: FileEntry; stream: Readable }> {
    return this.#files.read(path(p), parseInput(fileReadOptionsSchema, options, 'read options'));
  }

  /** Reads a whole regular file into memory (refusing one longer than `maxBytes`, 256 MiB by default). */
  async readFile(p: string, options: FileReadFileOptions = {}): Promise<Buffer> {
    const { maxBytes, ...o } = parseInput(fileReadFileOptionsSchema, options, 'readFile options');
    const { entry, stream } = await this.#files.read(path(p), o);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        stream.destroy();
        throw new FileError(
          'TOO_LARGE',
          'TOO_LARGE',
          p,
          `cannot read ${JSON.stringify(p)}: more than ${maxBytes} bytes`,
          {
            hint: `${entry.path} is ${entry.size} bytes: read it as a stream (files.read), or raise maxBytes.`,
          },
        );
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  /**
   * Replaces `p` atomically with `data` (a string, bytes, or a Readable streamed with
   * backpressure): readers see the old file or the new one, never a part. The file belongs
   * to the writing user and keeps the replaced file's mode unless `mode` is given. If the
   * stream fails or `signal` aborts, nothing is changed.
   */
  async write(p: string, data: string | Uint8Array | Readable, options: FileWriteOptions = {}): Promise<FileEntry> {
    const source = parseInput(fileWriteDataSchema, data, 'data');
    return this.#files.write(path(p), source, parseInput(fileWriteOptionsSchema, options, 'write options'));
  }

  /**
   * Watches a directory (with `recursive`, its whole tree) or a file. Iterate the result
   * with `for await`; `close()` (or leaving the loop) ends it. Events are buffered up to a
   * bound; a consumer that falls behind gets an `overflow` event instead of unbounded memory.
   */
  async watch(p: string, options: FileWatchOptions = {}): Promise<FileWatch> {
    return this.#files.watch(path(p), parseInput(fileWatchOptionsSchema, options, 'watch options'));
  }
}
