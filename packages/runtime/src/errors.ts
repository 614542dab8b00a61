import { AxoError, type AxoErrorCode } from '@axo/podman-args';

export interface PodmanErrorDetails {
  /** The podman command line that failed. */
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** Whether trying the same thing again may succeed. */
  readonly retryable?: boolean;
  readonly hint?: string;
  readonly cause?: unknown;
}

/** A podman invocation that failed; carries what podman said. */
export class PodmanError extends AxoError {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly retryable: boolean;

  constructor(code: AxoErrorCode, message: string, details: PodmanErrorDetails) {
    const said = summarizeStderr(details.stderr);
    super(code, said && !message.includes(said) ? `${message}: ${said}` : message, {
      cause: details.cause,
      hint: details.hint,
    });
    this.name = 'PodmanError';
    this.command = details.command;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stderr = details.stderr;
    this.timedOut = details.timedOut;
    this.retryable = details.retryable ?? false;
  }
}

/** podman's own verdict: its last `Error:` line (progress lines come first), else its last line. */
export function summarizeStderr(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const error = lines.findLast((l) => l.startsWith('Error:'));
  return (error ?? lines.at(-1) ?? '').replace(/^Error:\s*/, '');
}

/** How to get podman, for PODMAN_MISSING errors. */
export const INSTALL_HINT =
  'Install podman (Debian/Ubuntu: `apt-get install podman runc`; Fedora: `dnf install podman`), ' +
  'or pass the path of its binary as the `podman` option.';
