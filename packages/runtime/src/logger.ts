/** Where the runtime reports what it does; pino, console or anything with these methods. */
export interface SandboxLogger {
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
}

/** A logger that drops everything (the default: the report carries the warnings). */
export const silentLogger: SandboxLogger = { info() {}, warn() {} };
