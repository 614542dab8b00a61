import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AxoError, InvalidInputError, parseInput } from './errors';
import { sandboxPolicySchema } from './schemas';

describe('AxoError', () => {
  it('carries code, hint and cause, and is recognised by brand across copies', () => {
    const cause = new Error('root');
    const error = new AxoError('START_FAILED', 'could not start', { cause, hint: 'run axo doctor' });
    expect(error.code).toBe('START_FAILED');
    expect(error.hint).toBe('run axo doctor');
    expect(error.cause).toBe(cause);
    expect(AxoError.isInstance(error)).toBe(true);
    // A second copy of the package builds its errors with the same global symbol.
    const foreign = Object.assign(new Error('x'), { [Symbol.for('axo.error')]: true });
    expect(AxoError.isInstance(foreign)).toBe(true);
    expect(AxoError.isInstance(new Error('x'))).toBe(false);
    expect(AxoError.isInstance(null)).toBe(false);
  });

  it('names the field that failed', () => {
    const error = (() => {
      try {
        parseInput(z.strictObject({ a: z.object({ b: z.number() }) }), { a: { b: 'x' } }, 'options');
      } catch (e) {
        return e as InvalidInputError;
      }
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error?.field).toBe('a.b');
    expect(error?.message).toMatch(/^Invalid options: a\.b: /);
  });
});

describe('sandboxPolicySchema', () => {
  it('is secure by default (reference: default_policy_is_secure)', () => {
    const p = sandboxPolicySchema.parse({});
    expect(p.allowPostCreate).toBe(false);
    expect(p.allowUntrustedImage).toBe(false);
    expect(p.network).toBe('bridge');
    expect(p.requireResourceLimits).toBe(false);
    expect(p.limits).toEqual({ memory: '2g', cpus: 2, pids: 512 });
  });

  it('fills partial limits from the defaults and allows turning them off', () => {
    expect(sandboxPolicySchema.parse({ limits: { memory: '4g' } }).limits).toEqual({
      memory: '4g',
      cpus: 2,
      pids: 512,
    });
    expect(sandboxPolicySchema.parse({ limits: false }).limits).toBe(false);
  });

  it('rejects unknown keys so a typo cannot silently weaken the policy', () => {
    expect(sandboxPolicySchema.safeParse({ allowPostCreateCommand: true }).success).toBe(false);
  });
});

describe('parseInput', () => {
  it('names unknown keys, nested ones with their path', () => {
    const schema = z.strictObject({ policy: z.strictObject({ network: z.string().optional() }) });
    const error = (() => {
      try {
        parseInput(schema, { policy: { netwrok: 'none' } }, 'options');
      } catch (e) {
        return e as InvalidInputError;
      }
    })();
    expect(error?.field).toBe('policy.netwrok');
    expect(error?.message).toBe('Invalid options: unknown option(s) "policy.netwrok"');
  });
});
