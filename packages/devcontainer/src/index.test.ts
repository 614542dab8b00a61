import { expect, it } from 'vitest';

// A change to these lists is a change to the public API: review it as one.
it('exposes exactly the reviewed public surface', async () => {
  expect(Object.keys(await import('./index')).sort()).toEqual([
    'DEVCONTAINER_CANDIDATES',
    'DevcontainerError',
    'MAX_DEVCONTAINER_BYTES',
    'MAX_DEVCONTAINER_DEPTH',
    'findDevcontainer',
    'parseDevcontainer',
  ]);
  expect(Object.keys(await import('./fs')).sort()).toEqual([
    'readDevcontainer',
    'readSessionRequest',
    'resolveBuildPaths',
  ]);
});
