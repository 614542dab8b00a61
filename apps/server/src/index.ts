export type { ServerConfig, ServerConfigInput } from './config';
export { configFromEnv, serverConfigSchema } from './config';
export { main, runCli } from './main';
export { openapiDocument } from './openapi';
export type { AxoServer } from './server';
export { buildServer, VERSION } from './server';
