import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { shellJoin } from './shell';

it('quotes so that sh gives back exactly the same arguments', () => {
  const argv = ['plain', 'with space', "it's", '$HOME', '`id`', 'a"b', '', '--flag=1', 'ünï'];
  const line = shellJoin(argv);
  const echoed = execFileSync('sh', ['-c', `for a in ${line}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
  expect(echoed.split('\0').slice(0, -1)).toEqual(argv);
  expect(shellJoin(['npm', 'ci'])).toBe('npm ci');
});
