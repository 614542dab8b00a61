// /v1/sessions/{id}/files…: a session's files through its agent, which acts as the
// requesting user. Content travels as application/octet-stream both ways, streamed with
// backpressure (a slow client slows the agent; nothing is buffered whole); metadata is JSON
// shaped like E2B envd's filesystem service (Stat, ListDir, MakeDir, Move, Remove, WatchDir).
import { posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { sessionIdSchema, userSchema } from '@axo/podman-args';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../problem';
import type { Router } from '../route';
import { fileEntryResultSchema, fileListSchema, watchEventSchema } from '../schemas';
import type { ManagedSession, SessionManager } from '../sessions';
import { NdjsonReply } from './ndjson';

const idParams = z.strictObject({ id: sessionIdSchema });

/** A path in the container: absolute or relative to the session's cwd; 1–4096 bytes, no NUL. */
const pathSchema = z
  .string()
  .min(1, 'path must not be empty')
  .refine((p) => Buffer.byteLength(p) <= 4096, 'path must be at most 4096 bytes')
  .refine((p) => !p.includes('\0'), 'path must not contain NUL')
  .describe('Absolute, or relative to the session working directory; at most 4096 bytes, no NUL');

const queryBool = z.preprocess(
  (v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v),
  z.boolean(),
);
const user = userSchema
  .optional()
  .describe(
    "Act as this user (name, uid or uid:gid), with exactly that user's permissions; default the session's user",
  );
const modeNumber = z.number().int().min(0).max(0o7777);
const modeOctal = z
  .string()
  .regex(/^(0o?)?[0-7]{1,4}$/, 'mode is octal, e.g. 644 or 0755')
  .transform((m) => Number.parseInt(m.replace(/^0o?/, '') || '0', 8))
  .describe('Permission bits in octal (644, 0755)');

const readQuery = z.strictObject({
  path: pathSchema,
  offset: z.coerce.number().int().min(0).default(0).describe('First byte to send'),
  length: z.coerce.number().int().min(0).optional().describe('Bytes to send at most (default: to the end)'),
  user,
});
const writeQuery = z.strictObject({
  path: pathSchema,
  mode: modeOctal.optional(),
  parents: queryBool.default(false).describe('Create missing parent directories'),
  user,
});
const statQuery = z.strictObject({
  path: pathSchema,
  follow: queryBool.default(false).describe('Describe what a link points to instead of the link'),
  user,
});
const listQuery = z.strictObject({
  path: pathSchema,
  depth: z.coerce.number().int().min(1).max(32).default(1).describe('Levels to descend (1: the directory itself)'),
  user,
});
const removeQuery = z.strictObject({
  path: pathSchema,
  recursive: queryBool.default(false).describe('Remove a directory with everything in it'),
  user,
});
const watchQuery = z.strictObject({
  path: pathSchema,
  recursive: queryBool.default(false).describe('Watch subdirectories too, also those created later'),
  user,
});
const mkdirBody = z.strictObject({
  path: pathSchema,
  parents: z.boolean().default(false).describe('Create missing parents; an existing directory is then fine'),
  mode: modeNumber.optional().describe('Permission bits as a number (493 = 0755); default 0755'),
  user,
});
const moveBody = z.strictObject({
  source: pathSchema,
  destination: pathSchema,
  user,
});
const symlinkBody = z.strictObject({
  path: pathSchema.describe('Where the link is created'),
  target: pathSchema.describe('What the link holds (not resolved)'),
  user,
});

const opt = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/**
 * An upload's body, at most `limit` bytes: a request whose Content-Length says more is
 * refused at once (thrown), and past `limit` the stream fails with `tooLarge(limit)`. The
 * request itself is left alone, so the refusal can still be answered (see `uploading`).
 * `decoded`, when given, is what is counted instead of the request's own bytes (a
 * decompressed body): Content-Length then says nothing about its size and is not checked.
 */
export function limitedBody(
  request: FastifyRequest,
  limit: number,
  tooLarge: (limit: number) => Error,
  decoded?: Readable,
): Readable {
  const raw = request.raw;
  if (decoded === undefined) {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  }
  const source = decoded ?? ((request.body ?? Readable.from([])) as Readable);
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(tooLarge(limit));
      else callback(null, chunk);
    },
  });
  // pipe(), not pipeline(): whoever destroys `counted` (the runtime does when the agent
  // refuses) must not destroy the request, or no 413 could be sent.
  source.pipe(counted);
  source.once('error', (error) => counted.destroy(error));
  raw.once('close', () => {
    if (!raw.complete) counted.destroy(new Error('the client went away before the whole body arrived'));
  });
  return counted;
}

/**
 * Runs `receive`, which reads the request's body; when it fails before the whole body
 * arrived, the rest is read and dropped (`discardRestOfBody`) so the client sees the answer.
 */
export async function uploading<T>(request: FastifyRequest, receive: () => Promise<T>): Promise<T> {
  try {
    return await receive();
  } catch (error) {
    if (!request.raw.complete) discardRestOfBody(request);
    throw error;
  }
}

/** How long, and how much, a refused upload may go on being sent before its connection is cut. */
const DISCARD_MS = 10_000;
const DISCARD_BYTES = 256 * 1024 * 1024;

/**
 * Reads and drops the rest of a body the answer refused. Closing the connection instead
 * makes the client's next write fail with a reset, and fetch then reports a network error
 * rather than the 413 or 409 the server sent. A client that keeps sending past the bounds
 * is cut off.
 */
function discardRestOfBody(request: FastifyRequest): void {
  const raw = request.raw;
  let dropped = 0;
  const cut = () => raw.socket?.destroy();
  const timer = setTimeout(cut, DISCARD_MS);
  timer.unref();
  const done = () => clearTimeout(timer);
  raw.once('end', done);
  raw.once('close', done);
  raw.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_BYTES) cut();
  });
  // A body still piped somewhere (a gunzip nobody reads any more) would pause it again.
  raw.unpipe();
  raw.resume();
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'PAYLOAD_TOO_LARGE', `the file is larger than this server accepts (${limit} bytes)`, {
    hint: 'The operator sets the limit with AXO_SERVER_MAX_FILE_BYTES; the earlier file was left as it was.',
  });
}

/** The session's files (503 AGENT_UNAVAILABLE without an agent). */
const filesOf = (s: ManagedSession) => s.sandbox.files;

/** Registers the file routes. */
export function registerFileRoutes(router: Router, sessions: SessionManager, options: { maxFileBytes: number }): void {
  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/files',
    tag: 'files',
    summary: 'Read a file: its bytes as application/octet-stream, streamed with backpressure',
    description:
      'Only regular files: a FIFO, device or socket is refused at once (400 NOT_REGULAR), a directory is 409 IS_DIR. ' +
      'The body is chunked; a failure after the first byte aborts the connection (a client never sees a short read as complete). ' +
      'Headers: x-axo-file-size (size when opened), x-axo-file-mode (octal).',
    params: idParams,
    query: readQuery,
    success: { status: 200, description: 'The bytes', contentType: 'application/octet-stream' },
    handler: async ({ params, query }, _request, reply) => {
      const files = filesOf(sessions.use(params.id));
      const { entry, stream } = await files.read(query.path, {
        offset: query.offset,
        ...opt('length', query.length),
        ...opt('user', query.user),
      });
      reply
        .status(200)
        .type('application/octet-stream')
        .header('cache-control', 'no-store')
        .header('x-axo-file-size', String(entry.size))
        .header('x-axo-file-mode', entry.mode.toString(8).padStart(4, '0'));
      // fastify pipes it with backpressure and destroys it when the client goes away.
      return reply.send(stream);
    },
  });

  router.add({
    method: 'PUT',
    url: '/v1/sessions/:id/files',
    tag: 'files',
    summary: 'Write a file atomically from an application/octet-stream body (streamed)',
    description:
      'The bytes go to a temporary file renamed over the target after the last byte: readers see the old file or the new one. ' +
      'Larger than the server limit (AXO_SERVER_MAX_FILE_BYTES) is 413 and the earlier file stays; so does any failure ' +
      '(a client that goes away, a full disk: 507). Writing over a directory is 409 IS_DIR.',
    params: idParams,
    query: writeQuery,
    rawBody: { contentType: 'application/octet-stream', description: 'The new content of the file' },
    success: { status: 200, description: 'The written file', schema: fileEntryResultSchema },
    handler: async ({ params, query }, request) => {
      const files = filesOf(sessions.use(params.id));
      const limit = options.maxFileBytes;
      return uploading(request, async () => {
        const entry = await files.write(query.path, limitedBody(request, limit, tooLarge), {
          parents: query.parents,
          maxBytes: limit,
          ...opt('mode', query.mode),
          ...opt('user', query.user),
        });
        return { entry };
      });
    },
  });

  router.add({
    method: 'DELETE',
    url: '/v1/sessions/:id/files',
    tag: 'files',
    summary: 'Remove a file, link or empty directory (any directory with recursive=true); links are never followed',
    params: idParams,
    query: removeQuery,
    success: { status: 204, description: 'Removed' },
    handler: async ({ params, query }) => {
      await filesOf(sessions.use(params.id)).remove(query.path, {
        recursive: query.recursive,
        ...opt('user', query.user),
      });
    },
  });

  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/files/stat',
    tag: 'files',
    summary: 'Describe a file, directory or link (E2B Stat)',
    params: idParams,
    query: statQuery,
    success: { status: 200, description: 'The entry', schema: fileEntryResultSchema },
    handler: async ({ params, query }) => ({
      entry: await filesOf(sessions.use(params.id)).stat(query.path, {
        follow: query.follow,
        ...opt('user', query.user),
      }),
    }),
  });

  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/files/list',
    tag: 'files',
    summary: 'List a directory, depth levels deep (E2B ListDir); links are listed, never descended into',
    params: idParams,
    query: listQuery,
    success: { status: 200, description: 'The entries (at most 100 000; then truncated)', schema: fileListSchema },
    handler: async ({ params, query }) => {
      const { entries, truncated } = await filesOf(sessions.use(params.id)).list(query.path, {
        depth: query.depth,
        ...opt('user', query.user),
      });
      return { entries, truncated };
    },
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/files/mkdir',
    tag: 'files',
    summary: 'Create a directory (E2B MakeDir); 409 EXISTS when the path exists (unless parents and a directory)',
    params: idParams,
    body: mkdirBody,
    success: { status: 201, description: 'The directory', schema: fileEntryResultSchema },
    handler: async ({ params, body }) => ({
      entry: await filesOf(sessions.use(params.id)).mkdir(body.path, {
        parents: body.parents,
        ...opt('mode', body.mode),
        ...opt('user', body.user),
      }),
    }),
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/files/move',
    tag: 'files',
    summary: 'Rename source to destination (E2B Move); across file systems is 409 CROSS_DEVICE',
    params: idParams,
    body: moveBody,
    success: { status: 200, description: 'The entry at its new path', schema: fileEntryResultSchema },
    handler: async ({ params, body }) => ({
      entry: await filesOf(sessions.use(params.id)).move(body.source, body.destination, opt('user', body.user)),
    }),
  });

  router.add({
    method: 'POST',
    url: '/v1/sessions/:id/files/symlink',
    tag: 'files',
    summary: 'Create a symbolic link at path holding target',
    params: idParams,
    body: symlinkBody,
    success: { status: 201, description: 'The link', schema: fileEntryResultSchema },
    handler: async ({ params, body }) => ({
      entry: await filesOf(sessions.use(params.id)).symlink(body.path, body.target, opt('user', body.user)),
    }),
  });

  router.add({
    method: 'GET',
    url: '/v1/sessions/:id/files/watch',
    tag: 'files',
    summary: 'Watch a directory (E2B WatchDir): NDJSON events streamed until the client closes',
    description:
      'application/x-ndjson: {"type":"start"} once the watch is in place, then one {"type":"event",op,path,name,dir} per ' +
      'change (op: create, write, remove, rename, chmod, or overflow when events were lost), {"type":"keepalive"} every ' +
      '15 s, and {"type":"error",code,message} if the watch fails. A session holds at most 16 watches (429 LIMIT).',
    params: idParams,
    query: watchQuery,
    success: {
      status: 200,
      description: 'One JSON object per line',
      contentType: 'application/x-ndjson',
      schema: watchEventSchema,
    },
    handler: async ({ params, query }, request, reply) => {
      const session = sessions.use(params.id);
      const files = filesOf(session);
      const watched = (await files.stat(query.path, opt('user', query.user))).path;
      const watch = await files.watch(query.path, { recursive: query.recursive, ...opt('user', query.user) });
      await streamWatch(session, watch, watched, request, reply);
      return reply;
    },
  });
}

async function streamWatch(
  session: ManagedSession,
  watch: Awaited<ReturnType<ManagedSession['sandbox']['files']['watch']>>,
  watched: string,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const out = new NdjsonReply(request, reply, { onTick: () => (session.lastUsedAt = new Date()) });
  out.onClose(() => void watch.close());
  session.attachedClients += 1;
  try {
    out.write({ type: 'start' });
    for await (const event of watch) {
      const name = event.path === watched ? '' : posix.relative(watched, event.path);
      if (!out.write({ type: 'event', op: event.op, path: event.path, name, dir: event.dir })) await out.drained();
      if (out.closed) break;
    }
    out.end();
  } catch (error) {
    out.fail(error);
  } finally {
    session.attachedClients -= 1;
    session.lastUsedAt = new Date();
    await watch.close().catch(() => undefined);
  }
}
