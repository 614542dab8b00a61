// Prints the OpenAPI document of axo-server (no podman needed):
//   node --import tsx --conditions=@axo/source apps/server/scripts/openapi.ts > openapi.json
// `@axo/client` generates its types from this output.
import { openapiDocument } from '../src/openapi';

process.stdout.write(`${JSON.stringify(openapiDocument(), null, 2)}\n`);
