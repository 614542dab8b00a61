import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Bytes read per chunk; the one buffer every chunk of a stream is read into. */
const CHUNK = 64 * 1024;

/**
 * A connected pair of Unix sockets: `childEnd` is handed to a child process as its
 * stdout/stderr, and everything written to it reaches `onChunk` through one reused
 * buffer. A plain pipe allocates a new 64 KiB buffer per read, which piles up as garbage
 * until V8 collects it (about 40 MiB of RSS for 200 MB of output); this stays flat.
 * `onChunk` must copy what it keeps: the buffer is overwritten by the next read.
 */
export async function openOutputSocket(onChunk: (chunk: Buffer) => void): Promise<{
  readonly childEnd: net.Socket;
  /** Resolves when the child side has closed and all data was delivered. */
  readonly drained: Promise<void>;
}> {
  const name = `axo-${process.pid}-${randomBytes(6).toString('hex')}`;
  // Linux has an abstract namespace (no file); elsewhere a socket file is used and removed.
  const path = process.platform === 'linux' ? `\0${name}` : join(tmpdir(), `${name}.sock`);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const buffer = Buffer.allocUnsafe(CHUNK);
  let reader: net.Socket | undefined;
  const drained = new Promise<void>((resolve, reject) => {
    reader = net.connect({
      path,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array) => {
          onChunk(Buffer.from(buf.buffer, buf.byteOffset, n));
          return true;
        },
      },
    });
    reader.once('end', () => reader?.destroy());
    reader.once('close', () => resolve());
    reader.once('error', reject);
  });
  const childEnd = await accepted;
  server.close();
  if (path.startsWith('/')) await rm(path, { force: true });
  return { childEnd, drained };
}
