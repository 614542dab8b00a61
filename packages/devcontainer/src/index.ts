export type { DevcontainerRequest, IgnoredSetting, PostCreateCommand } from './parse';
export { DEVCONTAINER_CANDIDATES, DevcontainerError, parseDevcontainer } from './parse';
