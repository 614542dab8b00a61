import { defineConfig } from 'vitest/config';

// Tests run on TypeScript sources: the `@axo/source` export condition points each
// workspace package at src/, so the edit-test loop needs no build.
// Setting conditions replaces Vite's defaults, so they are repeated after ours.
const conditions = ['@axo/source', 'module', 'node', 'development|production'];

// The tests that run again as an unprivileged user with rootless podman
// (scripts/test-rootless.sh): start, exec, tasks, terminals, reaping, hardening, the CLI
// and the server.
const rootless = [
  'packages/runtime/test/integration/{sandbox,tasks,agent,reap-attach,hardening,pause,files,egress}.test.ts',
  'packages/pty/test/integration/terminal.test.ts',
  'apps/server/test/integration/{agent-terminal,rootless,egress}.test.ts',
  'apps/cli/test/integration/{pipes,cp,egress}.test.ts',
];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  // The rootless run cannot write into a tree root owned.
  ...(process.env.AXO_VITEST_CACHE_DIR && { cacheDir: process.env.AXO_VITEST_CACHE_DIR }),
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{packages,apps}/*/src/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['{packages,apps}/*/test/**/*.test.ts'],
          // Only meaningful as an unprivileged user: the rootless project runs it.
          exclude: ['apps/server/test/integration/rootless.test.ts'],
          // Real podman: container starts and package installs are slow on 2 cores.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'rootless',
          include: rootless,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
