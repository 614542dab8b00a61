import { expect, it } from 'vitest';
import { withKeyedLock } from './keyed-lock';

it('serialises calls with the same key and lets other keys run at once', async () => {
  const events: string[] = [];
  const job = (key: string, name: string, ms: number) =>
    withKeyedLock(key, async () => {
      events.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`end ${name}`);
      return name;
    });
  const results = await Promise.all([job('a', 'a1', 30), job('a', 'a2', 1), job('b', 'b1', 1)]);
  expect(results).toEqual(['a1', 'a2', 'b1']);
  expect(events.indexOf('start a2')).toBeGreaterThan(events.indexOf('end a1'));
  expect(events.indexOf('end b1')).toBeLessThan(events.indexOf('end a1'));
});

it('keeps the queue going after a failure', async () => {
  const failed = withKeyedLock('k', async () => {
    throw new Error('boom');
  });
  const next = withKeyedLock('k', async () => 'ok');
  await expect(failed).rejects.toThrow('boom');
  await expect(next).resolves.toBe('ok');
});
