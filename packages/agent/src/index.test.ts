import { existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_ARCHES, agentBinaryPath, isAgentArch } from './index';

describe('agentBinaryPath', () => {
  it('returns an executable built binary for each architecture', () => {
    for (const arch of AGENT_ARCHES) {
      const path = agentBinaryPath(arch);
      expect(path).toMatch(/\/bin\/axo-agent-linux-(amd64|arm64)$/);
      expect(existsSync(path)).toBe(true);
      expect(statSync(path).mode & 0o111).not.toBe(0);
    }
  });

  it('refuses an architecture it is not built for', () => {
    expect(isAgentArch('ia32')).toBe(false);
    expect(() => agentBinaryPath('ia32')).toThrow(/built for x64 and arm64, not ia32/);
  });
});
