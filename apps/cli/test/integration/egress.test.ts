// `axo up --allow-host/--allow-cidr` and `axo net …` with the built binary on real podman.
// Traffic goes only to a server this test starts on the host's loopback.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gatewayName, LABELS } from '@axo/podman-args';
import {
  containersByLabel,
  podmanGate,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const AXO = join(import.meta.dirname, '..', '..', 'dist', 'axo.js');
const gate = podmanGate();
const owner = uniqueOwner('cli-egress');
const home = tempDir('axo-cli-egress-');
const configFile = join(home.path, 'config.json');
writeFileSync(configFile, JSON.stringify({ defaultImage: TEST_IMAGE, owner }));
const env = { ...process.env, AXO_CONFIG: configFile, NO_COLOR: '1' };

/** Runs the CLI without blocking this process (its HTTP server must answer meanwhile). */
function axo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AXO, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!gate.ok)('axo up --allow-host / axo net (built binary, real podman)', () => {
  const dir = tempDir('axo-cli-egress-repo-');
  const id = `${owner}-s`;
  let server: http.Server;
  let port = 0;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('from-host\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    await new Promise((r) => server.close(r));
    dir[Symbol.dispose]();
    home[Symbol.dispose]();
  });
  // 127.0.0.1 is in no_proxy (the session's own loopback): emptied, it goes to the proxy,
  // and so means the host's loopback.
  const fetchHost = () =>
    axo(['exec', '-e', 'no_proxy=', '-e', 'NO_PROXY=', id, '--', 'wget', '-q', '-O-', `http://127.0.0.1:${port}/`]);

  it('refuses entries of the wrong kind before starting anything', async () => {
    const r = await axo(['up', dir.path, '--id', id, '--no-provision', '--allow-host', '127.0.0.1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--allow-host "127.0.0.1" is not a host name/);
    const bad = await axo(['up', dir.path, '--id', id, '--no-provision', '--allow-cidr', '127.1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/four decimal numbers/);
    const conflict = await axo([
      'up',
      dir.path,
      '--id',
      id,
      '--no-provision',
      '--network',
      'bridge',
      '--allow-host',
      'a.example',
    ]);
    expect(conflict.code).toBe(2);
    expect(containersByLabel(`${LABELS.owner}=${owner}`)).toEqual([]);
  });

  it('starts an allowlisted session, changes its list live and shows the trail', async () => {
    const up = await axo([
      'up',
      dir.path,
      '--id',
      id,
      '--no-provision',
      '--json',
      '--allow-host',
      'deb.debian.org',
      '--allow-host',
      '*.example.com',
      '--allow-cidr',
      `127.0.0.1:${port}`,
    ]);
    expect(up.code, up.stderr).toBe(0);
    const report = JSON.parse(up.stdout).report;
    expect(report.network).toBe('allowlist');
    expect(report.egress).toEqual({
      entries: ['deb.debian.org', '*.example.com', `127.0.0.1:${port}`],
      gateway: gatewayName(id),
    });
    const text = await axo(['up', dir.path, '--id', id, '--no-provision']);
    expect(text.stdout).toMatch(/network\s+allowlist: deb\.debian\.org, \*\.example\.com, 127\.0\.0\.1:\d+/);

    expect(await fetchHost()).toMatchObject({ code: 0, stdout: 'from-host\n' });
    expect((await axo(['net', 'show', id])).stdout).toBe(`deb.debian.org\n*.example.com\n127.0.0.1:${port}\n`);

    const denied = await axo(['net', 'deny', id, `127.0.0.1:${port}`]);
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.stdout).toBe('deb.debian.org\n*.example.com\n');
    const refused = await fetchHost();
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/403/);

    expect((await axo(['net', 'allow', id, `127.0.0.1:${port}`, 'Deb.Debian.org'])).stdout).toBe(
      `deb.debian.org\n*.example.com\n127.0.0.1:${port}\n`,
    );
    expect((await fetchHost()).stdout).toBe('from-host\n');
    expect((await axo(['net', 'allow', id, 'bad..name'])).code).toBe(2);

    const log = JSON.parse((await axo(['net', 'log', id, '--json'])).stdout) as { decision: string; port: number }[];
    expect(log.filter((l) => l.port === port).map((l) => l.decision)).toEqual(['allow', 'deny', 'allow']);
    const table = await axo(['net', 'log', id, '--since', '10m']);
    expect(table.stdout).toMatch(/^TIME\s+DECISION\s+DESTINATION\s+ADDRESS\s+RULE/);
    expect(table.stdout).toMatch(new RegExp(`DENY\\s+GET 127\\.0\\.0\\.1:${port}\\s+127\\.0\\.0\\.1\\s+loopback`));
    expect((await axo(['net', 'log', id, '--limit', '1', '--json'])).stdout).toMatch(/^\[\s*\{[^[]*\}\s*\]\s*$/);

    expect((await axo(['net', 'set', id])).stdout).toMatch(/allows nothing/);
    expect((await fetchHost()).code).not.toBe(0);

    expect(await axo(['down', id])).toMatchObject({ code: 0 });
    expect(containersByLabel(`${LABELS.owner}=${owner}`)).toEqual([]);
  });

  it('says so for a session without an allowlist', async () => {
    expect((await axo(['up', dir.path, '--id', `${id}-b`, '--no-provision'])).code).toBe(0);
    const r = await axo(['net', 'show', `${id}-b`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not run with an egress allowlist/);
    expect((await axo(['down', `${id}-b`])).code).toBe(0);
  });
});
