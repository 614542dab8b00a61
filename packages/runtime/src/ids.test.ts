import { containerRefSchema } from '@axo/podman-args';
import { expect, it } from 'vitest';
import { newId } from './ids';

it('makes unique ids even when many are made in the same millisecond', () => {
  const ids = Array.from({ length: 1000 }, () => newId('task'));
  expect(new Set(ids).size).toBe(1000);
  for (const id of ids.slice(0, 10)) {
    expect(id).toMatch(/^task-/);
    // ids double as exec tags, so they must be valid podman names.
    expect(containerRefSchema.safeParse(id).success).toBe(true);
  }
});
