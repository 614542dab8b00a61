// The E2B lifecycle against fake sessions: concurrent changes of one sandbox do not undo each
// other, the deadline check does not overlap itself, a sandbox that cannot be paused at its
// deadline is killed, and a state directory that cannot be written never crashes the server.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { E2bSandboxes } from './sandboxes';
import type { SandboxRecord } from './store';

vi.mock('@axo/runtime', async (original) => ({
  ...(await original<typeof import('@axo/runtime')>()),
  // autoPause applies only where this host can pause; these tests decide what pausing does.
  pauseSupport: () => ({ supported: true }),
}));

const ID = 'iaaaaaaaaaaaaaaaaaaa';
const CREATED = new Date('2025-01-01T00:00:00.000Z');

/** A promise and the function that settles it. */
function gate() {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  // Failed before anyone awaits it is not an unhandled rejection: the awaiting pause sees it.
  promise.catch(() => undefined);
  return { promise, open, fail };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await tick();
  }
  throw new Error(`${what} did not happen`);
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Sandboxes over one fake session (`ID`), its record stored with `overrides`. */
async function setUp(overrides: Partial<SandboxRecord> = {}) {
  const base = mkdtempSync(join(tmpdir(), 'axo-e2b-sandboxes-'));
  dirs.push(base);
  const stateDir = join(base, 'state');
  const workdir = join(base, 'root', ID);
  mkdirSync(stateDir);
  mkdirSync(workdir, { recursive: true });
  const record: SandboxRecord = {
    sandboxID: ID,
    templateID: 'base',
    image: 'img',
    metadata: {},
    envVars: {},
    startedAt: CREATED.toISOString(),
    endAt: new Date(Date.now() + 600_000).toISOString(),
    autoPause: false,
    timeout: 600,
    paused: false,
    home: '/home/user',
    token: 'token',
    tokenId: 'tok-1',
    sessionCreatedAt: CREATED.toISOString(),
    workdir,
    allowInternetAccess: null,
    ...overrides,
  };
  const file = join(stateDir, 'e2b-sandboxes.json');
  writeFileSync(file, JSON.stringify({ version: 1, sandboxes: [record] }));

  const session = {
    id: ID,
    createdAt: CREATED,
    lastUsedAt: new Date(),
    attachedClients: 0,
    sandbox: { paused: false },
  };
  const live = new Map([[ID, session]]);
  /** What the next podman pause waits for (settle it to let the pause finish). */
  let pausing = gate();
  const sessions = {
    list: () => [...live.values()],
    pause: vi.fn(async () => {
      await pausing.promise;
      session.sandbox.paused = true;
    }),
    resume: vi.fn(async () => {
      session.sandbox.paused = false;
    }),
    remove: vi.fn(async (id: string) => {
      live.delete(id);
    }),
  };
  const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const sandboxes = await E2bSandboxes.load({
    sessions: sessions as never,
    tokens: { revoke: vi.fn(async () => undefined), list: () => [] } as never,
    config: { stateDir, allowedRoots: [join(base, 'root')] } as never,
    log,
  });
  const stored = (): SandboxRecord[] => JSON.parse(readFileSync(file, 'utf8')).sandboxes;
  return {
    sandboxes,
    sessions,
    session,
    live,
    log,
    file,
    stored,
    pausing: () => pausing,
    nextPause: () => {
      pausing = gate();
    },
  };
}

describe('E2B sandbox lifecycle', () => {
  it('a kill during a pause stays killed: the pause does not write the record back', async () => {
    const t = await setUp();
    const paused = t.sandboxes.pause(ID).catch((e: unknown) => e);
    await until(() => t.sessions.pause.mock.calls.length === 1, 'podman pause');
    const killed = t.sandboxes.kill(ID);
    t.pausing().open();
    expect(await killed).toBe(true);
    // The pause lost the race to a kill: the sandbox is gone, and stays gone.
    expect(await paused).toMatchObject({ status: 404 });
    expect(t.sandboxes.find(ID)).toBeUndefined();
    expect(t.stored()).toEqual([]);
  });

  it('a deadline set during a pause is kept', async () => {
    const t = await setUp();
    const paused = t.sandboxes.pause(ID);
    await until(() => t.sessions.pause.mock.calls.length === 1, 'podman pause');
    const moved = t.sandboxes.setTimeout(ID, 1234);
    t.pausing().open();
    expect(await paused).toBe(true);
    await moved;
    expect(t.sandboxes.find(ID)?.record).toMatchObject({ paused: true, timeout: 1234 });
    expect(t.stored()[0]).toMatchObject({ paused: true, timeout: 1234 });
  });

  it('a connect during a pause resumes the sandbox after it, thawing the container', async () => {
    const t = await setUp();
    const paused = t.sandboxes.pause(ID);
    await until(() => t.sessions.pause.mock.calls.length === 1, 'podman pause');
    const connected = t.sandboxes.connect(ID, 60);
    t.pausing().open();
    expect(await paused).toBe(true);
    expect(await connected).toMatchObject({ resumed: true, record: { paused: false, timeout: 60 } });
    expect(t.sessions.resume).toHaveBeenCalledTimes(1);
    expect(t.session.sandbox.paused).toBe(false);
    expect(t.stored()[0]).toMatchObject({ paused: false });
  });

  it('skips a deadline check while the last one still runs', async () => {
    const t = await setUp({ autoPause: true, endAt: new Date(Date.now() - 1000).toISOString() });
    const first = t.sandboxes.expire();
    await until(() => t.sessions.pause.mock.calls.length === 1, 'podman pause');
    const second = t.sandboxes.expire();
    t.pausing().open();
    await Promise.all([first, second]);
    expect(t.sessions.pause).toHaveBeenCalledTimes(1);
    const pausedLogs = t.log.info.mock.calls.filter(([m]) => String(m).includes('paused: its timeout passed'));
    expect(pausedLogs).toHaveLength(1);
    expect(t.sandboxes.find(ID)?.record.paused).toBe(true);
  });

  it('kills a sandbox with autoPause whose pause fails at its deadline, saying why', async () => {
    const t = await setUp({ autoPause: true, endAt: new Date(Date.now() - 1000).toISOString() });
    t.pausing().fail(new Error('podman pause: the cgroup is gone'));
    await t.sandboxes.expire();
    expect(t.sessions.remove).toHaveBeenCalledWith(ID);
    expect(t.sandboxes.find(ID)).toBeUndefined();
    expect(t.stored()).toEqual([]);
    expect(t.log.warn).toHaveBeenCalledWith(expect.stringContaining(`could not pause ${ID}`), expect.anything());
  });

  it('a state directory that cannot be written is logged, never an unhandled rejection', async () => {
    const t = await setUp();
    // Saving renames a temporary file over this path: a directory there makes every save fail.
    rmSync(t.file);
    mkdirSync(join(t.file, 'blocker'), { recursive: true });
    t.live.delete(ID);
    // A lookup of a sandbox whose session went forgets it in the background.
    expect(t.sandboxes.find(ID)).toBeUndefined();
    await until(() => t.log.error.mock.calls.length > 0, 'the failed save logged');
    expect(t.log.error).toHaveBeenCalledWith(expect.stringContaining(`could not forget gone sandbox ${ID}`), {
      err: expect.anything(),
    });
  });

  it('a deadline check whose cleanup cannot be saved resolves, and logs it', async () => {
    const t = await setUp();
    rmSync(t.file);
    mkdirSync(join(t.file, 'blocker'), { recursive: true });
    t.live.delete(ID);
    await expect(t.sandboxes.expire()).resolves.toBeUndefined();
    expect(t.log.error).toHaveBeenCalledWith(expect.stringContaining(`could not forget gone sandbox ${ID}`), {
      err: expect.anything(),
    });
  });
});
