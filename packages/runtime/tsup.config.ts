import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

export default defineConfig(
  axoTsup({
    entry: { index: 'src/index.ts', 'agent/index': 'src/agent/index.ts', 'testing/index': 'src/testing/index.ts' },
  }),
);
