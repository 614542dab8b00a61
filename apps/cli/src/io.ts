// Moving bytes to the shell's pipes without losing any: every write waits for the pipe to
// take it (a slow reader slows the command), EPIPE means the reader left, and the process
// only exits once what it wrote has been flushed.
import { read, write, writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { EXIT } from './exit-codes';

/** stdout's (or stderr's) reader closed the pipe. */
export class ReaderGoneError extends Error {
  constructor() {
    super('the reader of our output went away');
    this.name = 'ReaderGoneError';
  }
}

const isEpipe = (error: unknown) =>
  typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === 'EPIPE';

/**
 * Copies `from` into `to` at `to`'s pace and resolves when `from` ends. Throws
 * ReaderGoneError when `to`'s reader goes away, any other write error as it is.
 */
export async function pumpTo(from: Readable, to: Writable): Promise<void> {
  let failure: unknown;
  let wake: (() => void) | undefined;
  const onError = (error: unknown) => {
    failure ??= error;
    wake?.();
  };
  const onDrain = () => wake?.();
  to.on('error', onError);
  to.on('drain', onDrain);
  try {
    for await (const chunk of from) {
      if (failure !== undefined) break;
      if (!to.write(chunk)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (failure !== undefined || !to.writableNeedDrain) resolve();
        });
        wake = undefined;
      }
      if (failure !== undefined) break;
    }
    // Writes to a pipe complete asynchronously: wait for the last one before the caller exits.
    if (failure === undefined && to.writableLength > 0)
      await new Promise<void>((resolve) => to.write('', () => resolve()));
  } finally {
    to.off('drain', onDrain);
    // Keep a handler: a late EPIPE must not become an uncaught exception.
    to.off('error', onError);
    to.on('error', () => {});
  }
  if (failure !== undefined) throw isEpipe(failure) ? new ReaderGoneError() : failure;
}

const isAgain = (error: unknown) =>
  typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === 'EAGAIN';
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes `chunk` to file descriptor `fd` completely. Writing to the descriptor directly
 * (not through process.stdout) keeps nothing in memory: the caller reuses `chunk` as soon
 * as this resolves, and a full pipe simply makes it take longer. Rejects with
 * ReaderGoneError on EPIPE.
 */
export async function writeAll(fd: number, chunk: Uint8Array): Promise<void> {
  let at = 0;
  while (at < chunk.length) {
    try {
      at += await new Promise<number>((resolve, reject) =>
        write(fd, chunk, at, chunk.length - at, null, (error, n) => (error ? reject(error) : resolve(n))),
      );
    } catch (error) {
      if (isEpipe(error)) throw new ReaderGoneError();
      // A descriptor someone made non-blocking: wait for room, as a blocking write would.
      if (isAgain(error)) await pause(2);
      else throw error;
    }
  }
}

/**
 * Copies descriptor `fd` (our stdin) into `to` through one reused buffer: the next read
 * waits until `to` has handed the last chunk on. Ends `to` at end of input; stops when
 * `to` goes away (the command closed its stdin) or `signal` aborts.
 */
export async function copyFdTo(fd: number, to: Writable, signal: AbortSignal): Promise<void> {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let failed = false;
  to.on('error', () => {
    failed = true;
  });
  while (!signal.aborted && !to.destroyed && !failed) {
    let n: number;
    try {
      n = await new Promise<number>((resolve, reject) =>
        read(fd, buffer, 0, buffer.length, null, (error, bytes) => (error ? reject(error) : resolve(bytes))),
      );
    } catch (error) {
      if (isAgain(error)) {
        await pause(5);
        continue;
      }
      break;
    }
    if (n === 0) {
      to.end();
      return;
    }
    if (signal.aborted || to.destroyed) return;
    await new Promise<void>((resolve) => {
      to.write(buffer.subarray(0, n), () => resolve());
    });
  }
}

/** Writes short text (help, usage) to `fd` synchronously; exits 141 quietly when the reader left. */
export function writeText(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(fd, bytes, at);
    } catch (error) {
      if (isEpipe(error)) process.exit(EXIT.readerGone);
      if (!isAgain(error)) throw error;
      // A descriptor someone made non-blocking and a slow reader: sleep, do not spin.
      Atomics.wait(NAP, 0, 0, 5);
    }
  }
}

const NAP = new Int32Array(new SharedArrayBuffer(4));
