import { readFileSync } from 'node:fs';
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

describe('what real files ask for beyond image', () => {
  it('reads containerEnv, remoteEnv (null unsets), containerUser, remoteUser and workspaceFolder, and ignores none', () => {
    const r = parse(`{
      "containerEnv": { "A": "1" },
      "remoteEnv": { "PATH": "\${containerEnv:PATH}:/x", "DEBUG": null },
      "containerUser": "root",
      "remoteUser": "node",
      "workspaceFolder": "/workspaces/app"
    }`);
    expect(r).toMatchObject({
      containerEnv: { A: '1' },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: devcontainer.json's own ${…} syntax, kept as written
      remoteEnv: { PATH: '${containerEnv:PATH}:/x', DEBUG: null },
      containerUser: 'root',
      remoteUser: 'node',
      workspaceFolder: '/workspaces/app',
      ignored: [],
    });
    expect(parse('{}')).toMatchObject({ containerEnv: {}, remoteEnv: {} });
  });

  it('gives the line of a variable of the wrong type', () => {
    const e = errorOf('{\n  "containerEnv": {\n    "A": "1",\n    "B": 2\n  }\n}');
    expect([e.line, e.column]).toEqual([4, 10]);
    expect(e.message).toMatch(/"containerEnv\.B" must be a string$/);
    expect(errorOf('{ "remoteEnv": { "A": 1 } }').message).toMatch(/"remoteEnv\.A" must be a string or null$/);
  });

  it('reports features and Docker Compose as not supported, with lines', () => {
    const r = parse(
      '{\n  "features": {},\n  "dockerComposeFile": "compose.yml",\n  "service": "app",\n  "runServices": ["db"]\n}',
    );
    expect(r.ignored).toEqual([
      { key: 'features', reason: 'dev container features are not supported', line: 2 },
      { key: 'dockerComposeFile', reason: 'Docker Compose is not supported', line: 3 },
      { key: 'service', reason: 'Docker Compose is not supported', line: 4 },
      { key: 'runServices', reason: 'Docker Compose is not supported', line: 5 },
    ]);
  });

  it.each(['runArgs', 'mounts', 'privileged', 'capAdd', 'securityOpt', 'workspaceMount'])('still refuses %s', (key) => {
    expect(parse(`{\n  "${key}": null\n}`).ignored).toEqual([
      { key, reason: 'refused: it could undo the sandbox hardening', line: 2 },
    ]);
  });

  it('names the forwarded port that is out of range', () => {
    const e = errorOf('{ "forwardPorts": [3000, 70000] }');
    expect(e.column).toBe(26);
    expect(e.message).toMatch(/"forwardPorts\[1\]" must be a port number \(1-65535\) or a "host:port" string$/);
  });

  it('reads a realistic file that uses every key it knows', () => {
    const text = readFileSync(new URL('./__fixtures__/full.devcontainer.json', import.meta.url), 'utf8');
    const r = parse(text);
    expect(r).toEqual({
      file: '.devcontainer/devcontainer.json',
      name: 'Web app (Node 22 + Postgres)',
      build: {
        configDir: '.devcontainer',
        dockerfile: 'Dockerfile',
        context: '..',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: devcontainer.json's own ${…} syntax, kept as written
        args: { VARIANT: '22-bookworm', NODE_EXTRA: '${localEnv:NODE_EXTRA}' },
        target: 'dev',
        line: 7,
      },
      forwardPorts: [3000, 3002],
      lifecycle: {
        onCreate: [{ argv: ['npm', 'ci'] }],
        updateContent: [{ command: 'npm run build --if-present' }],
        postCreate: [
          { name: 'hooks', command: 'git config core.hooksPath .githooks' },
          { name: 'db', argv: ['npm', 'run', 'db:migrate'] },
        ],
        postStart: [],
        postAttach: [{ name: 'welcome', command: 'cat .devcontainer/welcome.txt' }],
      },
      waitFor: 'updateContentCommand',
      postCreateCommands: [
        { name: 'hooks', command: 'git config core.hooksPath .githooks' },
        { name: 'db', command: 'npm run db:migrate' },
      ],
      containerEnv: { NODE_ENV: 'development', DATABASE_URL: 'postgres://postgres@db/app' },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: devcontainer.json's own ${…} syntax, kept as written
      remoteEnv: { PATH: '${containerEnv:PATH}:/workspaces/app/node_modules/.bin', NODE_OPTIONS: null },
      containerUser: 'node',
      remoteUser: 'node',
      workspaceFolder: '/workspaces/app',
      lines: expect.any(Object),
      notes: [{ key: 'forwardPorts: "0.0.0.0:3002"', message: expect.stringMatching(/127\.0\.0\.1 only/), line: 22 }],
      ignored: [
        { key: 'build.options', reason: 'refused: it could undo the sandbox hardening', line: 14 },
        { key: 'features', reason: 'dev container features are not supported', line: 16 },
        { key: 'dockerComposeFile', reason: 'Docker Compose is not supported', line: 19 },
        { key: 'service', reason: 'Docker Compose is not supported', line: 20 },
        { key: 'runServices', reason: 'Docker Compose is not supported', line: 21 },
        {
          key: 'forwardPorts: "db:5432"',
          reason: 'only ports of the session container itself can be forwarded',
          line: 22,
        },
        { key: 'portsAttributes', reason: 'port attributes are not supported', line: 23 },
        { key: 'initializeCommand', reason: 'never run: it would run on the host', line: 24 },
        ...['runArgs', 'mounts', 'privileged', 'capAdd', 'securityOpt', 'workspaceMount'].map((key, i) => ({
          key,
          reason: 'refused: it could undo the sandbox hardening',
          line: 39 + i,
        })),
        { key: 'customizations', reason: 'editor-specific settings are not used by axo', line: 45 },
      ],
    });
    // Every top-level key has its line, so callers can cite what they do not apply.
    expect(Object.keys(r.lines)).toHaveLength(28);
    expect(r.lines).toMatchObject({
      $schema: 4,
      name: 5,
      build: 6,
      remoteUser: 37,
      workspaceFolder: 38,
      customizations: 45,
    });
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
