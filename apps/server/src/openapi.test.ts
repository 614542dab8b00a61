import { describe, expect, it } from 'vitest';
import { openapiDocument } from './openapi';

type Operation = {
  operationId: string;
  requestBody?: { content: Record<string, { schema?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
};

const doc = openapiDocument() as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};
const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
);

describe('the OpenAPI document', () => {
  it('describes every answer that has a body with a schema', () => {
    const undescribed = operations.filter(({ op }) =>
      Object.entries(op.responses).some(
        ([status, r]) =>
          status !== 'default' &&
          Object.entries(r.content ?? {}).some(
            ([media, m]) => m.schema === undefined && media !== 'text/plain' && !media.includes('openapi'),
          ),
      ),
    );
    // /openapi.json describes itself only in words.
    expect(undescribed.map((u) => u.name)).toEqual(['GET /openapi.json']);
  });

  it('has unique operation ids (the client names calls by them)', () => {
    const ids = operations.map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carries bytes as application/octet-stream and streams as application/x-ndjson', () => {
    const files = doc.paths['/v1/sessions/{id}/files'] as Record<string, Operation>;
    expect(files.put?.requestBody?.content['application/octet-stream']?.schema).toEqual({
      type: 'string',
      format: 'binary',
    });
    expect(files.get?.responses['200']?.content?.['application/octet-stream']).toBeDefined();
    const start = doc.paths['/v1/sessions/{id}/processes']?.post as Operation;
    expect(start.responses['200']?.content?.['application/x-ndjson']?.schema).toEqual({
      $ref: '#/components/schemas/ProcessEvent',
    });
    expect(doc.paths['/v1/sessions/{id}/files/watch']?.get?.responses['200']?.content).toHaveProperty(
      'application/x-ndjson',
    );
  });

  it('resolves every reference', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of new Set(refs)) {
      const name = ref.slice('"$ref":"#/components/schemas/'.length, -1);
      expect(doc.components.schemas, ref).toHaveProperty(name);
    }
  });
});
