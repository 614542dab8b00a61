import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from './problem';

type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  readonly method: Method;
  readonly url: string;
  readonly summary: string;
  readonly tag: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** Success status and what it returns. */
  readonly success: { readonly status: number; readonly description: string };
  readonly handler: (
    input: { params: z.output<P>; query: z.output<Q>; body: z.output<B> },
    request: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<unknown>;
}

interface OpenApiOperation {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  success: { status: number; description: string };
}

function validate<S extends z.ZodType>(schema: S | undefined, value: unknown, where: string): z.output<S> {
  if (!schema) return undefined as z.output<S>;
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const errors = result.error.issues.map((i) => ({
    field: [where, ...i.path, ...(i.code === 'unrecognized_keys' ? [i.keys.join(',')] : [])].join('.'),
    message: i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : i.message,
  }));
  throw new ApiError(
    400,
    'INVALID_INPUT',
    `invalid ${where}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
    {
      errors,
    },
  );
}

/** Registers routes that validate with zod and describe themselves in OpenAPI. */
export class Router {
  readonly #operations: OpenApiOperation[] = [];
  constructor(private readonly app: FastifyInstance) {}

  add<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(
    spec: RouteSpec<P, Q, B>,
  ): void {
    this.#operations.push({
      method: spec.method,
      path: spec.url.replace(/:(\w+)/g, '{$1}'),
      summary: spec.summary,
      tag: spec.tag,
      params: spec.params,
      query: spec.query,
      body: spec.body,
      success: spec.success,
    });
    this.app.route({
      method: spec.method,
      url: spec.url,
      handler: async (request, reply) => {
        if (spec.body === undefined && request.body !== undefined && request.body !== null && spec.method !== 'GET') {
          if (!(typeof request.body === 'object' && Object.keys(request.body as object).length === 0)) {
            throw new ApiError(400, 'INVALID_INPUT', 'this endpoint takes no body');
          }
        }
        const input = {
          params: validate(spec.params, request.params, 'params'),
          query: validate(spec.query, request.query, 'query'),
          body: validate(spec.body, request.body, 'body'),
        };
        const result = await spec.handler(input, request, reply);
        if (reply.sent) return reply;
        reply.status(spec.success.status);
        return result === undefined ? reply.send() : result;
      },
    });
  }

  /** The OpenAPI 3.1 document of every registered route. */
  openapi(info: { title: string; version: string }): object {
    const paths: Record<string, Record<string, object>> = {};
    const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
    for (const op of this.#operations) {
      const parameters: object[] = [];
      for (const [where, s] of [
        ['path', op.params],
        ['query', op.query],
      ] as const) {
        if (!s) continue;
        const json = schema(s) as { properties?: Record<string, object>; required?: string[] };
        for (const [name, prop] of Object.entries(json.properties ?? {})) {
          parameters.push({
            name,
            in: where,
            required: where === 'path' || (json.required ?? []).includes(name),
            schema: prop,
          });
        }
      }
      paths[op.path] ??= {};
      (paths[op.path] as Record<string, object>)[op.method.toLowerCase()] = {
        summary: op.summary,
        tags: [op.tag],
        security: [{ bearer: [] }],
        ...(parameters.length > 0 && { parameters }),
        ...(op.body && {
          requestBody: { required: true, content: { 'application/json': { schema: schema(op.body) } } },
        }),
        responses: {
          [op.success.status]: { description: op.success.description },
          default: {
            description: 'An error',
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
      };
    }
    return {
      openapi: '3.1.0',
      info,
      paths,
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        schemas: {
          Problem: {
            type: 'object',
            required: ['type', 'title', 'status', 'code', 'detail'],
            properties: {
              type: { type: 'string' },
              title: { type: 'string' },
              status: { type: 'integer' },
              code: { type: 'string' },
              detail: { type: 'string' },
              hint: { type: 'string' },
              errors: { type: 'array' },
              instance: { type: 'string' },
              requestId: { type: 'string' },
            },
          },
        },
      },
    };
  }
}
