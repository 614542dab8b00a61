// The egress allowlist on real podman: a session with no route out, its agent's proxy, the
// gateway container beside it, and every way around them that must fail. Traffic goes only
// to servers this test starts on the host's loopback, except one apt-get update (as root).
import { lookup } from 'node:dns/promises';
import { chmodSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { gatewayName, LABELS } from '@axo/podman-args';
import {
  containersByLabel,
  DEBIAN_TEST_IMAGE,
  podmanGate,
  podmanResult,
  removeContainersByLabel,
  TEST_IMAGE,
  tempDir,
  uniqueOwner,
} from '@axo/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSessions, reapOrphans, removeSessions, SessionSandbox } from '../../src/index';

const gate = podmanGate(DEBIAN_TEST_IMAGE);
const owner = uniqueOwner('egress');
const rootful = process.getuid?.() === 0;
const ARCHIVE = ['deb.debian.org', 'security.debian.org'];

/** An HTTP server on the host (its loopback unless told) that counts what reaches it. */
async function hostHttpServer(host = '127.0.0.1') {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    res.end(`host-server ${req.headers.host} ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    hits: () => hits,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** A TCP echo server on the host's loopback. */
async function hostEchoServer() {
  const server = net.createServer((c) => c.pipe(c));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(r)) };
}

/** bash: send raw bytes to the session's proxy and print what comes back (the proxy closes after a refusal). */
const RAW = `raw() { exec 3<>/dev/tcp/127.0.0.1/3128 || return 9; printf '%b' "$1" >&3; timeout \${2:-5} head -c 4000 <&3; exec 3<&-; }`;

/** Entries that open every address no protection covers, IPv4 and IPv6, on every port. */
const WIDE = ['0.0.0.0/0:*', '[::/0]:*'];

/** What the gateway's 403 for a protected range says (egress.Class.phrase in the Go policy). */
const PHRASE: Record<string, string> = {
  loopback: 'a loopback address',
  unspecified: 'an unspecified address (it reaches this host)',
  'link-local': 'a link-local address',
  metadata: 'a metadata address',
  'host-address': 'an address of this host or of a container on it',
};

/**
 * A refusal for a protected range, not the default deny: with the wide entries in place,
 * a destination the protection did not cover would be allowed by one of them (and either
 * reached, or answered 502/504 naming that entry).
 */
function expectProtected(answer: string, rule: string) {
  expect(answer, answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r?$/m);
  expect(answer, answer).toMatch(new RegExp(`^X-Axo-Egress-Rule: ${rule}\\r?$`, 'm'));
  expect(answer, answer).toContain(`(rule: ${rule}):`);
  expect(answer, answer).toContain(` is ${PHRASE[rule]}: only an IP entry inside `);
}

/** Splits `== label` blocks of a script's output into label → answer. */
function answersByLabel(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const block of out.split(/^== /m).filter(Boolean)) {
    const nl = block.indexOf('\n');
    m.set(block.slice(0, nl), block.slice(nl + 1));
  }
  return m;
}

describe.skipIf(!gate.ok)('egress allowlist (real podman)', () => {
  const dir = tempDir('axo-egress-');
  let sandbox: SessionSandbox;
  let web: Awaited<ReturnType<typeof hostHttpServer>>;
  // On every address of the host: what a protected-range CONNECT would reach if let through.
  let wide: Awaited<ReturnType<typeof hostHttpServer>>;
  let echo: Awaited<ReturnType<typeof hostEchoServer>>;
  const sh = async (script: string, options: { user?: string; env?: Record<string, string> } = {}) => {
    const r = await sandbox.exec(['bash', '-c', `${RAW}\n${script}`], { timeoutMs: 60_000, ...options });
    return { ...r, out: r.stdout + r.stderr };
  };

  beforeAll(async () => {
    web = await hostHttpServer();
    wide = await hostHttpServer('::');
    echo = await hostEchoServer();
    // Other users must be able to enter the workdir for the test that runs as one.
    chmodSync(dir.path, 0o755);
    sandbox = await SessionSandbox.start({
      sessionId: `${owner}-s`,
      owner,
      workdir: dir.path,
      policy: { defaultImage: DEBIAN_TEST_IMAGE, network: 'allowlist', egress: [...ARCHIVE, '*.example.com'] },
      provision: false,
    });
  });
  afterAll(async () => {
    removeContainersByLabel(`${LABELS.owner}=${owner}`);
    await web?.close();
    await wide?.close();
    await echo?.close();
    dir[Symbol.dispose]();
  });

  it('starts a hardened gateway beside the session and reports the allowlist', () => {
    const report = sandbox.report;
    expect(report?.network).toBe('allowlist');
    expect(report?.egress).toEqual({ entries: [...ARCHIVE, '*.example.com'], gateway: gatewayName(sandbox.sessionId) });
    const inspect = JSON.parse(podmanResult(['container', 'inspect', gatewayName(sandbox.sessionId)]).stdout)[0] as {
      State: { Running: boolean; Pid: number };
      HostConfig: { NetworkMode: string; ReadonlyRootfs: boolean; SecurityOpt: string[] };
      Config: { Labels: Record<string, string>; User: string };
    };
    expect(inspect.State.Running).toBe(true);
    expect(inspect.HostConfig.NetworkMode).toBe('host');
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
    expect(inspect.Config.Labels).toMatchObject({
      [LABELS.managed]: 'true',
      [LABELS.session]: sandbox.sessionId,
      [LABELS.owner]: owner,
      [LABELS.role]: 'gateway',
    });
    // From the host side: no capabilities at all, no new privileges, not root.
    const status = podmanResult(['exec', gatewayName(sandbox.sessionId), '/.axo/agent', 'version']);
    expect(status.status).toBe(0);
    const proc = readFileSync(`/proc/${inspect.State.Pid}/status`, 'utf8');
    expect(proc).toMatch(/CapEff:\s+0000000000000000/);
    expect(proc).toMatch(/CapBnd:\s+0000000000000000/);
    expect(proc).toMatch(/NoNewPrivs:\s+1/);
    expect(Number(/Uid:\s+(\d+)/.exec(proc)?.[1])).not.toBe(0);
  });

  it('gives the session no route out: no default route, and direct TCP or DNS fails at once', async () => {
    const started = performance.now();
    const r = await sh(
      `cat /proc/net/route; echo ---
       (exec 4<>/dev/tcp/192.0.2.1/80) 2>&1; echo tcp=$?
       (echo x >/dev/udp/10.255.255.53/53) 2>&1; echo udp=$?`,
    );
    expect(performance.now() - started).toBeLessThan(5000);
    const [routes, rest] = r.out.split('---');
    expect((routes ?? '').trim().split('\n')).toHaveLength(1); // the header alone
    expect(rest).toMatch(/Network is unreachable[\s\S]*tcp=1/);
    expect(rest).toMatch(/Network is unreachable[\s\S]*udp=1/);
  });

  it('puts the proxy in every command environment', async () => {
    const r = await sh('env | grep -iE "^(https?|no)_proxy=|^NODE_USE_ENV_PROXY=" | sort');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'HTTPS_PROXY=http://127.0.0.1:3128',
      'HTTP_PROXY=http://127.0.0.1:3128',
      'NODE_USE_ENV_PROXY=1',
      'NO_PROXY=localhost,127.0.0.1,::1',
      'http_proxy=http://127.0.0.1:3128',
      'https_proxy=http://127.0.0.1:3128',
      'no_proxy=localhost,127.0.0.1,::1',
    ]);
  });

  it.skipIf(!rootful)(
    'lets apt-get update reach the allowed Debian archive',
    async () => {
      const r = await sandbox.exec(['apt-get', 'update'], { timeoutMs: 110_000 });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/deb\.debian\.org/);
      const log = await sandbox.egressLog();
      expect(log.some((l) => l.host === 'deb.debian.org' && l.decision === 'allow' && l.bytesIn > 1000)).toBe(true);
    },
    120_000,
  );

  it('denies other hosts with a 403 that names the rule, never resolving them', async () => {
    const since = new Date();
    const plain = await sh('curl -sS -m 10 -i http://registry.npmjs.org/ ; echo; echo rc=$?');
    expect(plain.out).toMatch(/HTTP\/1.1 403 Forbidden/);
    expect(plain.out).toMatch(/X-Axo-Egress-Rule: default-deny/i);
    expect(plain.out).toMatch(/axo egress: denied GET registry\.npmjs\.org:80 \(rule: default-deny\)/);
    const tls = await sh('curl -sS -m 10 https://registry.npmjs.org/; echo rc=$?');
    expect(tls.out).toMatch(/CONNECT tunnel failed, response 403/);
    // git honours the proxy too, and shows the refusal.
    const git = await sh('git ls-remote http://registry.npmjs.org/x.git 2>&1; echo rc=$?');
    expect(git.out).toMatch(/403/);
    const log = await sandbox.egressLog({ since });
    const denied = log.filter((l) => l.host === 'registry.npmjs.org');
    expect(denied.length).toBeGreaterThanOrEqual(3);
    for (const l of denied) {
      expect(l).toMatchObject({ decision: 'deny', rule: 'default-deny', session: sandbox.sessionId });
      expect(l.address).toBeUndefined(); // never looked up
    }
  });

  it('cannot be bypassed by NO_PROXY or by dropping the proxy variables', async () => {
    const started = performance.now();
    const r = await sh(
      `NO_PROXY='*' no_proxy='*' curl -sS -m 10 -o /dev/null -w '%{http_code}' http://deb.debian.org/; echo " rc=$?"
       env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY curl -sS -m 10 -o /dev/null http://deb.debian.org/; echo " rc=$?"`,
    );
    expect(performance.now() - started).toBeLessThan(10_000);
    const rcs = [...r.out.matchAll(/rc=(\d+)/g)].map((m) => Number(m[1]));
    expect(rcs).toHaveLength(2);
    for (const rc of rcs) expect(rc).not.toBe(0);
    expect(r.out).not.toMatch(/200/);
  });

  it('matches a wildcard against subdomains, never a look-alike', async () => {
    const r = await sh(
      `raw 'CONNECT evil-example.com:443 HTTP/1.1\\r\\n\\r\\n'; echo; raw 'CONNECT example.com:443 HTTP/1.1\\r\\n\\r\\n'`,
    );
    expect(r.out.match(/403 Forbidden/g)).toHaveLength(2);
    expect(r.out).toMatch(/no allowlist entry matches evil-example\.com:443/);
  });

  // Every protected range attacked from inside the session while the allowlist opens the
  // whole IPv4 and IPv6 space: each refusal must name the protection, since with it gone
  // a wide entry would allow the destination.
  describe('with 0.0.0.0/0 and ::/0 allowed on every port', () => {
    const since = new Date();
    beforeAll(async () => {
      // localhost:* lets the name through, so what refuses it is the address it resolves to.
      const entries = [...ARCHIVE, ...WIDE, 'localhost:*'];
      expect(await sandbox.setEgress(entries)).toEqual(entries);
    });
    afterAll(() => {
      expect(wide.hits()).toBe(0);
      expect(web.hits()).toBe(0);
    });

    it('reaches an ordinary address through the wide entries (the control)', async () => {
      // A public address as a literal: only 0.0.0.0/0:* can allow it (no IP entry names it).
      const { address } = await lookup(ARCHIVE[0] as string, { family: 4 });
      const r = await sh(
        `curl -sS -m 20 -p --noproxy '' -o /dev/null -w 'code=%{http_code}' -H 'Host: ${ARCHIVE[0]}' http://${address}/
         echo; echo "== v6"; raw 'CONNECT [2001:db8::1]:9 HTTP/1.1\\r\\n\\r\\n' 15`,
      );
      expect(r.stdout).toMatch(/code=[23]\d\d/);
      // IPv6 has no route here, so the dial fails: but ::/0 is what let it be tried.
      const v6 = answersByLabel(r.stdout).get('v6') ?? '';
      expect(v6, v6).toMatch(/^HTTP\/1\.1 50[24] /);
      expect(v6, v6).toMatch(/^X-Axo-Egress-Rule: \[::\/0\]:\*\r?$/m);
      const log = await sandbox.egressLog({ since });
      expect(log.find((l) => l.host === address && l.kind === 'connect')).toMatchObject({
        decision: 'allow',
        rule: '0.0.0.0/0:*',
        address,
      });
    }, 60_000);

    it('refuses the host loopback in every spelling, whatever the Host header says', async () => {
      const p = wide.port;
      const spellings: [string, string][] = [
        ['127.0.0.1', 'loopback'],
        ['2130706433', 'loopback'],
        ['0x7f000001', 'loopback'],
        ['127.1', 'loopback'],
        ['0177.0.0.1', 'loopback'],
        ['127.0.0.1.', 'loopback'],
        ['127.255.255.254', 'loopback'],
        ['[::ffff:127.0.0.1]', 'loopback'],
        ['[::1]', 'loopback'],
        ['localhost', 'loopback'],
        ['0.0.0.0', 'unspecified'],
        ['0', 'unspecified'],
        ['[::]', 'unspecified'],
      ];
      const script = spellings
        .flatMap(([s]) => [
          `echo "== CONNECT ${s}"; raw 'CONNECT ${s}:${p} HTTP/1.1\\r\\nHost: deb.debian.org\\r\\n\\r\\n'`,
          `echo "== GET ${s}"; raw 'GET http://${s}:${p}/ HTTP/1.1\\r\\nHost: deb.debian.org\\r\\n\\r\\n'`,
        ])
        .join('\n');
      const answers = answersByLabel((await sh(script)).stdout);
      expect(answers.size).toBe(spellings.length * 2);
      for (const [s, rule] of spellings) {
        expectProtected(answers.get(`CONNECT ${s}`) ?? '', rule);
        expectProtected(answers.get(`GET ${s}`) ?? '', rule);
      }
      // And curl's own way of asking (it may normalise the URL first). 127.0.0.1 is in
      // NO_PROXY (the session's own loopback): --noproxy '' sends it to the proxy, as
      // reaching the host's loopback needs.
      const c = await sh(
        `curl -sS -m 10 --noproxy '' -H 'Host: deb.debian.org' http://127.0.0.1:${p}/; echo; curl -sS -m 10 --noproxy '' -p http://127.0.0.1:${p}/tunnel; echo rc=$?`,
      );
      expect(c.out).toContain(`denied GET 127.0.0.1:${p} (rule: loopback): 127.0.0.1:${p} is a loopback address`);
      expect(c.out).toMatch(/CONNECT tunnel failed, response 403/);
      const log = await sandbox.egressLog({ since });
      expect(log.filter((l) => l.port === p && l.decision === 'allow')).toEqual([]);
    });

    it('refuses cloud metadata, and loopback or metadata in IPv6 clothing', async () => {
      const p = wide.port;
      const targets: [string, string][] = [
        ['169.254.169.254:80', 'link-local'],
        ['100.100.100.200:80', 'metadata'],
        ['[fd00:ec2::254]:80', 'metadata'],
        ['168.63.129.16:80', 'metadata'],
        ['168.63.129.16:32526', 'metadata'],
        [`[64:ff9b::7f00:1]:${p}`, 'loopback'], // NAT64 /96
        [`[64:ff9b:1:7f00:0:100::]:${p}`, 'loopback'], // NAT64 /48 (RFC 6052)
        [`[2002:7f00:1::]:${p}`, 'loopback'], // 6to4
        [`[::127.0.0.1]:${p}`, 'loopback'], // IPv4-compatible
        [`[::7f00:1]:${p}`, 'loopback'],
        [`[::ffff:127.0.0.1]:${p}`, 'loopback'], // IPv4-mapped
        ['[64:ff9b::a9fe:a9fe]:80', 'link-local'], // 169.254.169.254
        ['[::ffff:169.254.169.254]:80', 'link-local'],
        ['[2002:6464:64c8::]:80', 'metadata'], // 100.100.100.200
        ['[64:ff9b::a83f:8110]:80', 'metadata'], // 168.63.129.16
      ];
      const r = await sh(targets.map(([t]) => `echo "== ${t}"; raw 'CONNECT ${t} HTTP/1.1\\r\\n\\r\\n'`).join('\n'));
      const answers = answersByLabel(r.stdout);
      expect(answers.size).toBe(targets.length);
      for (const [t, rule] of targets) expectProtected(answers.get(t) ?? '', rule);
    });

    it("refuses the host's own addresses and the containers on its bridge", async () => {
      const p = wide.port;
      // What `hostname -I` lists: every address of the host but loopback and link-local.
      const own = Object.values(networkInterfaces())
        .flat()
        .filter((a) => a && !a.internal && !/^fe80:/i.test(a.address))
        .map((a) => a?.address as string);
      expect(own.length).toBeGreaterThan(0);
      const v4 = own.find((a) => net.isIPv4(a));
      const targets = own.map((a) => (net.isIPv6(a) ? `[${a}]:${p}` : `${a}:${p}`));
      if (v4) {
        // The host's IPv4 address in NAT64 clothing.
        const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
        targets.push(`[64:ff9b::${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}]:${p}`);
      }
      // A container on podman's bridge, serving: its address and the bridge's gateway.
      const bridged = `${owner}-bridged`;
      if (rootful) {
        const net0 = JSON.parse(podmanResult(['network', 'inspect', 'podman']).stdout)[0] as {
          subnets?: { gateway?: string }[];
        };
        const run = podmanResult([
          'run',
          '-d',
          '--rm',
          '--name',
          bridged,
          '--label',
          `${LABELS.owner}=${owner}`,
          '--network',
          'podman',
          TEST_IMAGE,
          'busybox',
          'httpd',
          '-f',
          '-p',
          '8080',
          '-h',
          '/',
        ]);
        expect(run.status, run.stderr).toBe(0);
        const ip = podmanResult(['inspect', '--format', '{{.NetworkSettings.IPAddress}}', bridged]).stdout.trim();
        expect(net.isIPv4(ip), ip).toBe(true);
        targets.push(`${ip}:8080`);
        const gw = net0.subnets?.find((s) => s.gateway && net.isIPv4(s.gateway))?.gateway;
        expect(gw).toBeTruthy();
        targets.push(`${gw}:${p}`);
      }
      try {
        const r = await sh(targets.map((t) => `echo "== ${t}"; raw 'CONNECT ${t} HTTP/1.1\\r\\n\\r\\n'`).join('\n'));
        const answers = answersByLabel(r.stdout);
        expect(answers.size).toBe(new Set(targets).size);
        for (const t of targets) expectProtected(answers.get(t) ?? '', 'host-address');
      } finally {
        if (rootful) podmanResult(['rm', '-f', '-t', '0', bridged]);
      }
    }, 60_000);
  });

  it('applies a live change at once, and closes the tunnels it no longer allows', async () => {
    const webEntry = `127.0.0.1:${web.port}`;
    const echoEntry = `127.0.0.1:${echo.port}`;
    expect(await sandbox.setEgress([...ARCHIVE, '*.example.com', webEntry, echoEntry])).toContain(webEntry);
    expect((await sandbox.egressPolicy())?.entries).toContain(echoEntry);
    const ok = await sh(`curl -sS -m 10 --noproxy '' http://127.0.0.1:${web.port}/hello`);
    expect(ok.stdout).toBe(`host-server 127.0.0.1:${web.port} /hello`);
    // As another user too: the proxy is for everyone in the session.
    const other = await sh(`curl -sS -m 10 --noproxy '' http://127.0.0.1:${web.port}/nobody`, { user: '65534' });
    expect(other.stdout).toBe(`host-server 127.0.0.1:${web.port} /nobody`);

    // A tunnel held open (what an ssh session through ProxyCommand is).
    const proc = await sandbox.spawn(
      [
        'bash',
        '-c',
        `exec 3<>/dev/tcp/127.0.0.1/3128; printf 'CONNECT 127.0.0.1:${echo.port} HTTP/1.1\\r\\n\\r\\n' >&3
         read -r status <&3; while read -r line <&3 && [ "$line" != $'\r' ]; do :; done; echo "status:$status"
         printf 'ping\\n' >&3; read -r got <&3; echo "got:$got"
         if read -r -t 30 more <&3; then echo "still-open"; else echo "closed:$?"; fi`,
      ],
      { timeoutMs: 60_000 },
    );
    let out = '';
    proc.stderr.resume();
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const deadline = Date.now() + 20_000;
    while (!out.includes('got:ping') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(out).toContain('status:HTTP/1.1 200');
    expect(out).toContain('got:ping');
    const cut = performance.now();
    await sandbox.setEgress([...ARCHIVE, '*.example.com', webEntry]);
    const exit = await proc.exited;
    expect(exit.exitCode).toBe(0);
    expect(out).toMatch(/closed:1/); // EOF, not the 30 s timeout
    expect(performance.now() - cut).toBeLessThan(5000);
    const denied = await sh(`raw 'CONNECT 127.0.0.1:${echo.port} HTTP/1.1\\r\\n\\r\\n' | head -1`);
    expect(denied.stdout).toMatch(/403/);
    const log = await sandbox.egressLog();
    expect(log.find((l) => l.port === echo.port && l.decision === 'allow')).toMatchObject({
      kind: 'connect',
      host: '127.0.0.1',
      address: '127.0.0.1',
      rule: echoEntry,
      closed: 'policy-changed',
      bytesIn: 5,
      bytesOut: 5,
    });
  });

  it('carries ssh-style tunnels through the agent as a ProxyCommand', async () => {
    await sandbox.setEgress([...ARCHIVE, `127.0.0.1:${echo.port}`]);
    const r = await sh(`echo hello-tunnel | /.axo/agent connect 127.0.0.1 ${echo.port}; echo rc=$?
      /.axo/agent connect registry.npmjs.org 22 </dev/null; echo rc=$?`);
    expect(r.stdout).toMatch(/hello-tunnel\s+rc=0/);
    expect(r.out).toMatch(/403 Forbidden: axo egress: denied CONNECT registry\.npmjs\.org:22/);
    expect(r.out).toMatch(/rc=1/);
    const env = await sh('echo "$GIT_SSH_COMMAND"');
    expect(env.stdout.trim()).toBe('ssh -o ProxyCommand="/.axo/agent connect %h %p"');
  });

  it('works for Node (NODE_USE_ENV_PROXY) when the image has it', async () => {
    // The host's node, copied into the workdir: Debian's glibc runs it.
    const node = join(dir.path, 'node');
    if (!existsSync(node)) copyFileSync(process.execPath, node);
    await sandbox.setEgress([`127.0.0.1:${web.port}`]);
    // NO_PROXY emptied: the host's loopback is reached through the proxy, not the session's own.
    const r = await sh(
      `${node} -e "fetch('http://127.0.0.1:${web.port}/node').then(async r => console.log(r.status, await r.text()), e => console.log('error', e.cause?.message ?? e.message))"
       ${node} -e "fetch('https://registry.npmjs.org/').then(r => console.log(r.status), e => console.log('error', e.cause?.message ?? e.message))"`,
      { env: { NO_PROXY: '', no_proxy: '' } },
    );
    expect(r.stdout).toMatch(new RegExp(`200 host-server 127\\.0\\.0\\.1:${web.port} /node`));
    // A refused CONNECT is an error to fetch (undici does not show the 403); the trail has it.
    expect(r.stdout).toMatch(/^error /m);
    const log = await sandbox.egressLog({ limit: 5 });
    expect(log.some((l) => l.host === 'registry.npmjs.org' && l.decision === 'deny' && l.kind === 'connect')).toBe(
      true,
    );
  });

  it('keeps an audit trail and counters outside the session', async () => {
    const log = await sandbox.egressLog();
    expect(log.length).toBeGreaterThan(10);
    for (const l of log) {
      expect(Number.isNaN(Date.parse(l.time))).toBe(false);
      expect(['allow', 'deny', 'error']).toContain(l.decision);
    }
    expect((await sandbox.egressLog({ limit: 2 })).length).toBe(2);
    expect(await sandbox.egressLog({ since: new Date(Date.now() + 60_000) })).toEqual([]);
    // The gateway flushes its counters once a second.
    await new Promise((r) => setTimeout(r, 1200));
    const stats = await sandbox.egressStats();
    expect(stats?.connections.deny).toBeGreaterThan(5);
    expect(stats?.connections.allow).toBeGreaterThan(1);
    expect(stats?.bytesIn).toBeGreaterThan(0);
    // Nothing of it is in the session's reach.
    const r = await sh(
      'ls /.axo; ls /.axo/egress; grep -rl default-deny / --include="*.jsonl" 2>/dev/null | head -3; echo done',
    );
    expect(r.stdout).not.toMatch(/audit|policy\.json|^gw$/m);
    // Container root cannot replace the gateway's socket (read-only mount).
    const w = await sh('rm -f /.axo/egress/gw.sock; echo rc=$?; touch /.axo/egress/x; echo rc=$?');
    expect(w.out).toMatch(/Read-only file system/);
  });

  it('removes the gateway with the session, and reaps lone gateways', async () => {
    const names = () => containersByLabel(`${LABELS.owner}=${owner}`);
    expect(names()).toEqual([gatewayName(sandbox.sessionId), sandbox.container].sort());
    // listSessions never mistakes the gateway for a session.
    expect((await listSessions({ owner })).map((s) => s.name)).toEqual([sandbox.container]);
    await sandbox.stop();
    expect(names()).toEqual([]);
  });
});

describe.skipIf(!podmanGate().ok)('egress allowlist: published ports and removal paths (real podman)', () => {
  const dir = tempDir('axo-egress-ports-');
  const own = uniqueOwner('egress-ports');
  afterAll(() => {
    removeContainersByLabel(`${LABELS.owner}=${own}`);
    dir[Symbol.dispose]();
  });

  it('forwards published ports through the gateway to the session loopback', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const sandbox = await SessionSandbox.start({
      sessionId: `${own}-p`,
      owner: own,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE, network: 'allowlist' },
      ports: [free],
      provision: false,
    });
    expect(sandbox.report?.ports.published).toEqual([{ hostIp: '127.0.0.1', port: free }]);
    await sandbox.spawnBackground(
      `mkdir -p /tmp/www && echo inside > /tmp/www/i.html && exec busybox httpd -f -p 127.0.0.1:${free} -h /tmp/www`,
    );
    let body = '';
    for (let i = 0; i < 50 && body === ''; i++) {
      body = await fetch(`http://127.0.0.1:${free}/i.html`)
        .then((r) => r.text())
        .catch(() => '');
      if (body === '') await new Promise((r) => setTimeout(r, 50));
    }
    expect(body).toBe('inside\n');
    // A session with nothing allowed cannot reach anything.
    const r = await sandbox.exec(['sh', '-c', 'wget -q -O- http://example.com/ 2>&1; echo rc=$?']);
    expect(r.stdout).toMatch(/403/);
    // removeSessions takes the gateway too.
    expect(await removeSessions([sandbox.sessionId], { owner: own })).toEqual([sandbox.sessionId]);
    expect(containersByLabel(`${LABELS.owner}=${own}`)).toEqual([]);
  });

  it('restarts a stopped gateway on reattach, and replacing the session takes its gateway', async () => {
    const start = (network: 'allowlist' | 'bridge', reattach: boolean) =>
      SessionSandbox.start({
        sessionId: `${own}-x`,
        owner: own,
        workdir: dir.path,
        policy: { defaultImage: TEST_IMAGE, network, egress: network === 'allowlist' ? ['deb.debian.org'] : [] },
        provision: false,
        reattach,
      });
    const first = await start('allowlist', false);
    const gw = gatewayName(first.sessionId);
    podmanResult(['stop', '-t', '0', gw]);
    const again = await start('bridge', true);
    expect(again.report).toMatchObject({
      reattached: true,
      network: 'allowlist',
      egress: { entries: ['deb.debian.org'] },
    });
    expect(podmanResult(['container', 'inspect', '--format', '{{.State.Running}}', gw]).stdout.trim()).toBe('true');
    const r = await again.exec(['sh', '-c', 'wget -q -O- http://registry.npmjs.org/ 2>&1; true']);
    expect(r.stdout).toMatch(/403/);
    // Replaced by a bridge session: the old gateway goes with the old container.
    const replaced = await start('bridge', false);
    expect(replaced.report?.network).toBe('bridge');
    expect(containersByLabel(`${LABELS.owner}=${own}`)).toEqual([replaced.container]);
    await replaced.stop();
  });

  it('reaps an orphaned session together with its gateway', async () => {
    const sandbox = await SessionSandbox.start({
      sessionId: `${own}-r`,
      owner: own,
      workdir: dir.path,
      policy: { defaultImage: TEST_IMAGE, network: 'allowlist', egress: ['deb.debian.org'] },
      provision: false,
    });
    const result = await reapOrphans([], { owner: own });
    expect([...result.removed].sort()).toEqual([gatewayName(sandbox.sessionId), sandbox.container].sort());
    expect(containersByLabel(`${LABELS.owner}=${own}`)).toEqual([]);
  });
});
