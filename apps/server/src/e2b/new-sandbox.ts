// What a new sandbox is made of: its id, the image its template names, its network, and
// E2B's `user` in it. Kept apart from the lifecycle (sandboxes.ts); the decisions are pure.
import { randomInt } from 'node:crypto';
import type { SandboxPolicy } from '@axo/runtime';
import type { ManagedSession } from '../sessions';
import { E2bHttpError } from './errors';
import { CREATE_E2B_USER_SCRIPT, E2B_USER } from './users';

/** The envd version whose behaviour this façade implements (see README: "E2B compatibility"). */
export const ENVD_VERSION = '0.5.7';
/** E2B's SDKs default to five minutes; the API applies it when a request names no timeout. */
export const DEFAULT_TIMEOUT_SECONDS = 300;

/** What the façade logs through (the server's logger). */
export interface Logger {
  info(message: string, details?: object): void;
  warn(message: string, details?: object): void;
  error(message: string, details?: object): void;
}

/** What the control plane accepts when creating a sandbox (already validated). */
export interface NewSandbox {
  readonly templateID: string;
  readonly timeout?: number | undefined;
  readonly autoPause?: boolean | undefined;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  readonly envVars?: Readonly<Record<string, string>> | undefined;
  readonly allowInternetAccess?: boolean | undefined;
  readonly network?: { readonly allowOut?: readonly string[]; readonly denyOut?: readonly string[] } | undefined;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** An id shaped like E2B's (20 lowercase letters and digits), valid as an axo session id. */
export function newSandboxId(): string {
  let id = 'i';
  for (let i = 0; i < 19; i++) id += ALPHABET[randomInt(ALPHABET.length)];
  return id;
}

/**
 * The axo network a sandbox asks for: no internet (`allow_internet_access: false`, or
 * `denyOut` of everything) is `none`, or an allowlist of `allowOut` when it names any;
 * anything else is the server's default. Deny lists narrower than everything are refused.
 */
export function networkFor(n: NewSandbox): { network?: 'none' | 'allowlist'; egress?: string[] } {
  const deny = n.network?.denyOut ?? [];
  const allow = n.network?.allowOut ?? [];
  const denyAll = deny.some((d) => d === '0.0.0.0/0' || d === '::/0');
  const others = deny.filter((d) => d !== '0.0.0.0/0' && d !== '::/0');
  if (others.length > 0) {
    throw new E2bHttpError(
      400,
      `network.denyOut ${others.join(', ')}: axo-server denies either everything (0.0.0.0/0) or nothing; ` +
        'allow what is needed with allowOut instead',
    );
  }
  if (n.allowInternetAccess === false || denyAll) {
    return allow.length > 0 ? { network: 'allowlist', egress: [...allow] } : { network: 'none' };
  }
  return {};
}

/** The image a template names: `base` is the default image; a trusted image names itself; else a 400. */
export function imageFor(policy: SandboxPolicy, templateID: string): string {
  if (templateID === 'base' || templateID === policy.defaultImage) return policy.defaultImage;
  if (policy.trustedImages.includes(templateID)) return templateID;
  throw new E2bHttpError(
    400,
    `template "${templateID}" is not known to this axo-server: use "base" (its default image, ${policy.defaultImage})` +
      (policy.trustedImages.length > 0 ? ` or a trusted image by name (${policy.trustedImages.join(', ')})` : ''),
  );
}

/**
 * Gives the session E2B's `user` (home /home/user) unless the image has one; where that
 * cannot be done (a read-only root, no shell), the session's own user is the default.
 */
export async function setUpUser(session: ManagedSession, log: Logger): Promise<{ name?: string; home: string }> {
  const made = await session.sandbox
    .exec(['/bin/sh', '-c', CREATE_E2B_USER_SCRIPT], { user: '0', timeoutMs: 30_000 })
    .catch((error: unknown) => ({ exitCode: -1, stdout: '', stderr: (error as Error).message }));
  const line = String(made.stdout).trim().split('\n').at(-1) ?? '';
  if (made.exitCode === 0 && line.startsWith(`${E2B_USER}:/`)) return { name: E2B_USER, home: line.slice(5) };
  log.warn(`e2b: sandbox ${session.id}: could not create user "${E2B_USER}"; commands run as the session's user`, {
    stderr: String(made.stderr).slice(0, 500),
  });
  const own = await session.sandbox
    .exec(['/bin/sh', '-c', 'echo "$HOME"'], { timeoutMs: 30_000 })
    .catch(() => undefined);
  const home = String(own?.stdout ?? '').trim();
  return { home: home.startsWith('/') ? home : '/' };
}
