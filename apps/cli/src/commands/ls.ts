import { listSessions } from '@axo/runtime';
import { loadSettings } from '../config';
import { writeText } from '../io';
import { age, color, table } from '../ui';

/** `axo ls`: this owner's sessions. */
export async function ls(o: { json?: boolean }): Promise<number> {
  const settings = await loadSettings();
  const sessions = await listSessions({ owner: settings.owner });
  if (o.json) {
    const rows = sessions.map((s) => ({
      id: s.sessionId,
      container: s.name,
      state: s.state,
      workdir: s.workdir,
      image: s.image,
      ports: s.ports,
      createdAt: s.createdAt === undefined ? null : new Date(s.createdAt * 1000).toISOString(),
    }));
    writeText(1, `${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  if (sessions.length === 0) {
    writeText(1, `no sessions (start one with ${color.cyan('axo up')})\n`);
    return 0;
  }
  const rows = sessions.map((s) => [
    s.sessionId,
    s.state === 'running' ? color.green(s.state) : color.yellow(s.state),
    s.workdir,
    s.image,
    s.ports.map((p) => `${p.hostIp}:${p.hostPort}`).join(',') || '-',
    age(s.createdAt),
  ]);
  writeText(1, `${table(['ID', 'STATE', 'WORKDIR', 'IMAGE', 'PORTS', 'AGE'], rows)}\n`);
  return 0;
}
