import type { Options } from 'tsup';

/** The one build every package shares: ESM with bundled declarations. */
export function axoTsup(options: Options): Options {
  return {
    format: ['esm'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node22',
    platform: 'node',
    ...options,
  };
}
