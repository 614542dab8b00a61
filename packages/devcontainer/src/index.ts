export type { DevcontainerErrorOptions } from './error';
export { MAX_DEVCONTAINER_BYTES, MAX_DEVCONTAINER_DEPTH } from './limits';
export { DEVCONTAINER_CANDIDATES, DevcontainerError, findDevcontainer, parseDevcontainer } from './parse';
export type {
  BuildRequest,
  DevcontainerNote,
  DevcontainerRequest,
  IgnoredSetting,
  LifecycleCommand,
  LifecycleCommandKey,
  LifecycleCommands,
  PostCreateCommand,
} from './types';
