// The light entry (`@axo/runtime/agent`): reaching a session's agent without zod, execa or
// podman, so a short-lived process such as `axo exec` loads only what it needs.

export { spawnViaAgent } from '../backends/agent';
export type { ExecExit, ExecProcess, SpawnSpec } from '../process';
export type { AgentExit, AgentStartSpec, AttachOptions } from './client';
export { AgentClient, AgentProcess } from './client';
export type { AgentEndpoint, ConnectOptions } from './connection';
export type { AgentStatus } from './endpoint';
export { endpointFor, endpointForSync } from './endpoint';
export type { AgentFileErrorCode } from './file-error';
export { FileError } from './file-error';
export { FileWatch } from './file-watch';
export type {
  FileList,
  FileListOptions,
  FileMkdirOptions,
  FileRead,
  FileReadOptions,
  FileRemoveOptions,
  FileStatOptions,
  FileUserOptions,
  FileWatchOptions,
  FileWriteOptions,
  FileWriteSource,
} from './files-client';
export { AgentFiles, MAX_LIST_ENTRIES } from './files-client';
export { agentRunRoot, agentSocketPath, sessionRunDir } from './paths';
export type { AgentSignal, FileEntry, FileEvent, FileEventOp, FileType, ProcInfo } from './protocol';
export { signalExitCode } from './protocol';
