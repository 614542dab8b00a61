import { existsSync } from 'node:fs';
import { listSessions, reapOrphans } from '@axo/runtime';
import { loadSettings } from '../config';
import { writeText } from '../io';

/** `axo reap`: removes this owner's sessions that are no longer usable. */
export async function reap(o: { json?: boolean }): Promise<number> {
  const settings = await loadSettings();
  // A CLI session is an orphan when its container stopped or its directory is gone.
  const alive = (await listSessions({ owner: settings.owner }))
    .filter((s) => s.state === 'running' && existsSync(s.workdir))
    .map((s) => s.sessionId);
  const result = await reapOrphans(alive, { owner: settings.owner });
  if (o.json) writeText(1, `${JSON.stringify(result, null, 2)}\n`);
  else if (result.removed.length === 0) writeText(1, 'nothing to reap\n');
  else for (const name of result.removed) writeText(1, `reaped ${name}\n`);
  return 0;
}
