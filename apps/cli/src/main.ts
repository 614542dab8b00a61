import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, EXIT_CODES_HELP, exitCodeFor } from './exit-codes';
import { writeText } from './io';

// V8 keeps the bytecode of the modules a command loads, so each short-lived `axo` does not
// compile them all again (about 15 ms of `axo up`). In the user's own cache directory, not
// the shared temporary one Node would pick, and only when nobody else could plant code
// there: `sudo -E axo` keeps the invoking user's HOME, and root must not run bytecode from
// a directory that user controls. NODE_DISABLE_COMPILE_CACHE turns it off.
try {
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'axo', 'node-compile-cache');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Through the namespace: a Node without it (before 22.1) must still run axo.
  if (onlyOursAbove(dir)) nodeModule.enableCompileCache?.(dir);
} catch {
  // Only a cache: without it, modules are compiled as before.
}

/** Whether `dir` and every directory above it belong to us or root and only their owner may change them. */
function onlyOursAbove(dir: string): boolean {
  const me = process.geteuid?.() ?? 0;
  for (let d = realpathSync(dir); ; d = dirname(d)) {
    const st = lstatSync(d);
    const othersMayWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0; // sticky /tmp is fine
    if ((st.uid !== me && st.uid !== 0) || othersMayWrite) return false;
    if (d === dirname(d)) return true;
  }
}

// Each command's module is loaded only when that command runs: `axo exec` must not pay
// for podman, zod, node-pty or the server just to start.

const VERSION = '0.0.0';

function port(value: string, previous: number[] = []): number[] {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a port is a number from 1 to 65535');
  return [...previous, n];
}
const collect = (value: string, previous: string[] = []) => [...previous, value];
const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

let exitCode: number = EXIT.ok;
const program = new Command('axo')
  .description('Hardened Podman sandboxes for coding sessions: one container per session over a host directory.')
  .version(VERSION)
  .option('--debug', 'print stack traces on errors')
  .enablePositionalOptions()
  // Before any subcommand is added, so every one inherits it: usage errors then exit 2.
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)')
  // Help goes straight to the descriptor: touching process.stdout would make fd 1
  // non-blocking for `axo exec`, and a reader that left (`axo --help | head`) is not an error.
  .configureOutput({ writeOut: (text) => writeText(1, text), writeErr: (text) => writeText(2, text) })
  .addHelpText(
    'after',
    `\n${EXIT_CODES_HELP}\n\nConfig: $AXO_CONFIG or $XDG_CONFIG_HOME/axo/config.json; AXO_* variables override it, flags override both.\n`,
  );

const run =
  <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
  async (...args: A) => {
    exitCode = await fn(...args);
  };

program
  .command('up')
  .description('start a session for a directory (default: the current one)')
  .argument('[dir]', 'host directory to mount (at the same path)')
  .option('--id <id>', 'session id (default: derived from the directory)')
  .option('--image <image>', 'image to ask for (the policy decides)')
  .option('-p, --port <port>', 'publish a port on 127.0.0.1 (repeatable)', port, [])
  .addOption(new Option('--network <mode>', 'network of the session').choices(['bridge', 'none', 'allowlist']))
  .option(
    '--allow-host <host>',
    'allowlist: let the session reach this host (deb.debian.org, *.example.com, host:port; repeatable)',
    collect,
    [],
  )
  .option(
    '--allow-cidr <cidr>',
    'allowlist: let the session reach these addresses (10.0.0.0/8:5432; repeatable)',
    collect,
    [],
  )
  .option('--allow-post-create', "run the repository's postCreateCommand")
  .option('--allow-untrusted-image', 'allow images other than the trusted default')
  .option('--require-limits', 'fail rather than start without memory/cpu/pids limits')
  .option('--strict', 'fail (leaving nothing behind) when anything asked for is not in force')
  .option('--read-only', 'read-only root file system (tmpfs /tmp, /run; the workdir stays writable)')
  .option('--replace', 'recreate the session even when it is running (default: reuse it)')
  .option('--allow-build', "build the repository's image from its devcontainer.json build (confined like the session)")
  .option('--no-provision', 'do not check or install dev tools')
  .option('--no-agent', 'run commands with a podman exec each instead of the in-container agent')
  .option('-u, --user <user>', 'user that commands run as (default: the image USER)')
  .option('--json', 'print the session and its hardening report as JSON')
  .addHelpText(
    'after',
    examples([
      'axo up',
      'axo up ~/src/app --port 3000 --port 5173',
      'axo up --network none --require-limits',
      "axo up --allow-host deb.debian.org --allow-host '*.example.com' --allow-cidr 10.0.0.0/8:5432",
      'axo up --allow-post-create --allow-untrusted-image   # trust this repository',
    ]),
  )
  .action(run(async (dir: string | undefined, o) => (await import('./commands/up')).up(dir, o)));

program
  .command('exec')
  .description("run a command in a session, streaming its output; exits with the command's exit code")
  .argument('<id>', 'session id')
  .argument('[command...]', 'the command, after --')
  .option('--timeout <duration>', 'kill the command after this long (500ms, 30s, 2m)')
  .option('-u, --user <user>', 'user to run as')
  .option('-w, --cwd <dir>', 'working directory inside the container')
  .option('-e, --env <NAME=value>', 'environment variable (repeatable)', collect, [])
  .passThroughOptions()
  .addHelpText(
    'after',
    examples([
      'axo exec app-1a2b3c -- npm test',
      'echo hi | axo exec app-1a2b3c -- cat',
      'axo exec --timeout 30s app-1a2b3c -- make',
    ]),
  )
  .action(run(async (id: string, command: string[], o) => (await import('./commands/exec')).exec(id, command, o)));

program
  .command('shell')
  .description('open an interactive terminal in a session')
  .argument('<id>', 'session id')
  .argument('[command...]', 'command to run instead of a login shell, after --')
  .option('-u, --user <user>', 'user to run as')
  .passThroughOptions()
  .addHelpText('after', examples(['axo shell app-1a2b3c', 'axo shell app-1a2b3c -- htop']))
  .action(run(async (id: string, command: string[], o) => (await import('./commands/shell')).shell(id, command, o)));

program
  .command('cp')
  .description("copy files or directories between the host and a session (ID:PATH is the session's side)")
  .argument('<src>', 'ID:PATH, a host path, or - for stdin (a single file)')
  .argument('<dst>', 'ID:PATH, a host path, or - for stdout (a single file)')
  .option('-u, --user <user>', "act as this user inside the session (default: the session's user)")
  .addHelpText(
    'after',
    `${examples([
      'axo cp ./notes.txt app-1a2b3c:/tmp/          # into an existing directory',
      'axo cp app-1a2b3c:dist ./dist                 # a directory, links kept as links',
      'axo cp app-1a2b3c:out.log - | less            # to stdout (a relative path starts at the session workdir)',
      'curl -s https://example.com | axo cp - app-1a2b3c:page.html',
    ])}
Everything goes through the session's agent as the session's user (never podman cp): links
inside a copied directory are recreated as links and never followed, and a directory is only
copied into a new destination. Files are replaced atomically on both sides.
`,
  )
  .action(run(async (src: string, dst: string, o) => (await import('./commands/cp')).cp(src, dst, o)));

program
  .command('ls-files')
  .description('list files in a session, like ls -l')
  .argument('<id>', 'session id')
  .argument('[path]', "directory or file in the session (default: the session's working directory)")
  .option('--depth <n>', 'levels to descend, 1-32 (links are listed, never followed)')
  .option('-u, --user <user>', "act as this user inside the session (default: the session's user)")
  .option('--json', 'print the entries as JSON')
  .addHelpText('after', examples(['axo ls-files app-1a2b3c', 'axo ls-files app-1a2b3c src --depth 3 --json']))
  .action(
    run(async (id: string, path: string | undefined, o) => (await import('./commands/ls-files')).lsFiles(id, path, o)),
  );

const net = program
  .command('net')
  .description("a session's egress allowlist (sessions started with --network allowlist or --allow-host)");
net
  .command('show')
  .description('print the entries in force')
  .argument('<id>', 'session id')
  .option('--json', 'print as JSON')
  .action(run(async (id: string, o) => (await import('./commands/net')).show(id, o)));
net
  .command('allow')
  .description('add entries; new connections may use them at once')
  .argument('<id>', 'session id')
  .argument('<entries...>', 'hosts, *.suffixes, IPs or CIDRs, each with an optional :port')
  .action(run(async (id: string, entries: string[]) => (await import('./commands/net')).allow(id, entries)));
net
  .command('deny')
  .description('remove entries; open connections they allowed are closed')
  .argument('<id>', 'session id')
  .argument('<entries...>', 'entries to remove, as `axo net show` prints them')
  .action(run(async (id: string, entries: string[]) => (await import('./commands/net')).deny(id, entries)));
net
  .command('set')
  .description('replace the entries (none: deny everything)')
  .argument('<id>', 'session id')
  .argument('[entries...]', 'the new entries')
  .action(run(async (id: string, entries: string[]) => (await import('./commands/net')).set(id, entries)));
net
  .command('log')
  .description('the audit trail: every connection the session asked for, allowed or denied')
  .argument('<id>', 'session id')
  .option('--since <time>', 'only since this time (ISO 8601) or this long ago (30s, 5m, 2h)')
  .option('--limit <n>', 'at most this many (the newest)')
  .option('--json', 'print the records as JSON')
  .addHelpText(
    'after',
    examples([
      'axo net log app-1a2b3c',
      'axo net log app-1a2b3c --since 10m --json | jq \'select(.decision=="deny")\'',
    ]),
  )
  .action(run(async (id: string, o) => (await import('./commands/net')).log(id, o)));

program
  .command('ls')
  .description('list sessions')
  .option('--json', 'print as JSON')
  .addHelpText('after', examples(['axo ls', 'axo ls --json | jq -r ".[].id"']))
  .action(run(async (o) => (await import('./commands/ls')).ls(o)));

program
  .command('down')
  .description('stop and remove sessions')
  .argument('[ids...]', 'session ids')
  .option('--all', 'remove every session of this owner')
  .addHelpText('after', examples(['axo down app-1a2b3c', 'axo down --all']))
  .action(run(async (ids: string[], o) => (await import('./commands/down')).down(ids, o)));

program
  .command('pause')
  .description('freeze sessions: no CPU used, memory and processes kept; any use resumes them')
  .argument('<ids...>', 'session ids')
  .addHelpText('after', examples(['axo pause app-1a2b3c', 'axo resume app-1a2b3c']))
  .action(run(async (ids: string[]) => (await import('./commands/pause')).pause(ids)));

program
  .command('resume')
  .description('thaw paused sessions (any exec, shell or file call also resumes them)')
  .argument('<ids...>', 'session ids')
  .action(run(async (ids: string[]) => (await import('./commands/pause')).resume(ids)));

program
  .command('reap')
  .description("remove this owner's sessions whose container stopped or whose directory is gone")
  .option('--json', 'print as JSON')
  .addHelpText('after', examples(['axo reap']))
  .action(run(async (o) => (await import('./commands/reap')).reap(o)));

program
  .command('doctor')
  .description('check podman, its runtime, cgroups, ulimits, the default image and ports; print fixes')
  .option('-p, --port <port>', 'also check that this port is free (repeatable)', port, [])
  .option('--json', 'print as JSON')
  .addHelpText('after', examples(['axo doctor', 'axo doctor --port 3000']))
  .action(run(async (o) => (await import('./commands/doctor')).doctor(o)));

const image = program.command('image').description('manage local images');
image
  .command('bootstrap')
  .description('build local images without any registry and make the best one the trusted default')
  .option('--debian', 'also build a Debian image with git, curl, python3 (default: when mmdebstrap exists)')
  .option('--no-debian', 'build only the busybox image')
  .option('--suite <suite>', 'Debian suite', 'bookworm')
  .option('--json', 'print as JSON')
  .addHelpText('after', examples(['axo image bootstrap', 'axo image bootstrap --no-debian']))
  .action(run(async (o) => (await import('./commands/image')).bootstrap(o)));

program
  .command('serve')
  .description('start axo-server: the HTTP + WebSocket API and web terminal (see apps/server)')
  .option('--host <host>', 'address to listen on (default 127.0.0.1; env AXO_SERVER_HOST)')
  .option('--port <port>', 'port (default 7878; env AXO_SERVER_PORT)')
  .option('--root <dir>', 'allow session working directories under this directory (repeatable)', collect, [])
  .option('--e2b', 'also serve the E2B API, for the official E2B SDKs (env AXO_SERVER_E2B=1)')
  .addHelpText(
    'after',
    examples([
      'axo serve --root ~/src',
      'AXO_TOKEN=$(openssl rand -hex 32) axo serve --host 0.0.0.0 --root /srv/work',
      'AXO_TOKEN=e2b_$(openssl rand -hex 20) axo serve --e2b --root /srv/e2b',
    ]),
  )
  .action(
    run(async (o: { host?: string; port?: string; root: string[]; e2b?: boolean }) => {
      const { main } = await import('@axo/server');
      await main({
        ...process.env,
        ...(o.host !== undefined && { AXO_SERVER_HOST: o.host }),
        ...(o.port !== undefined && { AXO_SERVER_PORT: o.port }),
        ...(o.root.length > 0 && { AXO_SERVER_ROOTS: o.root.join(',') }),
        ...(o.e2b === true && { AXO_SERVER_E2B: '1' }),
      });
      // The server runs until a signal stops it.
      await new Promise(() => {});
      return EXIT.ok;
    }),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    exitCode = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code)
      ? EXIT.ok
      : EXIT.usage;
  } else {
    const { printError } = await import('./ui');
    printError(error, Boolean(program.opts().debug) || process.env.AXO_DEBUG === '1');
    exitCode = exitCodeFor(error);
  }
}
// Output went to the descriptors (writeText, writeAll) or was flushed by whoever used a stream
// (pumpTo), so nothing is pending here.
process.exit(exitCode);
