import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Architectures the agent is built for, in Node's names (`process.arch`). */
export const AGENT_ARCHES = Object.freeze(['x64', 'arm64'] as const);
export type AgentArch = (typeof AGENT_ARCHES)[number];

const GOARCH: Record<AgentArch, string> = { x64: 'amd64', arm64: 'arm64' };

/** True when `arch` is one the agent is built for. */
export function isAgentArch(arch: string): arch is AgentArch {
  return (AGENT_ARCHES as readonly string[]).includes(arch);
}

/**
 * Absolute path of the static agent binary for `arch` (default: this machine's), or
 * throws when this architecture has no build or the binary was not built.
 */
export function agentBinaryPath(arch: string = process.arch): string {
  if (!isAgentArch(arch)) {
    throw new Error(`axo-agent is built for ${AGENT_ARCHES.join(' and ')}, not ${arch}`);
  }
  // src/ and dist/ both sit next to bin/.
  const path = fileURLToPath(new URL(`../bin/axo-agent-linux-${GOARCH[arch]}`, import.meta.url));
  if (!existsSync(path)) {
    throw new Error(
      `axo-agent binary missing at ${path}: build it with \`pnpm --filter @axo/agent build\` (needs Go 1.23)`,
    );
  }
  return path;
}
