export type { AxoErrorCode, ManagedContainer, RingSlice, SandboxPolicy, SandboxPolicyInput } from '@axo/podman-args';
export { AxoError, ByteRing, InvalidInputError } from '@axo/podman-args';
export type { AgentExit, AgentStartSpec, AttachOptions as AgentAttachOptions } from './agent/client';
export { AgentClient, AgentProcess } from './agent/client';
export type { AgentEndpoint } from './agent/connection';
export type { AgentStatus } from './agent/endpoint';
export { endpointFor, endpointForSync } from './agent/endpoint';
export type { AgentFileErrorCode } from './agent/file-error';
export { FileError } from './agent/file-error';
export type { FileWatch } from './agent/file-watch';
export type { FileList } from './agent/files-client';
export { agentRunRoot, sessionRunDir } from './agent/paths';
export { isPaused, pauseSupport } from './agent/pause';
export type { AgentSignal, FileEntry, FileEvent, FileEventOp, FileType, ProcInfo } from './agent/protocol';
export { AGENT_SIGNALS, SIGNAL_NUMBERS } from './agent/protocol';
export type { BuildReport, BuildRequest } from './build';
export { buildRequestSchema } from './build';
export type { EgressLogOptions, EgressRecord, EgressStats } from './egress';
export { egressLogOptionsSchema, egressRecordSchema } from './egress';
export { ensurePodman } from './ensure';
export type { PodmanErrorDetails } from './errors';
export { INSTALL_HINT, PodmanError } from './errors';
export type { ExecOptions, ExecResult, SpawnOptions } from './exec';
export { execOptionsSchema, spawnOptionsSchema } from './exec';
export type {
  FileListOptions,
  FileMkdirOptions,
  FileReadFileOptions,
  FileReadOptions,
  FileRemoveOptions,
  FileStatOptions,
  FileUserOptions,
  FileWatchOptions,
  FileWriteOptions,
} from './files/options';
export {
  fileListOptionsSchema,
  fileMkdirOptionsSchema,
  fileReadOptionsSchema,
  fileRemoveOptionsSchema,
  fileStatOptionsSchema,
  fileWatchOptionsSchema,
  fileWriteOptionsSchema,
} from './files/options';
export { SandboxFiles } from './files/sandbox-files';
export type { InForce } from './in-force';
export { keyedLock } from './keyed-lock';
export type { LifecycleCommand, LifecycleCommands, LifecycleOutcome, LifecycleStage } from './lifecycle';
export { LIFECYCLE_STAGES, lifecycleSchema } from './lifecycle';
export type { SandboxLogger } from './logger';
export { silentLogger } from './logger';
export type {
  Podman,
  PodmanExit,
  PodmanOptions,
  PodmanProcess,
  PodmanResult,
  PodmanRunOptions,
  PodmanSpawnOptions,
} from './podman';
export { createPodman } from './podman';
export type { ExecExit, ExecProcess, OutputSink } from './process';
export type { PackageManager, ProvisionReport } from './provision';
export { DEFAULT_DEV_TOOLS } from './provision';
export type { ReapResult } from './reap';
export { reapOrphans } from './reap';
export type { HardeningReport, PostCreateOutcome } from './report';
export type { AttachOptions, StartOptions } from './sandbox';
export { attachOptionsSchema, SessionSandbox, startOptionsSchema } from './sandbox';
export type { SessionsOptions } from './sessions';
export { listSessions, removeSessions, sessionsOptionsSchema } from './sessions';
export type { SpawnTaskOptions, TaskInfo, TaskLog, TaskStatus } from './tasks';
export { DEFAULT_TASK_LOG_BYTES, spawnTaskOptionsSchema } from './tasks';
export type { AgentTerminalExit, TerminalOptions } from './terminal';
export { AgentTerminal, DEFAULT_TERMINAL_COMMAND, terminalOptionsSchema } from './terminal';
