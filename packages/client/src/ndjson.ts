// NDJSON (application/x-ndjson): one JSON object per line. Lines may arrive split across
// chunks, several to a chunk, or split inside a multi-byte character; this reads them whole.
import { AxoClientError, networkError } from './errors';

/**
 * Yields each line of an NDJSON body as parsed JSON, reading the body only as fast as the
 * caller takes lines (so the server's backpressure reaches the command). Returning early
 * cancels the body.
 */
export async function* ndjson(body: ReadableStream<Uint8Array>, what = 'stream'): AsyncGenerator<unknown, void> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let buffer = '';
  let done = false;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw networkError(error, `${what} broke off`);
      }
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let start = 0;
      for (let nl = buffer.indexOf('\n', start); nl !== -1; nl = buffer.indexOf('\n', start)) {
        const line = buffer.slice(start, nl);
        start = nl + 1;
        if (line.trim() !== '') yield parseLine(line, what);
      }
      buffer = buffer.slice(start);
    }
    buffer += decoder.decode();
    if (buffer.trim() !== '') yield parseLine(buffer, what);
    done = true;
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function parseLine(line: string, what: string): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new AxoClientError(0, 'BAD_RESPONSE', `${what}: a line is not JSON: ${line.slice(0, 100)}`, {
      cause: error,
    });
  }
}
