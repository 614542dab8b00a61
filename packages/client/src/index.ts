export type { AxoClientOptions } from './client';
export { AxoClient, createClient, Sessions, SessionTokens, Tasks } from './client';
export type { AxoFieldError, AxoProblem } from './errors';
export { AxoClientError } from './errors';
export type { ReadOptions, WriteData, WriteOptions } from './files';
export { Files, FileWatcher } from './files';
export type { components, operations, paths } from './generated/schema';
export { ndjson } from './ndjson';
export type { ProcessOutput, ProcessSignal, StreamOptions } from './processes';
export { Processes, ProcessHandle } from './processes';
export type { WebSocketConstructor } from './terminals';
export { TerminalConnection, Terminals } from './terminals';
export type {
  CreateSessionRequest,
  CreateTokenRequest,
  ExecRequest,
  ExecResult,
  FileEntry,
  FileList,
  HardeningReport,
  OpenTerminalRequest,
  ProcessEvent,
  ProcessExit,
  ProcessInfo,
  ProcessWireEvent,
  Session,
  SessionToken,
  SessionTokenSecret,
  StartProcessRequest,
  StartTaskRequest,
  StreamOffsets,
  Task,
  TaskWithLog,
  Terminal,
  TerminalSummary,
  WatchEvent,
} from './types';
