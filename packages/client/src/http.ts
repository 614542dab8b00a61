// One place where requests are made: the base URL, the token, problem+json → AxoClientError.
import { errorFromResponse, networkError } from './errors';

type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** A JSON body. */
  readonly json?: unknown;
  /** A raw body (bytes or a stream), sent as application/octet-stream. */
  readonly bytes?: BodyInit;
  readonly signal?: AbortSignal;
}

/** What every part of the client shares. */
export class Transport {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: { baseUrl: string; token?: string | undefined; fetch?: typeof fetch | undefined }) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  url(path: string, query?: Query): string {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) search.set(k, String(v));
    const qs = search.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Sends a request; resolves with a 2xx response, else throws the AxoClientError it stands for. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let body: BodyInit | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      body = options.bytes;
    }
    const what = `${method} ${path}`;
    let response: Response;
    try {
      response = await this.#fetch(this.url(path, options.query), {
        method,
        headers,
        ...(body !== undefined && { body }),
        // A stream body needs half-duplex in Node's fetch (and Chromium over HTTP/2).
        ...(body instanceof ReadableStream && { duplex: 'half' }),
        ...(options.signal && { signal: options.signal }),
      } as RequestInit);
    } catch (error) {
      throw networkError(error, what);
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  /** A request answered with JSON (or nothing, for 204). */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, options);
    if (response.status === 204) return undefined as T;
    try {
      return (await response.json()) as T;
    } catch (error) {
      throw networkError(error, `${method} ${path}: reading the answer`);
    }
  }
}

/** `encodeURIComponent` for path segments. */
export const seg = (value: string | number) => encodeURIComponent(String(value));

/** An AbortController that also aborts when `signal` does. */
export function linked(signal: AbortSignal | undefined): AbortController {
  const abort = new AbortController();
  if (signal?.aborted) abort.abort(signal.reason);
  else signal?.addEventListener('abort', () => abort.abort(signal.reason), { once: true });
  return abort;
}
