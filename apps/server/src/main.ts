import { AxoError } from '@axo/runtime';
import { configFromEnv } from './config';
import { buildServer } from './server';

/** Starts axo-server from the environment; resolves once it listens. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = configFromEnv(env);
  const server = await buildServer(config);
  const address = await server.app.listen({ host: config.host, port: config.port });
  if (server.token.created) {
    // Printed once, when generated; afterwards it is only in the 0600 file.
    process.stderr.write(
      `axo-server: generated an access token (stored in ${server.token.file}):\n\n  ${server.token.token}\n\n`,
    );
  }
  server.app.log.info(
    { address, owner: server.sessions.owner, recovered: server.startup.recovered, reaped: server.startup.reaped },
    `axo-server listening on ${address}`,
  );
  const shutdown = (signal: string) => {
    server.app.log.info(`${signal}: shutting down`);
    server
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        server.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** Runs main() as the axo-server command: one-line errors, documented exit codes. */
export function runCli(): void {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`axo-server: ${message}\n`);
    if (AxoError.isInstance(error) && error.hint) process.stderr.write(`hint: ${error.hint}\n`);
    process.exit(AxoError.isInstance(error) && error.code === 'INVALID_INPUT' ? 2 : 1);
  });
}
