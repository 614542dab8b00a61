import { AxoError } from '@axo/podman-args/errors';

/** Exit codes of `axo` (also listed in `axo --help`). `axo exec` exits with the command's own code. */
export const EXIT = Object.freeze({
  ok: 0,
  failed: 1,
  usage: 2,
  podmanMissing: 3,
  notFound: 4,
  startFailed: 5,
  sessionEnded: 6,
  timeout: 124,
  readerGone: 141,
  interrupted: 130,
});

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    failure (a check failed, podman failed)
  2    invalid input or usage
  3    podman is missing or not answering
  4    session not found
  5    a session could not start
  6    the session ended (was removed) while a command ran in it
  124  axo exec timed out
  130  interrupted (SIGINT); 143 terminated (SIGTERM)
  141  the reader of axo's output went away (as \`seq | head\` reports)
  axo exec and axo shell otherwise exit with the command's own exit code.`;

/** The exit code for an error thrown by a command. */
export function exitCodeFor(error: unknown): number {
  if (!AxoError.isInstance(error)) return EXIT.failed;
  switch (error.code) {
    case 'INVALID_INPUT':
      return EXIT.usage;
    case 'PODMAN_MISSING':
      return EXIT.podmanMissing;
    case 'NOT_FOUND':
      return EXIT.notFound;
    case 'START_FAILED':
    case 'LIMITS_UNAVAILABLE':
      return EXIT.startFailed;
    case 'TIMEOUT':
      return EXIT.timeout;
    case 'SESSION_ENDED':
      return EXIT.sessionEnded;
    default:
      return EXIT.failed;
  }
}
