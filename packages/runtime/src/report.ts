import type { Network, ResourceLimits } from '@axo/podman-args';
import type { AgentStatus } from './agent/endpoint';
import type { BuildReport } from './build';
import type { InForce } from './in-force';
import type { LifecycleOutcome } from './lifecycle';
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
    /** Whether every requested limit is in force (read from the container's cgroup). */
    readonly applied: boolean;
    /** Why requested limits are not in force. */
    readonly droppedReason?: string;
  };
  readonly ports: {
    readonly requested: readonly number[];
    readonly published: readonly { readonly hostIp: string; readonly port: number }[];
    readonly dropped: readonly { readonly port: number; readonly reason: string }[];
  };
  /** Capabilities asked for (kept after `--cap-drop=ALL`) and those in force. */
  readonly capabilities: { readonly requested: readonly string[]; readonly effective: readonly string[] };
  /** In force (read from the host's /proc). */
  readonly noNewPrivileges: boolean;
  readonly readOnlyRoot: { readonly requested: boolean; readonly inForce: boolean };
  /** Everything read from the host side: capabilities, no-new-privileges, seccomp, limits, ports, user namespace. */
  readonly inForce: InForce;
  /** What was asked for and is not in force, in words; empty when everything holds. */
  readonly differences: readonly string[];
  /** Whether commands run through the session's agent, and if not, why (`podman exec` then). */
  readonly agent: AgentStatus;
  /** The post-create stage alone (kept for older readers; see `lifecycle`). */
  readonly postCreate: readonly PostCreateOutcome[];
  /** Every lifecycle command of this start (onCreate … postAttach) and how it went. */
  readonly lifecycle: readonly LifecycleOutcome[];
  readonly provisioning: ProvisionReport;
  /**
   * An `allowlist` session's egress: the entries in force at start and its gateway container
   * (change them with `setEgress`; see `egressLog`).
   */
  readonly egress?: { readonly entries: readonly string[]; readonly gateway: string };
  /** The image build the repository asked for, when it was done. */
  readonly build?: BuildReport;
  /** Every warning raised while starting, in order. */
  readonly warnings: readonly string[];
  readonly durationMs: number;
}
