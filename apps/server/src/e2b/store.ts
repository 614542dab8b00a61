// What the façade keeps about each E2B sandbox beyond its axo session: template, metadata,
// the E2B deadline, the default user, and the envd access token itself (the SDK signs file
// URLs with it, so the server must be able to recompute signatures; like the operator token
// it is kept in a 0600 file in the state directory). Written atomically, one write at a time,
// so a restarted server still knows its sandboxes.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const sandboxRecordSchema = z.object({
  sandboxID: z.string(),
  templateID: z.string(),
  image: z.string(),
  metadata: z.record(z.string(), z.string()),
  envVars: z.record(z.string(), z.string()),
  startedAt: z.string(),
  /** When the E2B timeout ends the sandbox (or pauses it, with autoPause). */
  endAt: z.string(),
  autoPause: z.boolean(),
  /** The last timeout asked for (seconds): an auto-resumed sandbox gets it again. */
  timeout: z.number().int().min(0).default(300),
  /**
   * Paused through E2B (pause, or autoPause at the deadline): E2B's `paused` state, which
   * only connect or an envd call ends. axo's own idle pause is not this: it is invisible.
   */
  paused: z.boolean().default(false),
  /** The default user's name for the agent; absent: the session's own user. */
  user: z.string().optional(),
  /** The default user's home: the working directory and the base of relative paths. */
  home: z.string(),
  /** The envd access token (a session token of the session). */
  token: z.string(),
  tokenId: z.string(),
  /** The session's creation time: a later session of the same id is another sandbox. */
  sessionCreatedAt: z.string(),
  /** The host directory made for the session (removed with it). */
  workdir: z.string(),
  allowInternetAccess: z.boolean().nullable(),
  network: z.object({ allowOut: z.array(z.string()).optional(), denyOut: z.array(z.string()).optional() }).optional(),
});
export type SandboxRecord = z.output<typeof sandboxRecordSchema>;

const fileSchema = z.object({ version: z.literal(1), sandboxes: z.array(sandboxRecordSchema) });

export class SandboxStore {
  readonly #file: string;
  readonly #records = new Map<string, SandboxRecord>();
  #saving: Promise<void> = Promise.resolve();

  private constructor(file: string) {
    this.#file = file;
  }

  /** Loads the stored sandboxes (none when there is no file yet). */
  static async load(stateDir: string): Promise<SandboxStore> {
    const store = new SandboxStore(join(stateDir, 'e2b-sandboxes.json'));
    const text = await readFile(store.#file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text === undefined) return store;
    const parsed = fileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${store.#file} is not an E2B sandbox file; move it away to start afresh`);
    for (const r of parsed.data.sandboxes) store.#records.set(r.sandboxID, r);
    await chmod(store.#file, 0o600);
    return store;
  }

  get(id: string): SandboxRecord | undefined {
    return this.#records.get(id);
  }

  list(): SandboxRecord[] {
    return [...this.#records.values()];
  }

  async set(record: SandboxRecord): Promise<void> {
    this.#records.set(record.sandboxID, record);
    await this.save();
  }

  async delete(id: string): Promise<boolean> {
    const had = this.#records.delete(id);
    if (had) await this.save();
    return had;
  }

  /** Writes the file atomically (a temporary file renamed over it), one write at a time. */
  save(): Promise<void> {
    const text = `${JSON.stringify({ version: 1, sandboxes: this.list() }, null, 2)}\n`;
    this.#saving = this.#saving
      .catch(() => undefined)
      .then(async () => {
        await mkdir(join(this.#file, '..'), { recursive: true, mode: 0o700 });
        const tmp = `${this.#file}.${randomBytes(4).toString('hex')}.tmp`;
        await writeFile(tmp, text, { mode: 0o600 });
        await rename(tmp, this.#file);
      });
    return this.#saving;
  }
}
