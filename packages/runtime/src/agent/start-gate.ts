// Commands sent to one session at once are started a few at a time, first come first
// served. Fifty at once otherwise all open their connections, all greet, all start and
// all end together, last; one after another, the short ones end as they go, so the median
// waits less and the last no longer (BENCHMARKS.md row 11; the agent admits its starts the
// same way). Only the start is gated: a long command leaves the gate as soon as it runs.

/** Starts one process lets through at once, per session. */
const WIDTH = 4;
/** A start that takes longer (a resume, a slow exec) stops holding up the ones behind. */
const SLOW_MS = 50;

interface Gate {
  free: number;
  readonly queue: (() => void)[];
}

const gates = new Map<string, Gate>();

/** Waits for a start slot for `key` (a session's run dir); call the result once started. */
export async function enterStartGate(key: string): Promise<() => void> {
  let gate = gates.get(key);
  if (gate === undefined) {
    gate = { free: WIDTH, queue: [] };
    gates.set(key, gate);
  }
  const g = gate;
  if (g.free > 0) g.free--;
  else await new Promise<void>((resolve) => g.queue.push(resolve));
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    clearTimeout(timer);
    const next = g.queue.shift();
    if (next) next();
    else if (++g.free === WIDTH && gates.get(key) === g) gates.delete(key);
  };
  const timer = setTimeout(release, SLOW_MS);
  timer.unref();
  return release;
}
