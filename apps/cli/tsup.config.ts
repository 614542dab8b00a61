import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

// Everything the CLI runs is bundled into few files: every `axo` is a short-lived process,
// and resolving and loading execa's ~40 modules (and zod's, commander's) cost each one
// ~50 ms before it did anything, more than the podman call it then made. node-pty's native
// addon stays external and is installed with the CLI.
export default defineConfig(
  axoTsup({
    entry: { axo: 'src/main.ts' },
    dts: false,
    // @axo/server stays external: `axo serve` loads it only when asked.
    // @axo/agent stays external too: it ships the agent binary next to its own files.
    noExternal: [/^@axo\/(?!server|agent)/, 'commander', 'execa', 'picocolors', 'yocto-spinner', 'zod'],
    external: ['node-pty', '@axo/server', '@axo/agent'],
    // Bundled CommonJS (cross-spawn under execa) calls require() for node's own modules.
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __axoRequire } from 'node:module';\nconst require = __axoRequire(import.meta.url);",
    },
    esbuildOptions(options) {
      options.conditions = ['@axo/source'];
    },
  }),
);
