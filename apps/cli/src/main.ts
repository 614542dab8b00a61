import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, EXIT_CODES_HELP, exitCodeFor } from './exit-codes';
import { exitWhenFlushed } from './io';

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
  .addOption(new Option('--network <mode>', 'network of the session').choices(['bridge', 'none']))
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
  .addHelpText(
    'after',
    examples(['axo serve --root ~/src', 'AXO_TOKEN=$(openssl rand -hex 32) axo serve --host 0.0.0.0 --root /srv/work']),
  )
  .action(
    run(async (o: { host?: string; port?: string; root: string[] }) => {
      const { main } = await import('@axo/server');
      await main({
        ...process.env,
        ...(o.host !== undefined && { AXO_SERVER_HOST: o.host }),
        ...(o.port !== undefined && { AXO_SERVER_PORT: o.port }),
        ...(o.root.length > 0 && { AXO_SERVER_ROOTS: o.root.join(',') }),
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
await exitWhenFlushed(exitCode);
