import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from './problem';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What a successful answer carries. */
export type ResponseMedia = 'application/json' | 'application/octet-stream' | 'application/x-ndjson';

/**
 * Names a schema: it becomes `#/components/schemas/<id>` in the OpenAPI document (and a
 * named type in the client). Returns the named copy (zod's global registry holds it, with
 * every `.describe()` text).
 */
export function named<S extends z.ZodType>(id: string, schema: S, description?: string): S {
  return schema.meta({ id, ...(description !== undefined && { description }) }) as S;
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  readonly method: Method;
  readonly url: string;
  readonly summary: string;
  readonly tag: string;
  /** Longer text for the OpenAPI document. */
  readonly description?: string;
  readonly params?: P;
  readonly query?: Q;
  /** A JSON body, validated. */
  readonly body?: B;
  /**
   * A body that is not JSON: the handler gets the request stream itself as `request.body`
   * (nothing is buffered), with this content type.
   */
  readonly rawBody?: { readonly contentType: 'application/octet-stream'; readonly description: string };
  /**
   * Success status and what it returns: `schema` is the JSON body, or for NDJSON the
   * schema of each line; octet-stream bodies are bytes.
   */
  readonly success: {
    readonly status: number;
    readonly description: string;
    readonly contentType?: ResponseMedia;
    readonly schema?: z.ZodType;
  };
  readonly handler: (
    input: { params: z.output<P>; query: z.output<Q>; body: z.output<B> },
    request: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<unknown>;
}

/** A route served elsewhere (WebSocket, health, metrics) that the document still describes. */
export interface DocumentedRoute {
  readonly method: Method;
  readonly url: string;
  readonly summary: string;
  readonly tag: string;
  readonly description?: string;
  readonly params?: z.ZodType;
  readonly public?: boolean;
  readonly success: {
    readonly status: number;
    readonly description: string;
    readonly contentType?: string;
    readonly schema?: z.ZodType;
  };
}

interface OpenApiOperation {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  description?: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  rawBody?: RouteSpec<z.ZodType, z.ZodType, z.ZodType>['rawBody'];
  public?: boolean;
  success: { status: number; description: string; contentType?: string; schema?: z.ZodType };
}

export interface RouterOptions {
  /**
   * Check every JSON answer against its declared schema and fail the request (500) when
   * it does not match: for tests, so a schema cannot drift from what the handler returns.
   */
  readonly checkResponses?: boolean;
  /**
   * Response schemas of routes that do not declare one inline, by `"METHOD /url"`
   * (the routes of api.ts: their answers are described next to the others, in one place).
   */
  readonly responses?: Readonly<Record<string, z.ZodType>>;
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

const COMPONENT = '#/components/schemas/';

/**
 * zod → JSON Schema, with registered schemas as references into the components (zod puts
 * them in `$defs`; they are hoisted into `defs`). A schema read as input (a request) can
 * differ from its output form (defaults make fields optional): its input form is named
 * `<id>Input`. Two different schemas under one name are a programming error.
 */
function toJson(schema: z.ZodType, io: 'input' | 'output', defs: Record<string, unknown>): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  const name = (id: string) => (io === 'input' ? `${id}Input` : id);
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) out[k] = COMPONENT + name(v.slice(8));
      else out[k] = rewrite(v);
    }
    return out;
  };
  const { $schema: _, $defs, ...rest } = json;
  for (const [id, def] of Object.entries(($defs ?? {}) as Record<string, unknown>)) {
    const hoisted = rewrite(def);
    const before = defs[name(id)];
    if (before !== undefined && JSON.stringify(before) !== JSON.stringify(hoisted)) {
      throw new Error(`two different schemas are named ${name(id)} in the OpenAPI document`);
    }
    defs[name(id)] = hoisted;
  }
  return rewrite(rest) as Record<string, unknown>;
}

/** Registers routes that validate with zod and describe themselves in OpenAPI. */
export class Router {
  readonly #operations: OpenApiOperation[] = [];
  readonly #options: RouterOptions;
  readonly app: FastifyInstance;

  constructor(app: FastifyInstance, options: RouterOptions = {}) {
    this.app = app;
    this.#options = options;
  }

  add<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(
    spec: RouteSpec<P, Q, B>,
  ): void {
    const schema = spec.success.schema ?? this.#options.responses?.[`${spec.method} ${spec.url}`];
    const contentType = spec.success.contentType ?? 'application/json';
    this.#operations.push({
      method: spec.method,
      path: spec.url.replace(/:(\w+)/g, '{$1}'),
      summary: spec.summary,
      tag: spec.tag,
      ...(spec.description !== undefined && { description: spec.description }),
      params: spec.params,
      query: spec.query,
      body: spec.body,
      rawBody: spec.rawBody,
      success: { ...spec.success, contentType, ...(schema && { schema }) },
    });
    const check = this.#options.checkResponses && contentType === 'application/json' ? schema : undefined;
    this.app.route({
      method: spec.method,
      url: spec.url,
      handler: async (request, reply) => {
        if (spec.rawBody === undefined) {
          if (spec.body === undefined && request.body !== undefined && request.body !== null && spec.method !== 'GET') {
            if (!(typeof request.body === 'object' && Object.keys(request.body as object).length === 0)) {
              throw new ApiError(400, 'INVALID_INPUT', 'this endpoint takes no body');
            }
          }
        } else if (request.body !== undefined && !isStream(request.body)) {
          throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `send the body as ${spec.rawBody.contentType}`);
        }
        const input = {
          params: validate(spec.params, request.params, 'params'),
          query: validate(spec.query, request.query, 'query'),
          body: spec.rawBody ? (undefined as z.output<B>) : validate(spec.body, request.body, 'body'),
        };
        const result = await spec.handler(input, request, reply);
        // A handler that answered itself (a stream, a hijacked NDJSON reply) returns the reply.
        if (reply.sent || result === reply) return reply;
        if (check && result !== undefined) {
          const checked = check.safeParse(JSON.parse(JSON.stringify(result)));
          if (!checked.success) {
            throw new Error(
              `${spec.method} ${spec.url} answered outside its schema: ${checked.error.issues
                .map((i) => `${i.path.join('.')}: ${i.message}`)
                .join('; ')}`,
            );
          }
        }
        reply.status(spec.success.status);
        return result === undefined ? reply.send() : result;
      },
    });
  }

  /** Describes a route that is served by other means (a WebSocket, health, metrics). */
  document(route: DocumentedRoute): void {
    this.#operations.push({
      method: route.method,
      path: route.url.replace(/:(\w+)/g, '{$1}'),
      summary: route.summary,
      tag: route.tag,
      ...(route.description !== undefined && { description: route.description }),
      params: route.params,
      ...(route.public && { public: true }),
      success: route.success,
    });
  }

  /** The OpenAPI 3.1 document of every registered route. */
  openapi(info: { title: string; version: string; description?: string }): object {
    const paths: Record<string, Record<string, object>> = {};
    const defs: Record<string, unknown> = {};
    for (const op of this.#operations) {
      const parameters: object[] = [];
      for (const [where, s] of [
        ['path', op.params],
        ['query', op.query],
      ] as const) {
        if (!s) continue;
        const json = toJson(s, 'input', defs) as { properties?: Record<string, object>; required?: string[] };
        for (const [name, prop] of Object.entries(json.properties ?? {})) {
          const { description, ...schema } = prop as { description?: string };
          parameters.push({
            name,
            in: where,
            required: where === 'path' || (json.required ?? []).includes(name),
            ...(description !== undefined && { description }),
            schema,
          });
        }
      }
      const requestBody = op.body
        ? { required: true, content: { 'application/json': { schema: toJson(op.body, 'input', defs) } } }
        : op.rawBody
          ? {
              required: true,
              description: op.rawBody.description,
              content: { [op.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } },
            }
          : undefined;
      const media = op.success.contentType ?? 'application/json';
      const content =
        op.success.status === 204 || op.success.status === 101
          ? undefined
          : media === 'application/octet-stream'
            ? { [media]: { schema: { type: 'string', format: 'binary' } } }
            : op.success.schema
              ? { [media]: { schema: toJson(op.success.schema, 'output', defs) } }
              : { [media]: {} };
      paths[op.path] ??= {};
      (paths[op.path] as Record<string, object>)[op.method.toLowerCase()] = {
        operationId: operationId(op.method, op.path),
        summary: op.summary,
        ...(op.description !== undefined && { description: op.description }),
        tags: [op.tag],
        security: op.public ? [] : [{ bearer: [] }],
        ...(parameters.length > 0 && { parameters }),
        ...(requestBody && { requestBody }),
        responses: {
          [op.success.status]: { description: op.success.description, ...(content && { content }) },
          default: {
            description: 'An error',
            content: { 'application/problem+json': { schema: { $ref: `${COMPONENT}Problem` } } },
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
          ...Object.fromEntries(Object.entries(defs).sort(([a], [b]) => a.localeCompare(b))),
          Problem: {
            type: 'object',
            description: 'An RFC 9457 problem document: every error answer.',
            required: ['type', 'title', 'status', 'code', 'detail'],
            properties: {
              type: { type: 'string' },
              title: { type: 'string' },
              status: { type: 'integer' },
              code: { type: 'string', description: 'Stable machine-readable code (match on this)' },
              detail: { type: 'string' },
              hint: { type: 'string', description: 'What the caller can do about it' },
              errors: {
                type: 'array',
                description: 'Every offending field of an INVALID_INPUT answer',
                items: {
                  type: 'object',
                  required: ['field', 'message'],
                  properties: { field: { type: 'string' }, message: { type: 'string' } },
                },
              },
              instance: { type: 'string' },
              requestId: { type: 'string' },
            },
          },
        },
      },
    };
  }
}

function isStream(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { pipe?: unknown }).pipe === 'function';
}

/** `POST /v1/sessions/{id}/files/mkdir` → `postSessionsFilesMkdir`: stable, readable ids. */
function operationId(method: Method, path: string): string {
  const words = path
    .split('/')
    .filter((part) => part !== '' && part !== 'v1' && !part.startsWith('{'))
    .flatMap((part) => part.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  const suffix = path.endsWith('}') ? 'ById' : '';
  return method.toLowerCase() + words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join('') + suffix;
}
