// A streamed answer whose client left while the call was still being set up (the socket
// closed before the stream listened for it) is over from the start: nothing is written,
// its close handlers run, no timer is left. The same for axo's own NDJSON streams.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { NdjsonReply } from '../routes/ndjson';
import { ConnectStream } from './connect-stream';

interface Opened {
  readonly closed: boolean;
  onClose(handler: () => void): void;
}

const apps: Array<ReturnType<typeof Fastify>> = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/**
 * Serves one route that waits for its client to go away before it opens the stream with
 * `open`; resolves with that stream and whether its close handler ran at once.
 */
async function openAfterClientLeft(
  open: (request: FastifyRequest, reply: FastifyReply) => Opened,
): Promise<{ stream: Opened; handlerRan: boolean }> {
  const app = Fastify();
  apps.push(app);
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const result = new Promise<{ stream: Opened; handlerRan: boolean }>((resolve) => {
    app.post('/stream', async (request, reply) => {
      const socket = request.raw.socket;
      const gone = new Promise((r) => socket.once('close', r));
      arrived();
      // The slow part of a call (a sandbox looked up, a command started) outlasts the client.
      await gone;
      const stream = open(request, reply);
      let handlerRan = false;
      stream.onClose(() => {
        handlerRan = true;
      });
      resolve({ stream, handlerRan });
      return reply;
    });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const client = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/stream',
    headers: { 'content-type': 'application/json' },
  });
  client.on('error', () => undefined);
  client.end('{}');
  await requestArrived;
  client.destroy();
  return result;
}

describe('a stream opened after its client left', () => {
  it('ConnectStream is closed at once and writes nothing', async () => {
    const { stream, handlerRan } = await openAfterClientLeft(
      (request, reply) => new ConnectStream(request, reply, { keepaliveMs: 20, keepalive: {}, deadlineMs: 60_000 }),
    );
    expect(stream.closed).toBe(true);
    expect(handlerRan).toBe(true);
    expect((stream as ConnectStream).send({ hello: 'nobody' })).toBe(false);
  });

  it('NdjsonReply is closed at once and writes nothing', async () => {
    const { stream, handlerRan } = await openAfterClientLeft(
      (request, reply) => new NdjsonReply(request, reply, { keepaliveMs: 20 }),
    );
    expect(stream.closed).toBe(true);
    expect(handlerRan).toBe(true);
    expect((stream as NdjsonReply).write({ type: 'nobody' })).toBe(false);
  });
});
