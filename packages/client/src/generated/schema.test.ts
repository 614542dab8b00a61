import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { generateSchema, SCHEMA_FILE } from '../../scripts/generate';

// The CI check: the committed types are those of the server's current OpenAPI document.
it("is what the server's OpenAPI document generates (run `pnpm --filter @axo/client generate`)", async () => {
  const fresh = await generateSchema();
  const committed = readFileSync(SCHEMA_FILE, 'utf8');
  expect(committed === fresh, 'src/generated/schema.ts is stale: run `pnpm --filter @axo/client generate`').toBe(true);
}, 60_000);
