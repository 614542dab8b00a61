import { describe, expect, it } from 'vitest';
import type { DevcontainerError } from './error';
import { parseDevcontainer } from './parse';

const parse = (text: string, file = '.devcontainer/devcontainer.json') => parseDevcontainer(text, { file });
function errorOf(text: string): DevcontainerError {
  try {
    parse(text);
  } catch (e) {
    return e as DevcontainerError;
  }
  throw new Error('expected an error');
}

describe('build', () => {
  it('reads dockerfile, context, args and target, relative to the directory of devcontainer.json', () => {
    const r = parse(`{
      "build": {
        "dockerfile": "Dockerfile",
        "context": "..",
        "args": { "VARIANT": "22", "USER": "\${localEnv:USER}" },
        "target": "dev"
      }
    }`);
    expect(r.build).toEqual({
      configDir: '.devcontainer',
      dockerfile: 'Dockerfile',
      context: '..',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: devcontainer.json's own ${…} syntax, kept as written
      args: { VARIANT: '22', USER: '${localEnv:USER}' },
      target: 'dev',
      line: 3,
    });
    expect(r.ignored).toEqual([]);
  });

  it('defaults the context to "." and the args to none', () => {
    expect(parse('{ "build": { "dockerfile": "Dockerfile" } }').build).toEqual({
      configDir: '.devcontainer',
      dockerfile: 'Dockerfile',
      context: '.',
      args: {},
      line: 1,
    });
  });

  it('takes the repository root as configDir for .devcontainer.json, and "." without a file name', () => {
    expect(parse('{ "build": { "dockerfile": "x/Dockerfile" } }', '.devcontainer.json').build?.configDir).toBe('.');
    expect(parseDevcontainer('{ "build": { "dockerfile": "D" } }').build?.configDir).toBe('.');
  });

  it('reads the legacy top-level dockerFile and context', () => {
    const r = parse('{\n  "dockerFile": "../Dockerfile",\n  "context": "..",\n  "build": { "args": { "A": "1" } }\n}');
    expect(r.build).toEqual({
      configDir: '.devcontainer',
      dockerfile: '../Dockerfile',
      context: '..',
      args: { A: '1' },
      line: 2,
    });
    expect(r.ignored).toEqual([]);
  });

  it('uses the top-level dockerFile over build.dockerfile, as the Dev Containers CLI does, and says so', () => {
    const r = parse('{\n  "dockerFile": "A",\n  "build": {\n    "dockerfile": "B",\n    "context": "ctx"\n  }\n}');
    expect(r.build).toMatchObject({ dockerfile: 'A', context: '.' });
    expect(r.ignored).toEqual([
      { key: 'build.dockerfile', reason: expect.stringMatching(/top-level "dockerFile" wins/), line: 4 },
      { key: 'build.context', reason: expect.stringMatching(/top-level "context" is used/), line: 5 },
    ]);
  });

  it('reports a top-level context without dockerFile, and a build without a dockerfile', () => {
    const r = parse('{\n  "context": "..",\n  "build": { "args": {} }\n}');
    expect(r.build).toBeUndefined();
    expect(r.ignored).toEqual([
      { key: 'context', reason: expect.stringMatching(/only used with the top-level "dockerFile"/), line: 2 },
      { key: 'build', reason: 'no "dockerfile" given, so there is nothing to build', line: 3 },
    ]);
  });

  it('refuses build.options (raw build flags), and reports cacheFrom and unknown keys', () => {
    const r = parse(
      '{\n  "build": {\n    "dockerfile": "D",\n    "options": ["--network=host"],\n    "cacheFrom": "x",\n    "frob": 1\n  }\n}',
    );
    expect(r.build).toMatchObject({ dockerfile: 'D' });
    expect(r.build).not.toHaveProperty('options');
    expect(r.ignored).toEqual([
      { key: 'build.options', reason: 'refused: it could undo the sandbox hardening', line: 4 },
      { key: 'build.cacheFrom', reason: 'build caches are not used', line: 5 },
      { key: 'build.frob', reason: 'unknown key', line: 6 },
    ]);
  });

  it('notes an image given alongside a Dockerfile', () => {
    const r = parse('{\n  "image": "a",\n  "build": { "dockerfile": "D" }\n}');
    expect(r).toMatchObject({ image: 'a', build: { dockerfile: 'D' } });
    expect(r.notes).toEqual([{ key: 'image', message: expect.stringMatching(/alternatives/), line: 2 }]);
  });

  it('gives the line of a value of the wrong type', () => {
    const e = errorOf('{\n  "build": {\n    "dockerfile": "D",\n    "args": { "A": 1 }\n  }\n}');
    expect([e.line, e.column]).toEqual([4, 20]);
    expect(e.message).toMatch(/"build\.args\.A" must be a string$/);
    expect(errorOf('{ "build": "Dockerfile" }').message).toMatch(/"build" must be an object$/);
    expect(errorOf('{ "build": { "dockerfile": "" } }').message).toMatch(/"build\.dockerfile" must not be empty$/);
  });
});
