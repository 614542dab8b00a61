import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

// A change to this list is a change to the public API: review it as one.
it('exposes exactly the reviewed public surface', async () => {
  expect(Object.keys(await import('./index')).sort()).toEqual([
    'AxoClient',
    'AxoClientError',
    'FileWatcher',
    'Files',
    'ProcessHandle',
    'Processes',
    'SessionTokens',
    'Sessions',
    'Tasks',
    'TerminalConnection',
    'Terminals',
    'createClient',
    'ndjson',
  ]);
});

// Browsers run it too: fetch, streams, WebSocket and TextEncoder/Decoder only.
it('uses no Node built-ins outside its tests', () => {
  const dir = new URL('.', import.meta.url).pathname;
  const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  expect(sources.length).toBeGreaterThan(5);
  for (const file of sources) {
    const text = readFileSync(join(dir, file), 'utf8');
    expect(text, file).not.toMatch(/from ['"]node:|require\(|\bBuffer\.|\bprocess\.|from ['"]@axo\//);
  }
});
