import { loadSettings } from '../config';
import { EXIT } from '../exit-codes';
import { writeText } from '../io';
import { attachSession } from '../session';

/**
 * `axo pause <id…>`: freezes sessions (no CPU, memory and processes kept) until
 * `axo resume`, or until anything uses them: any exec, shell or file call resumes first.
 */
export async function pause(ids: readonly string[]): Promise<number> {
  const { owner } = await loadSettings();
  for (const id of ids) {
    const sandbox = await attachSession(id, owner);
    await sandbox.pause();
    writeText(1, `paused ${id}\n`);
  }
  return EXIT.ok;
}

/** `axo resume <id…>`: thaws paused sessions (using them resumes them too). */
export async function resume(ids: readonly string[]): Promise<number> {
  const { owner } = await loadSettings();
  for (const id of ids) {
    const sandbox = await attachSession(id, owner);
    const pausedMs = await sandbox.resume();
    writeText(
      1,
      pausedMs > 0 ? `resumed ${id} (paused ${(pausedMs / 1000).toFixed(1)} s)\n` : `${id} was not paused\n`,
    );
  }
  return EXIT.ok;
}
