import { AxoError } from '@axo/podman-args';
import type * as NodePty from 'node-pty';

let loaded: Promise<typeof NodePty> | undefined;

/** Loads node-pty on first use, so merely importing @axo/pty never needs the addon. */
export function loadNodePty(): Promise<typeof NodePty> {
  loaded ??= import('node-pty').then(
    (mod) => ((mod as { default?: typeof NodePty }).default ?? mod) as typeof NodePty,
    (cause: unknown) => {
      loaded = undefined;
      throw new AxoError('PTY_UNAVAILABLE', "node-pty's native addon could not be loaded", {
        cause,
        hint: 'Reinstall with build tools present (python3, make, g++) and allow its build script (pnpm: onlyBuiltDependencies).',
      });
    },
  );
  return loaded;
}
