import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

// Our packages are bundled from source; third-party dependencies (node-pty above all)
// stay external and are installed with the server.
export default defineConfig(
  axoTsup({
    entry: { index: 'src/index.ts', main: 'src/bin.ts' },
    dts: false,
    banner: { js: '#!/usr/bin/env node' },
    // @axo/agent stays external: it ships the agent binary next to its own files.
    noExternal: [/^@axo\/(?!server|agent)/],
    external: ['node-pty', '@axo/agent'],
    esbuildOptions(options) {
      options.conditions = ['@axo/source'];
    },
  }),
);
