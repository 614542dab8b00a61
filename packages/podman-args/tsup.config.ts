import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

// `./errors` is its own entry so short-lived processes (`axo exec`) can throw axo's typed
// errors without loading zod, which the schemas need.
export default defineConfig(axoTsup({ entry: ['src/index.ts', 'src/errors.ts'] }));
