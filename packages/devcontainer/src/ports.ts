// forwardPorts: which of the asked-for ports are this container's, and how each was written.
import type jsonc from 'jsonc-parser';
import { z } from 'zod';
import { lineOf, type ParseContext, readValue } from './read-value';

const PORT = 'must be a port number (1-65535) or a "host:port" string';
const entrySchema = z.union([z.number().int(PORT).min(1, PORT).max(65535, PORT), z.string().min(1, PORT)], {
  error: PORT,
});
const forwardPortsSchema = z.array(entrySchema);

/**
 * Reads `forwardPorts`. Numbers, `"port"` and `"localhost:port"`/`"127.0.0.1:port"` are
 * this container's ports. `"0.0.0.0:port"` is taken as the port, with a note: the address
 * ports are published on comes from axo's settings, never from the repository. Ports of
 * other hosts (`"db:5432"`, a Compose service) are reported in `ignored`.
 */
export function readForwardPorts(ctx: ParseContext, node: jsonc.Node): number[] {
  const entries = readValue(ctx, 'forwardPorts', node, forwardPortsSchema);
  const ports: number[] = [];
  entries.forEach((entry, i) => {
    const line = lineOf(ctx, node.children?.[i] ?? node);
    if (typeof entry === 'number') {
      ports.push(entry);
      return;
    }
    const match = /^(?:(localhost|127\.0\.0\.1|0\.0\.0\.0):)?(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : Number.NaN;
    if (!match || !(port >= 1 && port <= 65535)) {
      ctx.ignored.push({
        key: `forwardPorts: ${JSON.stringify(entry)}`,
        reason: 'only ports of the session container itself can be forwarded',
        line,
      });
      return;
    }
    ports.push(port);
    if (match[1] === '0.0.0.0') {
      ctx.notes.push({
        key: `forwardPorts: ${JSON.stringify(entry)}`,
        message: `port ${port} is published on 127.0.0.1 only (or the host address axo is configured with), not on all interfaces: a repository does not choose where its ports are exposed`,
        line,
      });
    }
  });
  return [...new Set(ports)];
}
