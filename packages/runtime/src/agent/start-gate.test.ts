import { describe, expect, it, vi } from 'vitest';
import { enterStartGate } from './start-gate';

const tick = () => new Promise((r) => setImmediate(r));

describe('start gate', () => {
  it('lets four starts of a session through at once and the rest in arrival order', async () => {
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const waiting = Array.from({ length: 7 }, (_, i) =>
      enterStartGate('/run/axo/gate-a').then((release) => {
        order.push(i);
        releases.push(release);
      }),
    );
    await tick();
    expect(order).toEqual([0, 1, 2, 3]);
    // Another session is not held up by this one.
    const other = await enterStartGate('/run/axo/gate-b');
    other();
    releases[1]?.();
    releases[1]?.(); // a second call changes nothing
    await tick();
    expect(order).toEqual([0, 1, 2, 3, 4]);
    for (const r of releases.splice(0)) r();
    await tick();
    for (const r of releases.splice(0)) r();
    await Promise.all(waiting);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const r of releases) r();
  });

  it('stops holding the queue for a start that takes long', async () => {
    vi.useFakeTimers();
    try {
      const held = await Promise.all(Array.from({ length: 4 }, () => enterStartGate('/run/axo/gate-c')));
      let admitted = false;
      const fifth = enterStartGate('/run/axo/gate-c').then((release) => {
        admitted = true;
        return release;
      });
      await vi.advanceTimersByTimeAsync(49);
      expect(admitted).toBe(false);
      await vi.advanceTimersByTimeAsync(1); // the four reach 50 ms
      expect(admitted).toBe(true);
      (await fifth)();
      for (const r of held) r();
    } finally {
      vi.useRealTimers();
    }
  });
});
