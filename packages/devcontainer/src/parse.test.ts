import { AxoError } from '@axo/podman-args';
import { describe, expect, it } from 'vitest';
import { DevcontainerError, findDevcontainer, parseDevcontainer } from './parse';

const parse = (text: string) => parseDevcontainer(text, { file: '.devcontainer/devcontainer.json' });
function errorOf(text: string): DevcontainerError {
  try {
    parse(text);
  } catch (e) {
    return e as DevcontainerError;
  }
  throw new Error('expected an error');
}

describe('parseDevcontainer', () => {
  it('reads JSONC: comments and trailing commas', () => {
    const r = parse(`{
      // the image
      "image": "node:22", /* block */
      "forwardPorts": [3000,],
    }`);
    expect(r).toMatchObject({ image: 'node:22', forwardPorts: [3000], ignored: [] });
  });

  it('takes forwardPorts as numbers and "host:port" strings of this container', () => {
    const r = parse('{ "forwardPorts": [3000, "8080", "localhost:5173", "127.0.0.1:9000", 3000] }');
    expect(r.forwardPorts).toEqual([3000, 8080, 5173, 9000]);
  });

  it('reports forwarded ports of other hosts instead of dropping them silently', () => {
    const r = parse('{\n  "forwardPorts": ["db:5432", "x:99999"]\n}');
    expect(r.forwardPorts).toEqual([]);
    expect(r.ignored).toEqual([
      { key: 'forwardPorts: "db:5432"', reason: expect.stringMatching(/session container/), line: 2 },
      { key: 'forwardPorts: "x:99999"', reason: expect.any(String), line: 2 },
    ]);
  });

  it('takes postCreateCommand as a string', () => {
    expect(parse('{ "postCreateCommand": "npm ci && npm test" }').postCreateCommands).toEqual([
      { command: 'npm ci && npm test' },
    ]);
  });

  it('takes postCreateCommand as an exec-form array, quoted into one command line', () => {
    expect(parse(`{ "postCreateCommand": ["echo", "it's a test", "$HOME"] }`).postCreateCommands).toEqual([
      { command: `echo 'it'\\''s a test' '$HOME'` },
    ]);
  });

  it('takes postCreateCommand as an object of named commands', () => {
    expect(
      parse('{ "postCreateCommand": { "deps": "npm ci", "hooks": ["git", "config", "core.hooksPath", ".hooks"] } }')
        .postCreateCommands,
    ).toEqual([
      { name: 'deps', command: 'npm ci' },
      { name: 'hooks', command: 'git config core.hooksPath .hooks' },
    ]);
  });

  it('reads containerEnv, remoteUser, workspaceFolder and name', () => {
    const r = parse('{ "name": "x", "containerEnv": { "A": "1" }, "remoteUser": "node", "workspaceFolder": "/w" }');
    expect(r).toMatchObject({ name: 'x', containerEnv: { A: '1' }, remoteUser: 'node', workspaceFolder: '/w' });
  });

  it('reports unsupported and unknown keys with a reason and a line', () => {
    const r = parse('{\n  "image": "a",\n  "runArgs": ["--privileged"],\n  "features": {},\n  "frobnicate": 1\n}');
    expect(r.ignored).toEqual([
      { key: 'runArgs', reason: expect.stringMatching(/hardening/), line: 3 },
      { key: 'features', reason: expect.stringMatching(/features/), line: 4 },
      { key: 'frobnicate', reason: 'unknown key', line: 5 },
    ]);
  });

  it('gives line and column for malformed JSON', () => {
    const e = errorOf('{\n  "image": "a"\n  "forwardPorts": [1]\n}');
    expect(e).toBeInstanceOf(DevcontainerError);
    expect(AxoError.isInstance(e) && e.code).toBe('INVALID_INPUT');
    expect([e.line, e.column]).toEqual([3, 3]);
    expect(e.message).toMatch(/^\.devcontainer\/devcontainer\.json:3:3: invalid JSON \(CommaExpected\)/);
  });

  it('gives line and column for a value of the wrong type', () => {
    const e = errorOf('{\n  "forwardPorts": "3000"\n}');
    expect([e.line, e.column]).toEqual([2, 19]);
    expect(e.message).toMatch(/"forwardPorts"/);
  });

  it('refuses a top level that is not an object', () => {
    expect(errorOf('[1, 2]').message).toMatch(/top level must be an object/);
    expect(errorOf('').message).toMatch(/1:1/);
  });
});

describe('findDevcontainer', () => {
  it('prefers .devcontainer/devcontainer.json, falls back to .devcontainer.json, and reports the file', async () => {
    const files: Record<string, string> = { '.devcontainer.json': '{ "image": "b" }' };
    const read = async (path: string) => files[path];
    expect(await findDevcontainer(read)).toMatchObject({ file: '.devcontainer.json', image: 'b' });
    files['.devcontainer/devcontainer.json'] = '{ "image": "a" }';
    expect(await findDevcontainer(read)).toMatchObject({ file: '.devcontainer/devcontainer.json', image: 'a' });
    expect(await findDevcontainer(async () => undefined)).toBeUndefined();
  });
});
