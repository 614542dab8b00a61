export type { PsArgsOptions, RmArgsOptions } from './args';
export { buildExecArgs, buildPsArgs, buildRmArgs, buildRunArgs } from './args';
export type { RingSlice } from './byte-ring';
export { ByteRing } from './byte-ring';
export type { Capability, ProcessSecurity } from './capabilities';
export {
  CAPABILITY_NAMES,
  capabilitySchema,
  DEFAULT_CAPABILITIES,
  decodeCapabilities,
  parseProcStatus,
} from './capabilities';
export {
  AGENT_PATHS,
  DEFAULT_IMAGE,
  DEFAULT_LIMITS,
  DEFAULT_OWNER,
  EGRESS_PATHS,
  GATEWAY_PREFIX,
  LABELS,
  MAX_ID_LENGTH,
  NAME_PREFIX,
} from './constants';
export type { EgressEntry, EgressEntryKind } from './egress';
export {
  DEFAULT_EGRESS_PORTS,
  EGRESS_PROXY_ENV,
  EGRESS_PROXY_URL,
  egressCovers,
  egressEntrySchema,
  egressListSchema,
  egressReachesProtected,
  PROTECTED_EGRESS_PREFIXES,
  parseEgressEntry,
} from './egress';
export type { AxoErrorCode, AxoErrorOptions } from './errors';
export { AxoError, InvalidInputError, parseInput } from './errors';
export type { GatewayContainer, GatewaySpecInput } from './gateway';
export { buildGatewayRunArgs, gatewayName, gatewaySpecSchema, parseGatewayContainers } from './gateway';
export type { ResolvedImage } from './image';
export { resolveImage } from './image';
export type { InspectFacts } from './inspect';
export { memoryBytes, parseInspect } from './inspect';
export type { KillTaggedOptions } from './kill';
export { buildKillTaggedArgs, EXEC_TAG_ENV } from './kill';
export { containerName } from './names';
export type { ManagedContainer } from './ps';
export { parseManagedContainers } from './ps';
export type {
  AgentSpec,
  ExecArgsOptionsInput,
  Network,
  ResourceLimits,
  RunSpec,
  RunSpecInput,
  SandboxPolicy,
  SandboxPolicyInput,
} from './schemas';
export {
  agentSpecSchema,
  containerRefSchema,
  envSchema,
  execArgsOptionsSchema,
  hostIpSchema,
  imageRefSchema,
  networkSchema,
  ownerIdSchema,
  portSchema,
  resourceLimitsSchema,
  runSpecSchema,
  sandboxPolicySchema,
  sessionIdSchema,
  userSchema,
  workdirSchema,
  workspaceFolderSchema,
} from './schemas';
export { shellJoin } from './shell';
export type { PodmanFailureKind } from './stderr';
export {
  classifyPodmanFailure,
  extractConflictingPort,
  isCgroupError,
  isContainerGone,
  isPortConflict,
} from './stderr';
export type { ListenerHandle } from './terminal-output';
export {
  assertTerminalSize,
  DEFAULT_SHELL_COMMAND,
  onExited,
  TERMINAL_LIMITS,
  TerminalOutput,
  terminalColsSchema,
  terminalRowsSchema,
} from './terminal-output';
