import { describe, expect, it } from 'vitest';
import { AxoClientError, errorFromResponse, networkError } from './errors';
import { Transport } from './http';

const problem = (status: number, body: object) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/problem+json', 'x-request-id': 'req-1' },
  });

describe('problem+json becomes AxoClientError', () => {
  it('keeps status, code, detail, hint, errors and the request id', async () => {
    const error = await errorFromResponse(
      problem(400, {
        type: 'urn:axo:problem:invalid-input',
        title: 'INVALID_INPUT',
        status: 400,
        code: 'INVALID_INPUT',
        detail: 'invalid query: query.path: path must not be empty',
        hint: 'Give a path.',
        errors: [{ field: 'query.path', message: 'path must not be empty' }],
        instance: '/v1/sessions/s/files',
        requestId: 'req-2',
      }),
    );
    expect(AxoClientError.isInstance(error)).toBe(true);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'AxoClientError',
      status: 400,
      code: 'INVALID_INPUT',
      message: 'invalid query: query.path: path must not be empty',
      hint: 'Give a path.',
      errors: [{ field: 'query.path', message: 'path must not be empty' }],
      requestId: 'req-2',
    });
    expect(error.problem?.instance).toBe('/v1/sessions/s/files');
  });

  it('maps an answer that is not a problem to HTTP_<status>', async () => {
    const error = await errorFromResponse(new Response('<html>bad gateway</html>', { status: 502 }));
    expect(error).toMatchObject({ status: 502, code: 'HTTP_502', hint: undefined, errors: [] });
    expect(error.message).toContain('bad gateway');
  });

  it('maps failures below HTTP to NETWORK_ERROR and aborts to ABORTED', () => {
    expect(networkError(new TypeError('fetch failed'), 'GET /x')).toMatchObject({ status: 0, code: 'NETWORK_ERROR' });
    const abort = new DOMException('aborted', 'AbortError');
    expect(networkError(abort, 'GET /x')).toMatchObject({ status: 0, code: 'ABORTED' });
  });

  it('is recognised across copies of the package (a brand, not instanceof)', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('axo.client-error')]: true });
    expect(AxoClientError.isInstance(foreign)).toBe(true);
    expect(AxoClientError.isInstance(new Error('x'))).toBe(false);
  });

  it('throws it from requests, with the token sent as a bearer', async () => {
    const seen: Request[] = [];
    const transport = new Transport({
      baseUrl: 'http://axo.test/',
      token: 'secret-token',
      fetch: async (input, init) => {
        seen.push(new Request(input, init));
        return problem(404, { type: 't', title: 'NOT_FOUND', status: 404, code: 'NOT_FOUND', detail: 'no session s' });
      },
    });
    await expect(transport.json('GET', '/v1/sessions/s', { query: { a: 1, b: undefined } })).rejects.toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      requestId: 'req-1',
    });
    expect(seen[0]?.url).toBe('http://axo.test/v1/sessions/s?a=1');
    expect(seen[0]?.headers.get('authorization')).toBe('Bearer secret-token');
  });
});
