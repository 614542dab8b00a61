/**
 * Returns a lock keyed by string: `run(key, fn)` runs `fn` after every earlier call with
 * the same key has settled. Each lock has its own keys, so two owners never wait on each
 * other.
 */
export function keyedLock(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/** The runtime's own lock: one start of a session at a time, whoever asks. */
export const withKeyedLock = keyedLock();
