import { expect, it } from 'vitest';

it('exposes exactly the reviewed public surface', async () => {
  expect(Object.keys(await import('./index')).sort()).toMatchInlineSnapshot();
});
