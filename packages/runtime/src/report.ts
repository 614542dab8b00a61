import type { Network, ResourceLimits } from '@axo/podman-args';
import type { AgentStatus } from './agent/endpoint';
import type { ProvisionReport } from './provision';

/** One post-create command and how it went. */
export interface PostCreateOutcome {
  readonly command: string;
  /** `skipped` when the policy forbids post-create commands. */
  readonly status: 'skipped' | 'ok' | 'failed' | 'timed-out';
  readonly exitCode: number | null;
}

/** What protection a session actually got, and what was dropped and why. */
export interface HardeningReport {
  readonly sessionId: string;
  readonly container: string;
  readonly owner: string;
  readonly workdir: string;
  /** An existing container was reused instead of created. */
  readonly reattached: boolean;
  readonly image: {
    readonly requested: string | undefined;
    readonly used: string;
    /** Why the requested image was not used. */
    readonly refusedReason?: string;
  };
  readonly network: Network;
  readonly limits: {
    readonly requested: ResourceLimits | false;
    /** `unknown` for a reattached container. */
    readonly applied: boolean | 'unknown';
    /** Why requested limits were not applied. */
    readonly droppedReason?: string;
  };
  readonly ports: {
    readonly requested: readonly number[];
    readonly published: readonly { readonly hostIp: string; readonly port: number }[];
    readonly dropped: readonly { readonly port: number; readonly reason: string }[];
  };
  readonly capabilitiesDropped: readonly string[];
  readonly noNewPrivileges: boolean;
  /** Whether commands run through the session's agent, and if not, why (`podman exec` then). */
  readonly agent: AgentStatus;
  readonly postCreate: readonly PostCreateOutcome[];
  readonly provisioning: ProvisionReport;
  /** Every warning raised while starting, in order. */
  readonly warnings: readonly string[];
  readonly durationMs: number;
}
