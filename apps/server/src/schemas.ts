// What the API answers, as zod schemas: the OpenAPI document is generated from them (and
// the client's types from that), and tests check every JSON answer against them.
// Named schemas become `#/components/schemas/<Name>`.
import { z } from 'zod';
import { named } from './route';

const time = z.string().describe('RFC 3339 time');

export const terminalSummarySchema = named(
  'TerminalSummary',
  z.object({ id: z.string(), command: z.string(), alive: z.boolean() }),
);

export const terminalSchema = named(
  'Terminal',
  z.object({ id: z.string(), command: z.string(), alive: z.boolean(), cols: z.number(), rows: z.number() }),
);

/** The report is large and grows; its main fields are described, the rest passes. */
export const hardeningReportSchema = named(
  'HardeningReport',
  z.looseObject({
    sessionId: z.string(),
    container: z.string(),
    owner: z.string(),
    workdir: z.string(),
    reattached: z.boolean(),
    image: z.looseObject({ requested: z.string().optional(), used: z.string(), refusedReason: z.string().optional() }),
    network: z.string(),
    limits: z.looseObject({
      requested: z.union([z.record(z.string(), z.unknown()), z.literal(false)]),
      applied: z.boolean(),
      droppedReason: z.string().optional(),
    }),
    ports: z.looseObject({
      requested: z.array(z.number()),
      published: z.array(z.object({ hostIp: z.string(), port: z.number() })),
      dropped: z.array(z.object({ port: z.number(), reason: z.string() })),
    }),
    capabilities: z.object({ requested: z.array(z.string()), effective: z.array(z.string()) }),
    noNewPrivileges: z.boolean(),
    inForce: z.record(z.string(), z.unknown()),
    differences: z.array(z.string()),
    agent: z.union([
      z.object({ status: z.literal('running'), version: z.string() }),
      z.object({ status: z.literal('unavailable'), reason: z.string() }),
    ]),
    warnings: z.array(z.string()),
    durationMs: z.number(),
  }),
  'What protection the session got, read from the host side (see @axo/runtime); more fields than listed.',
);

export const sessionSchema = named(
  'Session',
  z.object({
    id: z.string(),
    container: z.string(),
    workdir: z.string(),
    createdAt: time,
    lastUsedAt: time,
    recovered: z.boolean(),
    state: z.enum(['running', 'paused']),
    report: hardeningReportSchema.nullable(),
    devcontainer: z
      .object({
        file: z.string().optional(),
        ignored: z.array(z.object({ key: z.string(), reason: z.string(), line: z.number() })),
      })
      .nullable(),
    terminals: z.array(terminalSummarySchema),
  }),
);

export const sessionListSchema = z.object({ sessions: z.array(sessionSchema) });

export const execResultSchema = named(
  'ExecResult',
  z.object({
    stdout: z.string().optional().describe('Output as text, when it is valid UTF-8'),
    stdoutBase64: z.string().optional().describe('Output as base64, when it is not valid UTF-8 (then no `stdout`)'),
    stderr: z.string().optional(),
    stderrBase64: z.string().optional(),
    exitCode: z.number().nullable(),
    timedOut: z.boolean(),
    aborted: z.boolean(),
    truncated: z.boolean(),
    durationMs: z.number(),
    via: z.enum(['agent', 'podman-exec']),
  }),
);

export const taskSchema = named(
  'Task',
  z.object({
    id: z.string(),
    command: z.string(),
    status: z.enum(['running', 'exited', 'failed']),
    exitCode: z.number().nullable(),
    killed: z.boolean(),
    error: z.string().optional(),
    startedAt: time,
    endedAt: time.optional(),
    outputBytes: z.number(),
    droppedBytes: z.number(),
  }),
);

export const taskListSchema = z.object({ tasks: z.array(taskSchema) });

export const taskWithLogSchema = z.object({
  task: taskSchema,
  log: z.object({
    text: z.string().optional(),
    textBase64: z.string().optional(),
    from: z.number(),
    to: z.number(),
    missed: z.number(),
  }),
});

export const terminalListSchema = z.object({ terminals: z.array(terminalSummarySchema) });

// ---- files ----

export const fileEntrySchema = named(
  'FileEntry',
  z.object({
    name: z.string().describe('The last path element'),
    path: z.string().describe('Absolute path inside the container'),
    type: z.enum(['file', 'dir', 'symlink', 'other']),
    size: z.number(),
    mode: z.number().describe('Permission bits, e.g. 420 for 0644'),
    permissions: z.string().describe('As `ls -l` shows them, e.g. -rw-r--r--'),
    uid: z.number(),
    gid: z.number(),
    owner: z.string(),
    group: z.string(),
    mtime: time.describe('Modification time, RFC 3339 with nanoseconds (E2B: modified_time)'),
    symlinkTarget: z.string().optional().describe("A link's text, never followed"),
  }),
  'One file, directory or link (a superset of E2B envd EntryInfo).',
);

export const fileEntryResultSchema = z.object({ entry: fileEntrySchema });

export const fileListSchema = z.object({
  entries: z.array(fileEntrySchema),
  truncated: z.boolean().describe('More than 100 000 entries: the list was cut'),
});

export const watchEventSchema = named(
  'WatchEvent',
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('start').describe('The watch is in place') }),
    z.object({
      type: z.literal('event'),
      op: z.enum(['create', 'write', 'remove', 'rename', 'chmod', 'overflow']),
      path: z.string().describe('Absolute path of what changed'),
      name: z.string().describe('Path relative to the watched one (E2B: name)'),
      dir: z.boolean(),
    }),
    z.object({ type: z.literal('keepalive') }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  ]),
  'One line of a watch stream (application/x-ndjson).',
);

// ---- processes ----

const streamStats = z.object({
  total: z.number().describe('Bytes written to the stream so far (the offset after the last byte)'),
  dropped: z.number().describe('Bytes no longer held: the offset of the oldest byte held'),
});

export const processInfoSchema = named(
  'ProcessInfo',
  z.object({
    id: z.string().describe("The agent's process id (use it, or the pid, in URLs)"),
    pid: z.number().describe('Process id inside the container (0 when the command could not be run)'),
    tag: z.string().nullable().describe('The tag given at start'),
    cmd: z.string(),
    args: z.array(z.string()),
    argv: z.array(z.string()),
    envs: z.record(z.string(), z.string()).optional().describe('Known for processes this server instance started'),
    cwd: z.string(),
    user: z.string(),
    pty: z.boolean(),
    running: z.boolean(),
    exitCode: z.number().nullable(),
    signal: z.string().nullable(),
    timedOut: z.boolean(),
    killed: z.boolean(),
    startedAt: time,
    endedAt: time.nullable(),
    stdout: streamStats,
    stderr: streamStats,
  }),
  'A process the agent knows (a superset of E2B envd ProcessInfo, flattened).',
);

export const processListSchema = z.object({ processes: z.array(processInfoSchema) });

export const processExitSchema = named(
  'ProcessExit',
  z.object({
    type: z.literal('exit'),
    exitCode: z.number().nullable().describe('null when a signal ended it'),
    signal: z.string().nullable(),
    timedOut: z.boolean(),
    killed: z.boolean(),
    stdout: z.number().describe('Total bytes of stdout'),
    stderr: z.number().describe('Total bytes of stderr'),
  }),
);

export const processEventSchema = named(
  'ProcessEvent',
  z.discriminatedUnion('type', [
    z.object({
      type: z.literal('start'),
      id: z.string(),
      pid: z.number(),
      running: z.boolean(),
      stdout: z.number().describe('Offset the stdout data of this stream starts at'),
      stderr: z.number(),
    }),
    z.object({
      type: z.enum(['stdout', 'stderr']),
      offset: z.number().describe('Stream offset of the first byte of data'),
      data: z.string().describe('The bytes, base64 (never altered)'),
    }),
    z.object({
      type: z.literal('lost'),
      stream: z.enum(['stdout', 'stderr']),
      from: z.number(),
      to: z.number().describe('Where the data held starts'),
    }),
    z.object({ type: z.literal('keepalive') }),
    processExitSchema,
    z.object({
      type: z.literal('end'),
      stdout: z.number().describe('Offset to continue stdout from'),
      stderr: z.number(),
    }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  ]),
  'One line of a process stream (application/x-ndjson).',
);

// ---- tokens ----

export const sessionTokenSchema = named(
  'SessionToken',
  z.object({ id: z.string(), sessionId: z.string(), createdAt: time, expiresAt: time }),
);

export const sessionTokenSecretSchema = named(
  'SessionTokenSecret',
  z.object({
    id: z.string(),
    token: z.string().describe('The bearer token; shown only now'),
    sessionId: z.string(),
    createdAt: time,
    expiresAt: time,
  }),
);

export const sessionTokenListSchema = z.object({ tokens: z.array(sessionTokenSchema) });

export const healthSchema = z.object({ status: z.literal('ok'), version: z.string() });
