import { expect, it } from 'vitest';
import { createLineIndex } from './line-index';

it('maps offsets to 1-based lines and columns for LF, CRLF and lone CR line ends', () => {
  const at = createLineIndex('ab\ncd\r\nef\rgh');
  expect([0, 1, 2, 3, 5, 7, 9, 10, 11].map((o) => at(o))).toEqual([
    { line: 1, column: 1 },
    { line: 1, column: 2 },
    { line: 1, column: 3 },
    { line: 2, column: 1 },
    { line: 2, column: 3 },
    { line: 3, column: 1 },
    { line: 3, column: 3 },
    { line: 4, column: 1 },
    { line: 4, column: 2 },
  ]);
  expect(createLineIndex('')(0)).toEqual({ line: 1, column: 1 });
});
