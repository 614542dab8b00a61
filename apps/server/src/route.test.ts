import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handleError } from './problem';
import { named, Router } from './route';

function app(checkResponses: boolean) {
  const fastify = Fastify();
  fastify.setErrorHandler((error, request, reply) => handleError(error, request, reply));
  fastify.addContentTypeParser('application/octet-stream', (_r, payload, done) => done(null, payload));
  return { fastify, router: new Router(fastify, { checkResponses }) };
}

describe('Router', () => {
  it('checks JSON answers against their schema when asked (a drifting schema fails loudly)', async () => {
    for (const check of [true, false]) {
      const { fastify, router } = app(check);
      router.add({
        method: 'GET',
        url: '/thing',
        tag: 't',
        summary: 's',
        success: { status: 200, description: 'd', schema: z.object({ n: z.number() }) },
        handler: async () => ({ n: 'not a number' }),
      });
      const r = await fastify.inject('/thing');
      expect(r.statusCode).toBe(check ? 500 : 200);
    }
  });

  it('hands a raw body through as a stream, and refuses JSON there with 415', async () => {
    const { fastify, router } = app(true);
    router.add({
      method: 'PUT',
      url: '/bytes',
      tag: 't',
      summary: 's',
      rawBody: { contentType: 'application/octet-stream', description: 'bytes' },
      success: { status: 200, description: 'd', schema: z.object({ n: z.number() }) },
      handler: async (_input, request) => {
        let n = 0;
        for await (const chunk of request.body as AsyncIterable<Buffer>) n += chunk.length;
        return { n };
      },
    });
    const ok = await fastify.inject({
      method: 'PUT',
      url: '/bytes',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(1000),
    });
    expect(ok.json()).toEqual({ n: 1000 });
    const json = await fastify.inject({ method: 'PUT', url: '/bytes', payload: { a: 1 } });
    expect(json.statusCode).toBe(415);
  });

  it('names registered schemas as components; their request form is <Name>Input', () => {
    const { router } = app(false);
    const thing = named('Thing', z.object({ a: z.string(), b: z.number().default(1) }));
    router.add({
      method: 'POST',
      url: '/things/:id',
      tag: 't',
      summary: 's',
      params: z.object({ id: z.string() }),
      body: z.object({ thing }),
      success: { status: 201, description: 'd', schema: z.object({ thing, all: z.array(thing) }) },
      handler: async () => undefined,
    });
    const doc = router.openapi({ title: 't', version: '1' }) as {
      paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { required?: string[] }> };
    };
    const op = doc.paths['/things/{id}']?.post;
    expect(op?.operationId).toBe('postThingsById');
    expect(JSON.stringify(op?.responses)).toContain('#/components/schemas/Thing"');
    expect(doc.components.schemas.Thing?.required).toEqual(['a', 'b']);
    expect(doc.components.schemas.ThingInput?.required).toEqual(['a']);
  });
});
