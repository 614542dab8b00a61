export type { AxoErrorCode, ManagedContainer, RingSlice, SandboxPolicy, SandboxPolicyInput } from '@axo/podman-args';
export { AxoError, ByteRing, InvalidInputError } from '@axo/podman-args';
export { ensurePodman } from './ensure';
export type { PodmanErrorDetails } from './errors';
export { INSTALL_HINT, PodmanError } from './errors';
export type { ExecOptions, ExecResult } from './exec';
export { execOptionsSchema } from './exec';
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
