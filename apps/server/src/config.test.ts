import { InvalidInputError } from '@axo/runtime';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from './config';

describe('configFromEnv', () => {
  it('is safe by default: loopback, no roots, secure policy', () => {
    const c = configFromEnv({ HOME: '/home/x' });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 7878,
      allowedRoots: [],
      stateDir: '/home/x/.local/state/axo-server',
      policy: { allowPostCreate: false, allowUntrustedImage: false, network: 'bridge' },
      stopSessionsOnShutdown: false,
    });
    expect(c.token).toBeUndefined();
  });

  it('reads every AXO_SERVER_* setting', () => {
    const c = configFromEnv({
      AXO_SERVER_HOST: '0.0.0.0',
      AXO_SERVER_PORT: '9000',
      AXO_TOKEN: 'a-long-enough-token-123',
      AXO_SERVER_STATE_DIR: '/var/lib/axo',
      AXO_SERVER_ROOTS: '/srv/a,/srv/b',
      AXO_SERVER_DEFAULT_IMAGE: 'localhost/axo:debian',
      AXO_SERVER_TRUSTED_IMAGES: 'localhost/axo:busybox',
      AXO_SERVER_NETWORK: 'none',
      AXO_SERVER_ALLOW_POST_CREATE: 'true',
      AXO_SERVER_REQUIRE_LIMITS: '1',
      AXO_SERVER_MAX_SESSIONS: '5',
      AXO_SERVER_IDLE_TIMEOUT_MS: '0',
      AXO_SERVER_STOP_SESSIONS_ON_SHUTDOWN: 'yes',
    });
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 9000,
      token: 'a-long-enough-token-123',
      stateDir: '/var/lib/axo',
      allowedRoots: ['/srv/a', '/srv/b'],
      maxSessions: 5,
      idleTimeoutMs: 0,
      stopSessionsOnShutdown: true,
      policy: {
        defaultImage: 'localhost/axo:debian',
        trustedImages: ['localhost/axo:busybox'],
        network: 'none',
        allowPostCreate: true,
        requireResourceLimits: true,
      },
    });
  });

  it.each([
    [{ AXO_SERVER_PORT: 'http' }, 'port'],
    [{ AXO_TOKEN: 'short' }, 'token'],
    [{ AXO_SERVER_NETWORK: 'host' }, 'AXO_SERVER_NETWORK'],
    [{ AXO_SERVER_ALLOW_POST_CREATE: 'maybe' }, 'AXO_SERVER_ALLOW_POST_CREATE'],
  ])('names the bad setting in %j', (env, key) => {
    expect(() => configFromEnv(env)).toThrow(InvalidInputError);
    expect(() => configFromEnv(env)).toThrow(new RegExp(key));
  });
});
