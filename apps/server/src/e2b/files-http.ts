// envd's plain HTTP routes: GET /files (a file's bytes, gzip when asked), POST /files (raw
// application/octet-stream, or multipart parts named `file` whose filename is the whole
// path), and GET /health. /files is authorized by the access token, or by a signature
// (signed URLs carry no sandbox header: the signature names the sandbox).
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { FileEntry } from '@axo/runtime';
import Busboy, { type BusboyHeaders } from '@fastify/busboy';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { limitedBody, uploading } from '../routes/files';
import type { ManagedSession } from '../sessions';
import { RpcError } from './connect';
import type { Envd, EnvdCall } from './envd';
import { E2bHttpError, httpErrorBody } from './errors';
import type { E2bSandboxes } from './sandboxes';
import { findSigner, type SignedOperation } from './signing';
import type { SandboxRecord } from './store';

const filesQuerySchema = z.object({
  path: z.string().max(4096).optional(),
  username: z.string().max(64).optional(),
  signature: z.string().max(200).optional(),
  signature_expiration: z.string().max(20).optional(),
});
type FilesQuery = z.output<typeof filesQuerySchema>;

export interface FilesHttpDeps {
  readonly envd: Envd;
  readonly sandboxes: E2bSandboxes;
  /** Largest file accepted (AXO_SERVER_MAX_FILE_BYTES). */
  readonly maxFileBytes: number;
}

const unauthorized = (message: string) => new RpcError('unauthenticated', message, 401);
const tooLarge = (limit: number) =>
  new E2bHttpError(413, `the file is larger than this server accepts (${limit} bytes; AXO_SERVER_MAX_FILE_BYTES)`);

/** An upload's answer entry, as envd's (`{path, name, type: "file"}`). */
const uploaded = (e: FileEntry) => ({ path: e.path, name: e.name, type: 'file' as const });

/** Whether a request accepts a gzip answer (and does not refuse it with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [name, ...params] = part.trim().split(';');
    if (name?.trim().toLowerCase() !== 'gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** The sandbox and user of a /files request (by header and token, or by signature), and its query. */
async function filesCall(
  deps: FilesHttpDeps,
  request: FastifyRequest,
  op: SignedOperation,
): Promise<{ call: EnvdCall; q: FilesQuery }> {
  const parsed = filesQuerySchema.safeParse(request.query);
  if (!parsed.success) throw new E2bHttpError(400, `query: ${parsed.error.issues[0]?.message}`);
  const q = parsed.data;
  const token = request.headers['x-access-token'];
  const presented = Array.isArray(token) ? token[0] : token;
  type Found = { record: SandboxRecord; session: ManagedSession };
  const signed = (candidates: readonly Found[]): Found | undefined => {
    try {
      return findSigner(
        q,
        op,
        candidates.map((c) => ({ found: c, token: c.record.token })),
      )?.found;
    } catch (error) {
      throw unauthorized((error as Error).message);
    }
  };
  const byHeader = deps.envd.sandboxOf(request);
  let found: Found;
  if (byHeader) {
    found = byHeader;
    if (presented !== undefined) {
      if (!deps.envd.tokenValid(found.record, presented))
        throw unauthorized('access token present in header but does not match');
    } else if (!signed([found])) throw unauthorized('invalid signature');
  } else if (presented !== undefined) {
    // Older SDKs name no sandbox on /files: their token does.
    const byToken = deps.envd.sandboxByToken(presented);
    if (!byToken) throw new RpcError('unavailable', 'no live sandbox has this access token', 502);
    found = byToken;
  } else {
    if (q.signature === undefined) {
      throw new E2bHttpError(
        400,
        'missing E2b-Sandbox-Id header, access token or signature: which sandbox is this for?',
      );
    }
    const signer = signed(deps.sandboxes.list());
    if (!signer) throw unauthorized('invalid signature');
    found = signer;
  }
  return { call: await deps.envd.callFor(found, q.username === '' ? undefined : q.username), q };
}

/** The request body, decompressed when it says Content-Encoding: gzip. */
function bodyOf(request: FastifyRequest): Readable {
  const body = (request.body ?? Readable.from([])) as Readable;
  const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding === 'identity') return body;
  if (encoding !== 'gzip') throw new E2bHttpError(400, `unsupported Content-Encoding: ${encoding} (gzip or identity)`);
  const gunzip = createGunzip();
  pipeline(body, gunzip).catch(() => undefined);
  return gunzip;
}

async function writeMultipart(call: EnvdCall, request: FastifyRequest, body: Readable, q: FilesQuery, limit: number) {
  const files = call.session.sandbox.files;
  const written: FileEntry[] = [];
  const seen = new Set<string>();
  let failed: unknown;
  let chain: Promise<void> = Promise.resolve();
  const parser = Busboy({
    headers: request.headers as BusboyHeaders,
    preservePath: true,
    limits: { fileSize: limit, files: 10_000, fields: 1000 },
  });
  parser.on('file', (field, stream, filename) => {
    if (field !== 'file' || failed !== undefined) {
      stream.resume();
      return;
    }
    // The query's path names a single file; without it, each part's filename is its whole path.
    const target = call.path(q.path ?? filename);
    if (seen.has(target)) {
      failed = new E2bHttpError(
        400,
        `you cannot upload multiple files to the same path '${target}' in one upload request, only the first specified file was uploaded`,
      );
      stream.resume();
      return;
    }
    seen.add(target);
    stream.once('limit', () => stream.destroy(tooLarge(limit)));
    chain = chain.then(async () => {
      if (failed !== undefined) {
        stream.resume();
        return;
      }
      try {
        const entry = await files.write(target, stream, {
          parents: true,
          maxBytes: limit,
          ...(call.user !== undefined && { user: call.user }),
        });
        written.push(entry);
      } catch (error) {
        failed ??= error;
        stream.resume();
      }
    });
  });
  await pipeline(body, parser);
  await chain;
  if (failed !== undefined) throw failed;
  return written;
}

/** Registers /files and /health. */
export function registerFilesHttp(app: FastifyInstance, deps: FilesHttpDeps): void {
  const config = { e2b: 'envd-http' };
  // Multipart uploads reach their handler as the request stream itself.
  app.addContentTypeParser('multipart/form-data', (_request, payload, done) => done(null, payload));

  app.get('/health', { config }, async (request, reply) => {
    const id = request.headers['e2b-sandbox-id'];
    const token = request.headers['x-access-token'];
    const found =
      typeof id === 'string'
        ? deps.sandboxes.find(id)
        : deps.envd.sandboxByToken(typeof token === 'string' ? token : undefined);
    if (!found) return reply.status(502).send(httpErrorBody(502, `sandbox "${String(id ?? '')}" not found`));
    const name = found.record.sandboxID;
    // Paused through E2B is not running; frozen by axo for idling is (it thaws on use).
    if (found.record.paused) return reply.status(502).send(httpErrorBody(502, `sandbox "${name}" is paused`));
    return reply.status(204).send();
  });

  app.get('/files', { config }, async (request, reply: FastifyReply) => {
    const { call, q } = await filesCall(deps, request, 'read');
    const { stream } = await call.session.sandbox.files.read(
      call.path(q.path ?? ''),
      call.user === undefined ? {} : { user: call.user },
    );
    reply
      .status(200)
      .type('application/octet-stream')
      .header('cache-control', 'no-store')
      .header('vary', 'Accept-Encoding')
      .header(
        'content-disposition',
        `attachment; filename*=UTF-8''${encodeURIComponent(posix.basename(q.path ?? ''))}`,
      );
    if (acceptsGzip(request.headers['accept-encoding'])) {
      const gzip = createGzip();
      pipeline(stream, gzip).catch(() => undefined);
      return reply.header('content-encoding', 'gzip').send(gzip);
    }
    return reply.send(stream);
  });

  app.post('/files', { config }, async (request) => {
    const { call, q } = await filesCall(deps, request, 'write');
    const limit = deps.maxFileBytes;
    const media = String(request.headers['content-type'] ?? '')
      .split(';')[0]
      ?.trim()
      .toLowerCase();
    // The client reads the answer, not a reset, only if it may finish sending.
    return uploading(request, async () => {
      if (media === 'application/octet-stream') {
        if (q.path === undefined) throw new E2bHttpError(400, 'path query parameter is required for raw body upload');
        // A compressed body's Content-Length is not its size: only the decompressed bytes are counted.
        const decoded = request.headers['content-encoding'] === undefined ? undefined : bodyOf(request);
        const body = limitedBody(request, limit, tooLarge, decoded);
        const entry = await call.session.sandbox.files.write(call.path(q.path), body, {
          parents: true,
          maxBytes: limit,
          ...(call.user !== undefined && { user: call.user }),
        });
        return [uploaded(entry)];
      }
      if (media === 'multipart/form-data') {
        return (await writeMultipart(call, request, bodyOf(request), q, limit)).map(uploaded);
      }
      throw new E2bHttpError(
        400,
        `unsupported content type: ${media}, expected multipart/form-data or application/octet-stream`,
      );
    });
  });
}
