// The options of `sandbox.files`, validated at the boundary. Defaults live here and only
// here; what passes is handed to the agent as it is.

import { Readable } from 'node:stream';
import { userSchema } from '@axo/podman-args';
import { z } from 'zod';

/** A path in the container: absolute, or relative to the session's cwd; at most 4096 bytes, no NUL. */
export const filePathSchema = z
  .string()
  .min(1, 'path must not be empty')
  .refine((p) => Buffer.byteLength(p) <= 4096, 'path must be at most 4096 bytes')
  .refine((p) => !p.includes('\0'), 'path must not contain NUL');

const modeSchema = z.number().int().min(0).max(0o7777, 'mode is at most 0o7777');
const signalSchema = z.instanceof(AbortSignal);

const userOption = {
  /** Act as this user (`name`, `uid`, `uid:gid`), with exactly that user's permissions. @default the session's user */
  user: userSchema.optional(),
};

export const fileStatOptionsSchema = z.strictObject({
  ...userOption,
  /** Describe what a link points to instead of the link itself. @default false */
  follow: z.boolean().default(false),
});
export type FileStatOptions = z.input<typeof fileStatOptionsSchema>;

export const fileListOptionsSchema = z.strictObject({
  ...userOption,
  /** Levels to descend, 1–32 (1: the directory's own entries). Links are never descended into. @default 1 */
  depth: z.number().int().min(1).max(32).default(1),
});
export type FileListOptions = z.input<typeof fileListOptionsSchema>;

export const fileMkdirOptionsSchema = z.strictObject({
  ...userOption,
  /** Create missing parents; an existing directory is then fine. @default false */
  parents: z.boolean().default(false),
  /** Permission bits. @default 0o755 */
  mode: modeSchema.optional(),
});
export type FileMkdirOptions = z.input<typeof fileMkdirOptionsSchema>;

export const fileRemoveOptionsSchema = z.strictObject({
  ...userOption,
  /** Remove a directory with everything in it. @default false */
  recursive: z.boolean().default(false),
});
export type FileRemoveOptions = z.input<typeof fileRemoveOptionsSchema>;

export const fileUserOptionsSchema = z.strictObject(userOption);
export type FileUserOptions = z.input<typeof fileUserOptionsSchema>;

export const fileReadOptionsSchema = z.strictObject({
  ...userOption,
  /** First byte to read. @default 0 */
  offset: z.number().int().min(0).default(0),
  /** Bytes to read at most. @default to the end of the file */
  length: z.number().int().min(0).optional(),
  /** Aborting ends the read: the stream fails with the signal's reason. */
  signal: signalSchema.optional(),
});
export type FileReadOptions = z.input<typeof fileReadOptionsSchema>;

export const fileWriteOptionsSchema = z.strictObject({
  ...userOption,
  /** Permission bits. @default the replaced file's, else 0o644 (less the umask) */
  mode: modeSchema.optional(),
  /** Create missing parent directories. @default false */
  parents: z.boolean().default(false),
  /** Refuse with TOO_LARGE once the data passes this many bytes (the earlier file stays). */
  maxBytes: z.number().int().min(0).optional(),
  /** Aborting ends the write; the file is left as it was. */
  signal: signalSchema.optional(),
});
export type FileWriteOptions = z.input<typeof fileWriteOptionsSchema>;

/** What `write` takes: the whole content, or a stream read at the socket's pace. */
export const fileWriteDataSchema = z.union(
  [
    z.string(),
    z.instanceof(Uint8Array),
    z.custom<Readable>((v) => v instanceof Readable, { message: 'must be a Readable stream' }),
  ],
  { error: 'data must be a string, a Uint8Array (Buffer) or a Readable' },
);

export const fileWatchOptionsSchema = z.strictObject({
  ...userOption,
  /** Watch subdirectories too, also those created later. @default false */
  recursive: z.boolean().default(false),
});
export type FileWatchOptions = z.input<typeof fileWatchOptionsSchema>;

export const fileReadFileOptionsSchema = fileReadOptionsSchema.extend({
  /** Refuse (TOO_LARGE) a file longer than this rather than hold it in memory. @default 256 MiB */
  maxBytes: z
    .number()
    .int()
    .min(0)
    .default(256 * 1024 * 1024),
});
export type FileReadFileOptions = z.input<typeof fileReadFileOptionsSchema>;
