import { AxoError, listSessions, removeSessions } from '@axo/runtime';
import { loadSettings } from '../config';
import { EXIT } from '../exit-codes';
import { writeText } from '../io';
import { spinner } from '../ui';

/** `axo down <id…>` / `axo down --all`: removes sessions. */
export async function down(ids: readonly string[], o: { all?: boolean }): Promise<number> {
  if (!o.all && ids.length === 0) {
    throw new AxoError('INVALID_INPUT', 'name the sessions to remove, or pass --all', { hint: 'axo ls lists them' });
  }
  if (o.all && ids.length > 0) throw new AxoError('INVALID_INPUT', 'give session ids or --all, not both');
  const settings = await loadSettings();
  const targets = o.all ? (await listSessions({ owner: settings.owner })).map((s) => s.sessionId) : ids;
  const progress = spinner(`removing ${targets.length} session(s)`);
  const removed = await removeSessions(targets, { owner: settings.owner }).finally(() => progress.stop());
  for (const id of removed) writeText(1, `removed ${id}\n`);
  const missing = targets.filter((id) => !removed.includes(id));
  for (const id of missing) writeText(2, `axo: no session "${id}"\n`);
  return missing.length > 0 ? EXIT.notFound : EXIT.ok;
}
