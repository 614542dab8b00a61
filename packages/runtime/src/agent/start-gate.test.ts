import { describe, expect, it } from 'vitest';
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
    const held = await Promise.all(Array.from({ length: 4 }, () => enterStartGate('/run/axo/gate-c')));
    const started = performance.now();
    const fifth = await enterStartGate('/run/axo/gate-c'); // admitted once the four time out
    expect(performance.now() - started).toBeGreaterThanOrEqual(40);
    expect(performance.now() - started).toBeLessThan(1000);
    fifth();
    for (const r of held) r();
  });
});
