import { defineConfig } from 'vitest/config';

// Tests run on TypeScript sources: the `@axo/source` export condition points each
// workspace package at src/, so the edit-test loop needs no build.
// Setting conditions replaces Vite's defaults, so they are repeated after ours.
const conditions = ['@axo/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
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
          // Real podman: container starts and package installs are slow on 2 cores.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
