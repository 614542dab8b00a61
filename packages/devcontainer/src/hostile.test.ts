// Repositories are fed to a server: whatever their devcontainer.json holds, the reader
// answers quickly with a request or a typed, line-numbered error — never a stray exception.
import { AxoError } from '@axo/podman-args';
import jsonc from 'jsonc-parser';
import { describe, expect, it, vi } from 'vitest';
import { DevcontainerError } from './error';
import { MAX_DEVCONTAINER_BYTES, MAX_DEVCONTAINER_DEPTH } from './limits';
import { parseDevcontainer } from './parse';

const FILE = '.devcontainer/devcontainer.json';
const parse = (text: string) => parseDevcontainer(text, { file: FILE });
function errorOf(text: string): DevcontainerError {
  try {
    parse(text);
  } catch (e) {
    return e as DevcontainerError;
  }
  throw new Error('expected an error');
}

describe('empty commands mean nothing to run', () => {
  it.each([
    ['""', '""'],
    ['blank', '"   "'],
    ['[]', '[]'],
    ['{}', '{}'],
    ['an object of blank entries', '{ "a": "", "b": [] }'],
  ])('postCreateCommand %s', (_, value) => {
    const r = parse(`{ "postCreateCommand": ${value} }`);
    expect(r.postCreateCommands).toEqual([]);
    expect(r.lifecycle.postCreate).toEqual([]);
    expect(r.ignored).toEqual([]);
  });

  it('reads the codespaces-jupyter template, whose postCreateCommand is ""', () => {
    const r = parse(`{
      "image": "mcr.microsoft.com/devcontainers/universal:2",
      "hostRequirements": { "cpus": 4 },
      "waitFor": "onCreateCommand",
      "updateContentCommand": "python3 -m pip install -r requirements.txt",
      "postCreateCommand": "",
      "customizations": { "codespaces": { "openFiles": [] }, "vscode": { "extensions": ["ms-python.python"] } }
    }`);
    expect(r.postCreateCommands).toEqual([]);
    expect(r.lifecycle.updateContent).toEqual([{ command: 'python3 -m pip install -r requirements.txt' }]);
    expect(r.waitFor).toBe('onCreateCommand');
  });
});

describe('size', () => {
  it('is limited to 1 MiB', () => {
    expect(MAX_DEVCONTAINER_BYTES).toBe(1024 * 1024);
  });

  it('reads a file just under the limit with about 100,000 keys in well under a second', () => {
    const keys: string[] = [];
    let size = 2;
    for (let i = 0; size < MAX_DEVCONTAINER_BYTES - 16; i++) {
      const entry = `"${i.toString(36)}":0,\n`;
      keys.push(entry);
      size += entry.length;
    }
    const text = `{${keys.join('')}}`;
    expect(text.length).toBeLessThanOrEqual(MAX_DEVCONTAINER_BYTES);
    expect(keys.length).toBeGreaterThan(95_000);

    const started = performance.now();
    const r = parse(text);
    const elapsed = performance.now() - started;
    expect(r.ignored).toHaveLength(keys.length);
    expect(r.ignored.at(-1)).toEqual({ key: (keys.length - 1).toString(36), reason: 'unknown key', line: keys.length });
    // About 150 ms. Finding each key's line by slicing the text made this quadratic: minutes for 5.7 MB.
    expect(elapsed).toBeLessThan(2000);
  });

  it('refuses a larger file before parsing it, with a typed error and a hint', () => {
    // 5.7 MB of keys: refused at once, not parsed.
    const text = `{${'"key":0,\n'.repeat(640_000)}}`;
    const started = performance.now();
    const e = errorOf(text);
    expect(performance.now() - started).toBeLessThan(100);
    expect(e).toBeInstanceOf(DevcontainerError);
    expect(AxoError.isInstance(e) && e.code).toBe('INVALID_INPUT');
    expect(e.message).toBe(`${FILE}:1:1: the file is larger than 1048576 bytes (1 MiB), the most axo reads`);
    expect(e.hint).toMatch(/a few kilobytes/);
  });

  it('counts UTF-8 bytes, not characters', () => {
    // 400,000 characters, but 1.2 MB once encoded.
    const text = `{ "name": "${'€'.repeat(400_000)}" }`;
    expect(text.length).toBeLessThan(MAX_DEVCONTAINER_BYTES);
    expect(errorOf(text).message).toMatch(/larger than 1048576 bytes/);
    expect(parse(`{ "name": "${'€'.repeat(340_000)}" }`).name).toHaveLength(340_000);
  });
});

describe('nesting', () => {
  it('turns 100,000 nested arrays into a DevcontainerError, not a RangeError', () => {
    const e = errorOf(`{ "x": ${'['.repeat(100_000)}${']'.repeat(100_000)} }`);
    expect(e).toBeInstanceOf(DevcontainerError);
    expect(e.message).toBe(`${FILE}:1:${8 + MAX_DEVCONTAINER_DEPTH - 1}: nested more than 64 levels deep`);
  });

  it('is not fooled by closers of the wrong kind, which the parser skips', () => {
    const e = errorOf(`{ "x": ${'[}'.repeat(50_000)} }`);
    expect(e).toBeInstanceOf(DevcontainerError);
    expect(e.message).toMatch(/nested more than 64 levels deep/);
  });

  it('accepts 64 levels and refuses 65, counting the top-level object', () => {
    const nested = (levels: number) => `{ "customizations": ${'['.repeat(levels - 1)}${']'.repeat(levels - 1)} }`;
    expect(parse(nested(64)).ignored).toEqual([{ key: 'customizations', reason: expect.any(String), line: 1 }]);
    expect(errorOf(nested(65)).message).toMatch(/nested more than 64 levels deep/);
  });

  it('turns a stack overflow in the parser into a DevcontainerError, should one happen anyway', () => {
    const overflow = new RangeError('Maximum call stack size exceeded');
    const spy = vi.spyOn(jsonc, 'parseTree').mockImplementation(() => {
      throw overflow;
    });
    try {
      const e = errorOf('{}');
      expect(e).toBeInstanceOf(DevcontainerError);
      expect(e).toMatchObject({ message: `${FILE}:1:1: too deeply nested to read`, cause: overflow });
    } finally {
      spy.mockRestore();
    }
  });

  it('does not count brackets in strings and comments', () => {
    const r = parse(
      `{ "name": "${'['.repeat(1000)}", /* ${'{'.repeat(1000)} */ "image": "a" // ${'['.repeat(1000)}\n}`,
    );
    expect(r).toMatchObject({ name: '['.repeat(1000), image: 'a' });
  });
});

describe('prototype keys', () => {
  it('reports top-level keys named like Object.prototype members as unknown', () => {
    const r = parse('{\n  "constructor": 1,\n  "toString": 2,\n  "hasOwnProperty": 3,\n  "image": "a"\n}');
    expect(r.image).toBe('a');
    expect(r.ignored).toEqual([
      { key: 'constructor', reason: 'unknown key', line: 2 },
      { key: 'toString', reason: 'unknown key', line: 3 },
      { key: 'hasOwnProperty', reason: 'unknown key', line: 4 },
    ]);
    expect(r.lines).toMatchObject({ constructor: 2, toString: 3, hasOwnProperty: 4, image: 5 });
  });

  it('carries variables and commands named like Object.prototype members', () => {
    const r = parse(`{
      "containerEnv": { "constructor": "a", "toString": "b" },
      "remoteEnv": { "valueOf": null },
      "postCreateCommand": { "constructor": "echo hi" },
      "build": { "dockerfile": "Dockerfile", "args": { "toString": "x" } }
    }`);
    expect(Object.entries(r.containerEnv)).toEqual([
      ['constructor', 'a'],
      ['toString', 'b'],
    ]);
    expect(Object.entries(r.remoteEnv)).toEqual([['valueOf', null]]);
    expect(r.postCreateCommands).toEqual([{ name: 'constructor', command: 'echo hi' }]);
    expect(Object.entries(r.build?.args ?? {})).toEqual([['toString', 'x']]);
  });

  it.each([
    [
      'containerEnv',
      '{\n  "containerEnv": {\n    "A": "1",\n    "__proto__": "x"\n  }\n}',
      4,
      5,
      'containerEnv.__proto__',
    ],
    ['remoteEnv', '{\n  "remoteEnv": {\n    "__proto__": null\n  }\n}', 3, 5, 'remoteEnv.__proto__'],
    [
      'postCreateCommand',
      '{\n  "postCreateCommand": { "__proto__": "rm -rf /" }\n}',
      2,
      26,
      'postCreateCommand.__proto__',
    ],
    [
      'build.args',
      '{\n  "build": { "dockerfile": "D", "args": { "__proto__": "1" } }\n}',
      2,
      43,
      'build.args.__proto__',
    ],
    ['the top level', '{\n  "image": "a",\n  "__proto__": { "image": "b" }\n}', 3, 3, '__proto__'],
  ])('refuses a __proto__ key in %s with its line, rather than dropping it silently', (_, text, line, column, key) => {
    const e = errorOf(text);
    expect(e).toBeInstanceOf(DevcontainerError);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.message).toContain(`"${key}": a key named __proto__ is refused`);
  });
});

describe('line endings and byte order mark', () => {
  const lines = ['{', '  "image": "a",', '  "runArgs": [],', '  "remoteUser": "node"', '}'];

  it('accepts a UTF-8 byte order mark, as the Dev Containers CLI does', () => {
    const r = parse(`\uFEFF${lines.join('\n')}`);
    expect(r).toMatchObject({ image: 'a', remoteUser: 'node', ignored: [{ key: 'runArgs', line: 3 }] });
    expect(errorOf('\uFEFF{\n  "image": 1\n}')).toMatchObject({ line: 2, column: 12 });
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR only', '\r'],
  ])('gives correct lines and columns with %s line endings', (_, eol) => {
    const r = parse(lines.join(eol));
    expect(r.ignored).toEqual([{ key: 'runArgs', reason: expect.any(String), line: 3 }]);
    expect(r.lines).toEqual({ image: 2, runArgs: 3, remoteUser: 4 });
    const e = errorOf(['{', '  "image": "a",', '  "remoteUser": 7', '}'].join(eol));
    expect([e.line, e.column]).toEqual([3, 17]);
  });
});

describe('quiet changes are reported, with lines', () => {
  it('gives the line of every top-level key, the ones axo reads too', () => {
    const r = parse(
      '{\n  "name": "x",\n  "remoteUser": "node",\n  "workspaceFolder": "/w",\n  "containerUser": "root",\n  "features": {}\n}',
    );
    expect(r.lines).toEqual({ name: 2, remoteUser: 3, workspaceFolder: 4, containerUser: 5, features: 6 });
  });

  it('takes "0.0.0.0:3002" as port 3002, noting that it is published on 127.0.0.1 only', () => {
    const r = parse('{\n  "forwardPorts": [\n    3000,\n    "0.0.0.0:3002"\n  ]\n}');
    expect(r.forwardPorts).toEqual([3000, 3002]);
    expect(r.ignored).toEqual([]);
    expect(r.notes).toEqual([
      {
        key: 'forwardPorts: "0.0.0.0:3002"',
        message: expect.stringMatching(/published on 127\.0\.0\.1 only/),
        line: 4,
      },
    ]);
  });

  it('notes a repeated key, whose last value is the one used', () => {
    const r = parse('{\n  "image": "trusted",\n  "containerEnv": { "A": "1", "A": "2" },\n  "image": "other"\n}');
    expect(r.image).toBe('other');
    expect(r.containerEnv).toEqual({ A: '2' });
    expect(r.lines.image).toBe(4);
    expect(r.notes).toEqual([
      { key: 'image', message: 'given more than once; the one on line 4 is used', line: 2 },
      { key: 'containerEnv.A', message: 'given more than once; the one on line 3 is used', line: 3 },
    ]);
  });
});
