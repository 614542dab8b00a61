import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../config';

describe('turning the E2B façade on', () => {
  it('is off by default, and on with AXO_SERVER_E2B', () => {
    expect(configFromEnv({ HOME: '/home/x' }).e2b).toBe(false);
    expect(configFromEnv({ HOME: '/home/x', AXO_SERVER_E2B: '1' }).e2b).toBe(true);
    expect(configFromEnv({ HOME: '/home/x', AXO_SERVER_E2B: 'false' }).e2b).toBe(false);
    expect(() => configFromEnv({ HOME: '/home/x', AXO_SERVER_E2B: 'maybe' })).toThrow(/AXO_SERVER_E2B/);
  });

  it('takes an operator token shaped as E2B API keys', () => {
    const key = `e2b_${'ab'.repeat(20)}`;
    expect(configFromEnv({ HOME: '/home/x', AXO_TOKEN: key, AXO_SERVER_E2B: 'yes' }).token).toBe(key);
  });
});
