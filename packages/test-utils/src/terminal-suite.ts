// The behaviour every terminal must show, whichever path makes it: node-pty over
// `podman exec -it` (@axo/pty) or a PTY the session's agent allocates (@axo/runtime).
// Both packages' tests run this one suite, so the two paths cannot drift apart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retainedBytes } from './index';

interface Disposable {
  dispose(): void;
}

/** The terminal shape the suite drives (PtyTerminal and AgentTerminal both have it). */
export interface SuiteTerminal {
  readonly id: string;
  readonly isAlive: boolean;
  readonly size: { cols: number; rows: number };
  readonly exited: Promise<unknown>;
  readonly outputStats: { totalBytes: number; droppedBytes: number };
  write(data: string): void;
  resize(cols: number, rows: number): void;
  onData(listener: (data: string) => void, options?: { replay?: boolean }): Disposable;
  onExit(listener: (exit: { exitCode: number }) => void): Disposable;
  scrollback(): string;
}

/** The registry shape the suite drives (@axo/pty's TerminalRegistry). */
export interface SuiteRegistry {
  spawn(options: { command: string; cols?: number; rows?: number; scrollbackBytes?: number }): Promise<SuiteTerminal>;
  get(id: string): SuiteTerminal | undefined;
  list(): { id: string; command: string; alive: boolean }[];
  kill(id: string): Promise<boolean>;
  killAll(): Promise<void>;
}

export interface TerminalSuiteSetup {
  readonly registry: SuiteRegistry;
  /** How many processes in the session container match `pattern` (ps -o args). */
  processes(pattern: string): string;
  cleanup(): Promise<void> | void;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

/** Resolves with everything the terminal printed once `pattern` appears in it. */
export function waitFor(terminal: SuiteTerminal, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out waiting for ${pattern}; saw ${JSON.stringify(seen.slice(-500))}`));
    }, timeoutMs);
    const sub = terminal.onData(
      (data) => {
        seen += data;
        if (pattern.test(seen)) {
          clearTimeout(timer);
          sub.dispose();
          resolve(seen);
        }
      },
      { replay: true },
    );
  });
}

/** Registers the terminal behaviour tests under `name`, against what `setup` provides. */
export function terminalSuite(name: string, enabled: boolean, setup: () => Promise<TerminalSuiteSetup>): void {
  describe.skipIf(!enabled)(name, () => {
    let registry: SuiteRegistry;
    let processes: (pattern: string) => string;
    let cleanup: TerminalSuiteSetup['cleanup'];
    beforeAll(async () => {
      const s = await setup();
      registry = s.registry;
      processes = (pattern) => s.processes(pattern);
      cleanup = s.cleanup;
    });
    afterAll(async () => {
      await registry?.killAll();
      await cleanup?.();
    });

    it('runs what is typed: echo $((6*7)) prints 42', async () => {
      const t = await registry.spawn({ command: 'sh' });
      t.write('echo $((6*7))\r');
      const out = await waitFor(t, /\r\n42\r\n/);
      expect(out).toContain('42');
      await registry.kill(t.id);
    });

    it('resizes: stty size prints 40 120 after resize(120, 40)', async () => {
      const t = await registry.spawn({ command: 'sh', cols: 80, rows: 24 });
      t.resize(120, 40);
      expect(t.size).toEqual({ cols: 120, rows: 40 });
      t.write('stty size\r');
      await waitFor(t, /\r\n40 120\r\n/);
      await registry.kill(t.id);
    });

    it('refuses absurd sizes with a typed error', async () => {
      const t = await registry.spawn({ command: 'sh' });
      for (const [cols, rows] of [
        [0, 24],
        [80, 0],
        [100_000, 24],
        [80, 1e6],
        [Number.NaN, 24],
      ] as const) {
        expect(codeOf(() => t.resize(cols, rows))).toBe('INVALID_INPUT');
      }
      expect(t.size).toEqual({ cols: 80, rows: 24 });
      await registry.kill(t.id);
    });

    it('reports the exit code: exit 3 gives 3 to onExit', async () => {
      const t = await registry.spawn({ command: 'sh' });
      const exit = new Promise((resolve) => t.onExit(resolve));
      t.write('exit 3\r');
      expect(await exit).toMatchObject({ exitCode: 3 });
      expect(t.isAlive).toBe(false);
      expect(registry.list()).toContainEqual({ id: t.id, command: 'sh', alive: false });
      expect(codeOf(() => t.write('x'))).toBe('NOT_FOUND');
      await registry.kill(t.id);
    });

    it('kill() leaves none of its processes in the container, and the registry forgets it', async () => {
      const t = await registry.spawn({ command: 'sleep 4242 & sleep 4243' });
      await new Promise((r) => setTimeout(r, 500));
      expect(processes('sleep 424[23]')).toBe('2');
      expect(await registry.kill(t.id)).toBe(true);
      expect(processes('sleep 424[23]')).toBe('0');
      expect(registry.get(t.id)).toBeUndefined();
      expect(registry.list().some((s) => s.id === t.id)).toBe(false);
      expect(await registry.kill(t.id)).toBe(false);
    });

    it('kill() right after spawn still kills the process that starts late', async () => {
      for (let i = 0; i < 3; i++) {
        const t = await registry.spawn({ command: 'sleep 4244' });
        await registry.kill(t.id);
        await new Promise((r) => setTimeout(r, 500));
        expect(processes('sleep 4244'), `round ${i}`).toBe('0');
      }
    });

    it('serves many listeners, each disposable', async () => {
      const t = await registry.spawn({ command: 'sh' });
      let a = '';
      let b = '';
      const subA = t.onData((d) => {
        a += d;
      });
      t.onData((d) => {
        b += d;
      });
      t.write('echo first\r');
      await waitFor(t, /\r\nfirst\r\n/);
      subA.dispose();
      t.write('echo second\r');
      await waitFor(t, /\r\nsecond\r\n/);
      expect(a).toContain('first');
      expect(a).not.toContain('\r\nsecond');
      expect(b).toContain('\r\nsecond');
      await registry.kill(t.id);
    });

    it('replays the last scrollback bytes, in order and within the bound, to a late listener', async () => {
      const bound = 64 * 1024;
      const t = await registry.spawn({ command: 'seq 1 150000; sleep 60', scrollbackBytes: bound });
      let everything = '';
      t.onData((d) => {
        everything += d;
      });
      await waitFor(t, /\r\n150000\r\n/, 30_000);
      expect(Buffer.byteLength(everything)).toBeGreaterThan(1_000_000);
      let replayed = '';
      t.onData(
        (d) => {
          replayed += d;
        },
        { replay: true },
      );
      expect(Buffer.byteLength(replayed)).toBeLessThanOrEqual(bound);
      expect(Buffer.byteLength(replayed)).toBeGreaterThan(bound - 4);
      expect(everything.endsWith(replayed)).toBe(true);
      expect(replayed.endsWith('149999\r\n150000\r\n')).toBe(true);
      await registry.kill(t.id);
    });

    it('keeps memory bounded through a 20 MB flood', async () => {
      const before = await retainedBytes();
      const t = await registry.spawn({ command: "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo FLOOD-DONE" });
      let bytes = 0;
      t.onData((d) => {
        bytes += d.length;
      });
      await t.exited;
      const growth = (await retainedBytes()) - before;
      expect(bytes).toBeGreaterThan(20_000_000);
      expect(t.outputStats.totalBytes).toBeGreaterThan(20_000_000);
      expect(Buffer.byteLength(t.scrollback())).toBeLessThanOrEqual(256 * 1024);
      expect(growth).toBeLessThan(4 * 1024 * 1024);
      await registry.kill(t.id);
    });
  });
}
