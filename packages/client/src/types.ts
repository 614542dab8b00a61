// Names for the generated types (src/generated/schema.ts, from the server's OpenAPI).
import type { components, operations } from './generated/schema';

type Schemas = components['schemas'];
type JsonBody<K extends keyof operations> = operations[K] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;

export type Session = Schemas['Session'];
export type HardeningReport = Schemas['HardeningReport'];
export type ExecResult = Schemas['ExecResult'];
export type Task = Schemas['Task'];
export type Terminal = Schemas['Terminal'];
export type TerminalSummary = Schemas['TerminalSummary'];
export type FileEntry = Schemas['FileEntry'];
export type WatchEvent = Extract<Schemas['WatchEvent'], { type: 'event' }>;
export type ProcessInfo = Schemas['ProcessInfo'];
export type ProcessExit = Schemas['ProcessExit'];
export type SessionToken = Schemas['SessionToken'];
export type SessionTokenSecret = Schemas['SessionTokenSecret'];
/** A line of a process stream as the server sends it (output base64). */
export type ProcessWireEvent = Schemas['ProcessEvent'];

export type CreateSessionRequest = JsonBody<'postSessions'>;
export type ExecRequest = JsonBody<'postSessionsExec'>;
export type StartTaskRequest = JsonBody<'postSessionsTasks'>;
export type OpenTerminalRequest = JsonBody<'postSessionsTerminals'>;
export type StartProcessRequest = JsonBody<'postSessionsProcesses'>;
export type CreateTokenRequest = JsonBody<'postSessionsTokens'>;
export type TaskWithLog = operations['getSessionsTasksById']['responses'][200]['content']['application/json'];
export type FileList = operations['getSessionsFilesList']['responses'][200]['content']['application/json'];

/** A line of a process stream with its output decoded (keepalives are not shown). */
export type ProcessEvent =
  | Exclude<ProcessWireEvent, { type: 'stdout' | 'stderr' | 'keepalive' | 'error' }>
  | { readonly type: 'stdout' | 'stderr'; readonly offset: number; readonly data: Uint8Array };

/** Offsets just past the last byte read, per stream: reconnect from here. */
export interface StreamOffsets {
  stdout: number;
  stderr: number;
}
