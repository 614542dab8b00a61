import { getSignature } from 'e2b';
import { describe, expect, it } from 'vitest';
import { fileSignature, findSigner } from './signing';

const token = 'axs.st-0123456789abcdef.secret';

describe('signed file URLs', () => {
  it('makes the same signature as the E2B SDK, with and without an expiration', async () => {
    for (const [path, operation, user, expirationInSeconds] of [
      ['/home/user/a.txt', 'read', undefined, undefined],
      ['/home/user/a.txt', 'write', 'root', undefined],
      ['', 'write', undefined, 60],
      ['relative/ü.txt', 'read', 'user', 3600],
    ] as const) {
      const sdk = await getSignature({ path, operation, user, expirationInSeconds, envdAccessToken: token });
      const ours = fileSignature({
        path,
        operation,
        username: user ?? '',
        token,
        ...(sdk.expiration !== null && { expiration: sdk.expiration }),
      });
      expect(ours).toBe(sdk.signature);
      expect(ours).toMatch(/^v1_[A-Za-z0-9+/]+$/);
    }
  });

  it('finds the sandbox whose token made a signature', () => {
    const sandboxes = [
      { id: 'a', token: 'token-a' },
      { id: 'b', token: 'token-b' },
    ];
    const signature = fileSignature({ path: '/x', operation: 'read', username: '', token: 'token-b' });
    expect(findSigner({ path: '/x', signature }, 'read', sandboxes)?.id).toBe('b');
    // Another path, operation or user is another signature.
    expect(findSigner({ path: '/y', signature }, 'read', sandboxes)).toBeUndefined();
    expect(findSigner({ path: '/x', signature }, 'write', sandboxes)).toBeUndefined();
    expect(findSigner({ path: '/x', username: 'root', signature }, 'read', sandboxes)).toBeUndefined();
  });

  it('refuses a missing, malformed or expired signature', () => {
    const sandboxes = [{ token: 't' }];
    expect(() => findSigner({ path: '/x' }, 'read', sandboxes)).toThrow(/missing or malformed/);
    expect(() => findSigner({ path: '/x', signature: 'abc' }, 'read', sandboxes)).toThrow(/malformed/);
    const now = 1_700_000_000;
    const past = fileSignature({ path: '/x', operation: 'read', username: '', token: 't', expiration: now - 1 });
    expect(() =>
      findSigner({ path: '/x', signature: past, signature_expiration: String(now - 1) }, 'read', sandboxes, now),
    ).toThrow(/expired/);
    const future = fileSignature({ path: '/x', operation: 'read', username: '', token: 't', expiration: now + 60 });
    expect(
      findSigner({ path: '/x', signature: future, signature_expiration: String(now + 60) }, 'read', sandboxes, now),
    ).toBe(sandboxes[0]);
    expect(() =>
      findSigner({ path: '/x', signature: future, signature_expiration: '1e9' }, 'read', sandboxes, now),
    ).toThrow(/malformed signature_expiration/);
  });
});
