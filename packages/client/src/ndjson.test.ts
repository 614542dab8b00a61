import { describe, expect, it } from 'vitest';
import { AxoClientError } from './errors';
import { ndjson } from './ndjson';

const enc = new TextEncoder();
function stream(chunks: readonly (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(typeof chunk === 'string' ? enc.encode(chunk) : chunk);
      c.close();
    },
  });
}
async function all(body: ReadableStream<Uint8Array>) {
  const out: unknown[] = [];
  for await (const line of ndjson(body)) out.push(line);
  return out;
}

describe('ndjson', () => {
  it('reads lines split across chunks, several to a chunk, and a last line without a newline', async () => {
    expect(await all(stream(['{"a":', '1}\n{"b":2}\n{"c"', ':3}\n\n', '{"d":4}']))).toEqual([
      { a: 1 },
      { b: 2 },
      { c: 3 },
      { d: 4 },
    ]);
  });

  it('reads a multi-byte character split between chunks', async () => {
    const bytes = enc.encode('{"t":"é€😀"}\n');
    // Cut inside each of the multi-byte characters.
    const cuts = [8, 10, 13, 15];
    const chunks = [0, ...cuts].map((from, i) => bytes.subarray(from, cuts[i] ?? bytes.length));
    expect(await all(stream(chunks))).toEqual([{ t: 'é€😀' }]);
  });

  it('reads byte by byte', async () => {
    const bytes = enc.encode('{"x":[1,2,3]}\n{"y":"z"}\n');
    expect(await all(stream([...bytes].map((b) => new Uint8Array([b]))))).toEqual([{ x: [1, 2, 3] }, { y: 'z' }]);
  });

  it('refuses a line that is not JSON with a typed error', async () => {
    const error = await all(stream(['{"ok":1}\nnot json\n'])).catch((e: unknown) => e);
    expect(AxoClientError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 0 });
  });

  it('reports a body that breaks off as a network error', async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulls += 1;
          if (pulls === 1) c.enqueue(enc.encode('{"a":1}\n{"b"'));
          else c.error(new TypeError('terminated'));
        },
      },
      { highWaterMark: 0 },
    );
    const seen: unknown[] = [];
    const error = await (async () => {
      for await (const line of ndjson(body)) seen.push(line);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([{ a: 1 }]);
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 0 });
  });

  it('reads only as fast as lines are taken, and cancels the body when left early', async () => {
    let pulled = 0;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulled += 1;
          c.enqueue(enc.encode(`{"n":${pulled}}\n`));
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    for await (const line of ndjson(body)) if ((line as { n: number }).n === 3) break;
    expect(pulled).toBeLessThanOrEqual(4);
    expect(cancelled).toBe(true);
  });
});
