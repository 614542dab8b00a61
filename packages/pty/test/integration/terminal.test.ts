import { AxoError, buildRunArgs, InvalidInputError, LABELS } from '@axo/podman-args';
import {
  podman,
  podmanGate,
  removeContainersByLabel,
  retainedBytes,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PtyTerminal, TerminalRegistry } from '../../src/index';

const gate = podmanGate();
const owner = uniqueOwner('pty');

/** Resolves with everything the terminal printed once `pattern` appears in it. */
function waitFor(terminal: PtyTerminal, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
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

describe.skipIf(!gate.ok)('terminals in a real container', () => {
  const dir = tempDir();
  const sessionId = `${owner}-s`;
  const container = `axo-ses-${sessionId}`;
  let registry: TerminalRegistry;
  const processes = (pattern: string) =>
    podman(['exec', container, 'sh', '-c', `ps -o args | grep -v grep | grep -c '${pattern}' || true`]).trim();

  beforeAll(() => {
    podman(buildRunArgs({ sessionId, owner, workdir: dir.path, image: TEST_IMAGE }));
    registry = new TerminalRegistry({ container });
  });
  afterAll(async () => {
    await registry.killAll();
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    dir[Symbol.dispose]();
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
      expect(() => t.resize(cols, rows)).toThrow(InvalidInputError);
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
    expect(() => t.write('x')).toThrow(AxoError);
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
