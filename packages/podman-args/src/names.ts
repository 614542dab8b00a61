import { NAME_PREFIX } from './constants';
import { parseInput } from './errors';
import { sessionIdSchema } from './schemas';

/** The container name of a session; throws InvalidInputError for an unusable id. */
export function containerName(sessionId: string): string {
  return `${NAME_PREFIX}${parseInput(sessionIdSchema, sessionId, 'session id')}`;
}
