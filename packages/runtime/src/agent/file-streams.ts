// The bytes of reads and writes, with backpressure both ways: a read pauses the connection
// while its Readable is full (the agent then blocks in its write and reads no further),
// and a write hands the next chunk to the socket only once the kernel took the last one.
import { Readable } from 'node:stream';
import type { AgentConnection } from './connection';
import { agentFailed } from './connection';
import { fileError } from './file-error';
import { abortError, closedEarly } from './file-requests';
import { type FileEntry, FrameKind, MAX_PAYLOAD } from './protocol';

/** Bytes a read's Readable holds before the connection is paused. */
const READ_BUFFER = 1024 * 1024;

/**
 * What `write` takes. An iterable is read one chunk at a time, and each chunk has been
 * handed to the kernel before the next is asked for, so a source may reuse its buffer.
 */
export type FileWriteSource = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/**
 * The bytes of a read the agent has started (its `entry` came): a Readable that pauses the
 * connection when full, ends on `end` (after checking the count), and fails otherwise.
 */
export function readStream(conn: AgentConnection, path: string, signal: AbortSignal | undefined): Readable {
  let received = 0;
  let ended = false;
  const stream = new Readable({
    highWaterMark: READ_BUFFER,
    read: () => conn.resume(),
    destroy: (error, callback) => {
      // A consumer that stops reading (EPIPE, `head`) closes the connection: the agent's
      // next write fails and it stops reading the file.
      conn.destroy();
      callback(error);
    },
  });
  const fail = (error: Error) => {
    if (ended) return;
    ended = true;
    signal?.removeEventListener('abort', onAbort);
    stream.destroy(error);
  };
  // The failure is kept on the stream (`for await` and pipeline() throw it) even when
  // nobody listens yet; without a listener, emitting it would crash the process.
  stream.on('error', () => undefined);
  const onAbort = () => fail(abortError(signal as AbortSignal));
  signal?.addEventListener('abort', onAbort, { once: true });
  conn.onFrame((frame) => {
    if (frame.kind === FrameKind.out) {
      received += frame.data.length;
      if (!stream.destroyed && !stream.push(frame.data)) conn.pause();
      return;
    }
    const m = frame.kind === FrameKind.msg ? frame.message : undefined;
    if (m?.type === 'end' && 'bytes' in m) {
      if (m.bytes !== received) {
        fail(agentFailed(conn.endpoint, `said it sent ${m.bytes} bytes of ${path} but ${received} arrived`));
        return;
      }
      ended = true;
      signal?.removeEventListener('abort', onAbort);
      stream.push(null);
      conn.destroy();
    } else if (m?.type === 'error') fail(fileError(conn.endpoint, 'read', path, m));
    else fail(agentFailed(conn.endpoint, `sent ${m ? `"${m.type}"` : 'a frame'} in the middle of a read`));
  });
  void conn.closed.then((error) => fail(closedEarly(conn, 'read', path, error)));
  conn.resume();
  return stream;
}

/**
 * Sends the bytes of a write the agent is `ready` for, then the final empty frame, and
 * resolves with the entry of the written file. If the source fails or `signal` aborts, the
 * connection is closed without the final frame, so the agent discards what it had.
 */
export async function sendWrite(
  conn: AgentConnection,
  path: string,
  data: FileWriteSource,
  signal: AbortSignal | undefined,
): Promise<FileEntry> {
  // The first failure (the agent's refusal, a lost connection, an abort) interrupts
  // whatever the write waits for. Not a Promise.race against one long-lived promise: each
  // race would leave a reaction on it holding that wait's result — every chunk sent.
  let failure: Error | undefined;
  let interrupt: ((error: Error) => void) | undefined;
  const unlessFailed = <T>(wait: Promise<T>): Promise<T> => {
    if (failure) return Promise.reject(failure);
    return new Promise<T>((resolve, reject) => {
      interrupt = reject;
      wait.then(resolve, reject).finally(() => {
        if (interrupt === reject) interrupt = undefined;
      });
    });
  };
  const fail = (error: Error) => {
    if (failure) return;
    failure = error;
    interrupt?.(error);
    conn.destroy();
  };
  const onAbort = () => fail(abortError(signal as AbortSignal));
  signal?.addEventListener('abort', onAbort, { once: true });
  const source = sourceOf(data);
  let sourceDone = false;
  let answer: ((entry: FileEntry) => void) | undefined;
  conn.onFrame((frame) => {
    const m = frame.kind === FrameKind.msg ? frame.message : undefined;
    if (m?.type === 'entry' && answer) answer(m.entry);
    else if (m?.type === 'error') fail(fileError(conn.endpoint, 'write', path, m));
    else fail(agentFailed(conn.endpoint, `sent ${m ? `"${m.type}"` : 'a frame'} in the middle of a write`));
  });
  void conn.closed.then((error) => fail(closedEarly(conn, 'write', path, error)));
  conn.resume();
  try {
    signal?.throwIfAborted();
    // Waiting for the source is interrupted by failures too: an abort must not wait for a
    // source that has nothing to say.
    for (;;) {
      const next = await unlessFailed(source.next());
      if (next.done) break;
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value, 'utf8') : next.value;
      if (chunk.length === 0) continue; // an empty IN frame would end the input
      await unlessFailed(new Promise<void>((resolve) => conn.sendInput(chunk, resolve)));
    }
    sourceDone = true;
    const entry = new Promise<FileEntry>((resolve) => {
      answer = resolve;
    });
    conn.endInput();
    return await unlessFailed(entry);
  } catch (error) {
    // The agent's refusal explains more than what followed from it (an EPIPE, a destroyed
    // source): report the first failure.
    throw failure ?? error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    conn.destroy();
    // A source left half-read is closed, as pipeline() would (not awaited: it may be
    // waiting for data that never comes).
    if (!sourceDone) {
      void Promise.resolve(source.return?.()).catch(() => undefined);
      if (typeof (data as Partial<Readable>).destroy === 'function') (data as Readable).destroy();
    }
  }
}

/** `data` as an iterator of chunks; whole content is cut into frame-sized slices (not copied). */
function sourceOf(data: FileWriteSource): AsyncIterator<Uint8Array | string> {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) return data[Symbol.asyncIterator]();
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let at = 0;
  return {
    next: async () => {
      if (at >= bytes.length) return { done: true, value: undefined };
      const slice = bytes.subarray(at, at + MAX_PAYLOAD);
      at += slice.length;
      return { done: false, value: slice };
    },
  };
}
