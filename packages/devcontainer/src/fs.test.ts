import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { readDevcontainer } from './fs';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const repo = () => {
  const dir = mkdtempSync(join(tmpdir(), 'axo-devc-'));
  dirs.push(dir);
  return dir;
};

it('reads .devcontainer/devcontainer.json from a directory, or finds none', async () => {
  const dir = repo();
  expect(await readDevcontainer(dir)).toBeUndefined();
  mkdirSync(join(dir, '.devcontainer'));
  writeFileSync(join(dir, '.devcontainer', 'devcontainer.json'), '{ "image": "x" }');
  expect(await readDevcontainer(dir)).toMatchObject({ file: '.devcontainer/devcontainer.json', image: 'x' });
});

it('does not mistake an unreadable file for a missing one', async () => {
  const dir = repo();
  // A directory where the file should be cannot be read as one.
  mkdirSync(join(dir, '.devcontainer.json'));
  await expect(readDevcontainer(dir)).rejects.toThrow(/EISDIR/);
});
