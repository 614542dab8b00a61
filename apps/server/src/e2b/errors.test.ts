import { AxoError, FileError } from '@axo/runtime';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../problem';
import { RpcError } from './connect';
import { E2bHttpError, httpErrorBody, httpErrorOf, rpcErrorOf } from './errors';

const fileError = (code: string) => new FileError('NOT_FOUND', code, '/x', `cannot read "/x": ${code}`);

describe('errors in E2B’s shapes', () => {
  it('gives Connect codes the SDK maps to its own classes', () => {
    expect(rpcErrorOf(fileError('NOT_FOUND')).code).toBe('not_found'); // FileNotFoundError
    expect(rpcErrorOf(fileError('EXISTS')).code).toBe('already_exists'); // makeDir → false
    expect(rpcErrorOf(fileError('NOT_DIR')).code).toBe('invalid_argument');
    expect(rpcErrorOf(fileError('PERMISSION')).code).toBe('permission_denied');
    expect(rpcErrorOf(new AxoError('SESSION_ENDED', 'gone')).code).toBe('unavailable');
    expect(rpcErrorOf(new AxoError('INVALID_INPUT', 'bad cwd')).code).toBe('invalid_argument');
    expect(rpcErrorOf(new ApiError(404, 'NOT_FOUND', 'no session')).code).toBe('not_found');
    expect(rpcErrorOf(new E2bHttpError(401, 'no')).code).toBe('unauthenticated');
    const same = new RpcError('deadline_exceeded', 'late');
    expect(rpcErrorOf(same)).toBe(same);
  });

  it('never leaks an unexpected error’s message', () => {
    const e = rpcErrorOf(new Error('secret internals'));
    expect(e.code).toBe('internal');
    expect(e.message).not.toContain('secret');
    expect(httpErrorOf(new TypeError('secret')).message).not.toContain('secret');
  });

  it('gives /files and the control plane envd’s and the API’s statuses', () => {
    expect(httpErrorOf(fileError('NOT_FOUND')).status).toBe(404); // FileNotFoundError
    expect(httpErrorOf(fileError('IS_DIR')).status).toBe(400);
    expect(httpErrorOf(fileError('NO_SPACE')).status).toBe(507); // NotEnoughSpaceError
    expect(httpErrorOf(fileError('TOO_LARGE')).status).toBe(413);
    expect(httpErrorOf(new RpcError('unauthenticated', 'bad user', 401)).status).toBe(401);
    expect(httpErrorOf(new ApiError(403, 'POLICY_DENIED', 'image not trusted')).status).toBe(403);
    expect(httpErrorOf(new AxoError('START_FAILED', 'podman said no', { hint: 'look' })).message).toBe(
      'podman said no (look)',
    );
    expect(httpErrorBody(404, 'sandbox "x" not found')).toEqual({ code: 404, message: 'sandbox "x" not found' });
  });
});
