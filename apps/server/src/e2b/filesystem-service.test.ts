// Polling watchers (CreateWatcher / GetWatcherEvents) whose agent watch ends by itself: the
// client collects the last events, then hears that the watch ended, and the watcher does not
// keep one of the sandbox's slots meanwhile.
import { describe, expect, it } from 'vitest';
import { RpcError } from './connect';
import type { EnvdCall } from './envd';
import { filesystemService } from './filesystem-service';

/** A watch that delivers `events`, then ends (with `error`, if given). */
function endingWatch(events: Array<{ op: string; path: string }>, error?: Error) {
  return {
    async *[Symbol.asyncIterator]() {
      for (const e of events) yield { ...e, dir: false };
      if (error) throw error;
    },
    close: async () => undefined,
  };
}

/** An envd call on a fake sandbox whose watches are made by `nextWatch`. */
function fakeCall(nextWatch: () => object): EnvdCall {
  const files = {
    stat: async (path: string) => ({ type: 'dir', path }),
    watch: async () => nextWatch(),
  };
  return {
    runtime: { procs: new Map(), resources: new Set() },
    session: { sandbox: { files } },
    user: undefined,
    home: '/home/user',
    path: (p: string) => p,
  } as unknown as EnvdCall;
}

type Unary = (typeof filesystemService.unary)[string] & {};
const CreateWatcher = filesystemService.unary.CreateWatcher as Unary;
const GetWatcherEvents = filesystemService.unary.GetWatcherEvents as Unary;
const rpc = (call: EnvdCall, method: Unary, message: object) =>
  method({ call, message, request: {} as never }) as Promise<Record<string, unknown>>;
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('polling watchers whose watch ends by itself', () => {
  it('hand over the last events, then say the watch ended, then are gone', async () => {
    const call = fakeCall(() => endingWatch([{ op: 'create', path: '/w/new.txt' }]));
    const { watcherId } = await rpc(call, CreateWatcher, { path: '/w' });
    await settle();
    expect(await rpc(call, GetWatcherEvents, { watcherId })).toEqual({
      events: [{ name: 'new.txt', type: 'EVENT_TYPE_CREATE' }],
    });
    const ended = await rpc(call, GetWatcherEvents, { watcherId }).catch((e: unknown) => e);
    expect(ended).toBeInstanceOf(RpcError);
    expect(ended).toMatchObject({ code: 'unavailable', message: expect.stringContaining('the watch ended') });
    await expect(rpc(call, GetWatcherEvents, { watcherId })).rejects.toMatchObject({ code: 'not_found' });
    expect(call.runtime.resources.size).toBe(0);
  });

  it('report the watch’s own error', async () => {
    const call = fakeCall(() => endingWatch([], new RpcError('unavailable', 'the agent went away')));
    const { watcherId } = await rpc(call, CreateWatcher, { path: '/w' });
    await settle();
    await expect(rpc(call, GetWatcherEvents, { watcherId })).rejects.toMatchObject({
      message: 'the agent went away',
    });
  });

  it('do not hold a slot: ended watchers never block a new one', async () => {
    const call = fakeCall(() => endingWatch([]));
    const ids: unknown[] = [];
    for (let i = 0; i < 8; i++) ids.push((await rpc(call, CreateWatcher, { path: '/w' })).watcherId);
    await settle();
    // Eight ended watchers nobody collected: a ninth still fits.
    const ninth = await rpc(call, CreateWatcher, { path: '/w' });
    expect(ninth.watcherId).toMatch(/^w-/);
  });

  it('live watchers still count: the ninth is refused', async () => {
    const never = {
      async *[Symbol.asyncIterator]() {
        await new Promise(() => undefined);
      },
      close: async () => undefined,
    };
    const call = fakeCall(() => never);
    for (let i = 0; i < 8; i++) await rpc(call, CreateWatcher, { path: '/w' });
    await expect(rpc(call, CreateWatcher, { path: '/w' })).rejects.toMatchObject({ code: 'resource_exhausted' });
  });
});
