import { randomBytes } from 'node:crypto';

let counter = 0;

/**
 * A new id like `task-1k-9f3a0c2e`: the counter makes ids unique within the process even
 * when many are made in one millisecond; the random part keeps processes apart.
 */
export function newId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter.toString(36)}-${randomBytes(4).toString('hex')}`;
}
