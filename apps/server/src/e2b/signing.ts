// Signed file URLs (`sandbox.downloadUrl()` / `uploadUrl()`): the SDK signs
// `path:operation:username:accessToken[:expiration]` with SHA-256 (base64, no padding,
// prefixed `v1_`), and the URL carries neither the sandbox id nor the token. So the server
// finds the sandbox by trying each sandbox's token: a signature only one token can make.
// Pure: no I/O.
import { createHash } from 'node:crypto';
import { tokenMatches } from '../token';

export type SignedOperation = 'read' | 'write';

export interface SignatureInput {
  /** The `path` query parameter exactly as sent ('' when absent). */
  readonly path: string;
  readonly operation: SignedOperation;
  /** The `username` query parameter ('' when absent: the default user). */
  readonly username: string;
  readonly token: string;
  /** Unix seconds, when the URL expires. */
  readonly expiration?: number;
}

/** The signature envd expects (and the SDK makes) for these inputs. */
export function fileSignature(s: SignatureInput): string {
  const parts = [s.path, s.operation, s.username, s.token];
  if (s.expiration !== undefined) parts.push(String(s.expiration));
  return `v1_${createHash('sha256').update(parts.join(':')).digest('base64').replace(/=+$/, '')}`;
}

/** A signed request's parameters, from its query string. */
export interface SignedQuery {
  readonly path?: string;
  readonly username?: string;
  readonly signature?: string;
  readonly signature_expiration?: string;
}

/**
 * Which of `candidates` signed this request: the first whose token makes the signature.
 * Throws a message for a malformed or expired signature; undefined when no token matches.
 */
export function findSigner<T extends { readonly token: string }>(
  query: SignedQuery,
  operation: SignedOperation,
  candidates: Iterable<T>,
  nowSeconds = Math.floor(Date.now() / 1000),
): T | undefined {
  const signature = query.signature;
  if (signature === undefined || !signature.startsWith('v1_')) throw new Error('missing or malformed signature');
  let expiration: number | undefined;
  if (query.signature_expiration !== undefined) {
    if (!/^\d{1,12}$/.test(query.signature_expiration)) throw new Error('malformed signature_expiration');
    expiration = Number(query.signature_expiration);
  }
  let found: T | undefined;
  for (const candidate of candidates) {
    const expected = fileSignature({
      path: query.path ?? '',
      operation,
      username: query.username ?? '',
      token: candidate.token,
      ...(expiration !== undefined && { expiration }),
    });
    // Every candidate is checked, so the time taken does not say which one matched.
    // Compared in constant time: a signature is a secret derived from the token.
    if (tokenMatches(signature, expected) && !found) found = candidate;
  }
  if (found && expiration !== undefined && expiration < nowSeconds) throw new Error('signature is already expired');
  return found;
}
