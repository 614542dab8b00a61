export type { DevcontainerRequest, IgnoredSetting, PostCreateCommand } from './parse';
export { DEVCONTAINER_CANDIDATES, DevcontainerError, findDevcontainer, parseDevcontainer } from './parse';
