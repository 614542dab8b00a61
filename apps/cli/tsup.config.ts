import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

// Our packages are bundled from source; third-party dependencies (and node-pty's
// native addon above all) stay external and are installed with the CLI.
export default defineConfig(
  axoTsup({
    entry: { axo: 'src/main.ts' },
    dts: false,
    // @axo/server stays external: `axo serve` loads it only when asked.
    // @axo/agent stays external too: it ships the agent binary next to its own files.
    noExternal: [/^@axo\/(?!server|agent)/],
    external: ['node-pty', '@axo/server', '@axo/agent'],
    banner: { js: '#!/usr/bin/env node' },
    esbuildOptions(options) {
      options.conditions = ['@axo/source'];
    },
  }),
);
