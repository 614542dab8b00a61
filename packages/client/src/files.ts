// `client.files`: a session's files. Content is raw bytes both ways (never base64 in JSON):
// reads are a ReadableStream the server fills at the reader's pace; writes stream a body.
import { AxoClientError } from './errors';
import { linked, seg, type Transport } from './http';
import { ndjson } from './ndjson';
import type { FileEntry, FileList, WatchEvent } from './types';

/** Act as this user inside the session (`name`, `uid`, `uid:gid`); default the session's user. */
interface UserOption {
  readonly user?: string;
}

export interface ReadOptions extends UserOption {
  /** First byte. @default 0 */
  readonly offset?: number;
  /** Bytes at most. @default to the end */
  readonly length?: number;
  readonly signal?: AbortSignal;
}

export interface WriteOptions extends UserOption {
  /** Permission bits, e.g. `0o644`. @default the replaced file's, else 0o644 */
  readonly mode?: number;
  /** Create missing parent directories. @default false */
  readonly parents?: boolean;
  readonly signal?: AbortSignal;
}

/** What `write` takes. A ReadableStream is streamed (Node; browsers only over HTTP/2). */
export type WriteData = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array>;

/** Changes under a watched path until `close()`; leaving a `for await` closes it. */
export class FileWatcher implements AsyncIterable<WatchEvent>, AsyncDisposable {
  readonly #lines: AsyncGenerator<unknown, void>;
  readonly #abort: AbortController;
  #closed = false;

  /** @internal made by `files.watch`. */
  constructor(lines: AsyncGenerator<unknown, void>, abort: AbortController) {
    this.#lines = lines;
    this.#abort = abort;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    try {
      for await (const raw of this.#lines) {
        const line = raw as { type: string; code?: string; message?: string };
        if (line.type === 'event') yield line as WatchEvent;
        else if (line.type === 'error')
          throw new AxoClientError(0, line.code ?? 'INTERNAL', line.message ?? 'watch failed');
      }
    } catch (error) {
      if (!this.#closed) throw error;
    } finally {
      this.close();
    }
  }

  /** Stops watching. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

export class Files {
  readonly #t: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  #path(sessionId: string, op = ''): string {
    return `/v1/sessions/${seg(sessionId)}/files${op}`;
  }

  /** A file's bytes as a stream (resolves once the file is open: a missing file rejects). */
  async read(sessionId: string, path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const response = await this.#t.request('GET', this.#path(sessionId), {
      query: { path, offset: options.offset, length: options.length, user: options.user },
      ...(options.signal && { signal: options.signal }),
    });
    return response.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /** A whole file in memory. */
  async readBytes(sessionId: string, path: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const response = await this.#t.request('GET', this.#path(sessionId), {
      query: { path, offset: options.offset, length: options.length, user: options.user },
      ...(options.signal && { signal: options.signal }),
    });
    return new Uint8Array(await response.arrayBuffer());
  }

  /** A whole file as UTF-8 text (invalid bytes become U+FFFD: use readBytes for binary files). */
  async readText(sessionId: string, path: string, options: ReadOptions = {}): Promise<string> {
    return new TextDecoder().decode(await this.readBytes(sessionId, path, options));
  }

  /**
   * Replaces a file atomically: readers see the old file or the new one. Past the server's
   * size limit it is 413 and the earlier file stays.
   */
  async write(sessionId: string, path: string, data: WriteData, options: WriteOptions = {}): Promise<FileEntry> {
    const r = await this.#t.json<{ entry: FileEntry }>('PUT', this.#path(sessionId), {
      query: {
        path,
        mode: options.mode === undefined ? undefined : options.mode.toString(8).padStart(4, '0'),
        parents: options.parents ? 'true' : undefined,
        user: options.user,
      },
      bytes: (typeof data === 'string' ? new TextEncoder().encode(data) : data) as BodyInit,
      ...(options.signal && { signal: options.signal }),
    });
    return r.entry;
  }

  /** Describes a file, directory or link (`follow`: what a link points to). */
  async stat(sessionId: string, path: string, options: UserOption & { readonly follow?: boolean } = {}) {
    const r = await this.#t.json<{ entry: FileEntry }>('GET', this.#path(sessionId, '/stat'), {
      query: { path, follow: options.follow ? 'true' : undefined, user: options.user },
    });
    return r.entry;
  }

  /** Lists a directory `depth` levels deep (1: its own entries). */
  list(sessionId: string, path: string, options: UserOption & { readonly depth?: number } = {}): Promise<FileList> {
    return this.#t.json<FileList>('GET', this.#path(sessionId, '/list'), {
      query: { path, depth: options.depth, user: options.user },
    });
  }

  /** Creates a directory (`parents`: and missing parents; an existing directory is then fine). */
  async mkdir(
    sessionId: string,
    path: string,
    options: UserOption & { readonly parents?: boolean; readonly mode?: number } = {},
  ): Promise<FileEntry> {
    const r = await this.#t.json<{ entry: FileEntry }>('POST', this.#path(sessionId, '/mkdir'), {
      json: { path, ...options },
    });
    return r.entry;
  }

  /** Renames `source` to `destination` (one file system). */
  async move(sessionId: string, source: string, destination: string, options: UserOption = {}): Promise<FileEntry> {
    const r = await this.#t.json<{ entry: FileEntry }>('POST', this.#path(sessionId, '/move'), {
      json: { source, destination, ...options },
    });
    return r.entry;
  }

  /** Creates a symbolic link at `path` holding `target`. */
  async symlink(sessionId: string, path: string, target: string, options: UserOption = {}): Promise<FileEntry> {
    const r = await this.#t.json<{ entry: FileEntry }>('POST', this.#path(sessionId, '/symlink'), {
      json: { path, target, ...options },
    });
    return r.entry;
  }

  /** Removes a file, link or empty directory (`recursive`: any directory). */
  async remove(sessionId: string, path: string, options: UserOption & { readonly recursive?: boolean } = {}) {
    await this.#t.request('DELETE', this.#path(sessionId), {
      query: { path, recursive: options.recursive ? 'true' : undefined, user: options.user },
    });
  }

  /** Watches a directory; resolves once the watch is in place. */
  async watch(
    sessionId: string,
    path: string,
    options: UserOption & { readonly recursive?: boolean; readonly signal?: AbortSignal } = {},
  ): Promise<FileWatcher> {
    const abort = linked(options.signal);
    const response = await this.#t.request('GET', this.#path(sessionId, '/watch'), {
      query: { path, recursive: options.recursive ? 'true' : undefined, user: options.user },
      signal: abort.signal,
    });
    if (!response.body) throw new AxoClientError(0, 'BAD_RESPONSE', 'a watch without a body');
    const lines = ndjson(response.body, 'watch');
    const first = (await lines.next()).value as { type?: string; code?: string; message?: string } | undefined;
    if (first?.type !== 'start') {
      abort.abort();
      if (first?.type === 'error') throw new AxoClientError(0, first.code ?? 'INTERNAL', first.message ?? '');
      throw new AxoClientError(0, 'BAD_RESPONSE', 'a watch must begin with a start line');
    }
    return new FileWatcher(lines, abort);
  }
}
