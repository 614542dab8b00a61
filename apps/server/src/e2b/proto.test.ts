import type { FileEntry } from '@axo/runtime';
import { describe, expect, it } from 'vitest';
import { RpcError } from './connect';
import {
  chunks,
  endEventJson,
  entryInfoJson,
  eventTypeJson,
  listDirRequestSchema,
  parseRequest,
  sendInputRequestSchema,
  signalFromJson,
  startRequestSchema,
  timestampJson,
} from './proto';

const entry: FileEntry = {
  name: 'a.txt',
  path: '/home/user/a.txt',
  type: 'file',
  size: 12_345_678_901,
  mode: 0o4755,
  permissions: '-rwsr-xr-x',
  uid: 1000,
  gid: 1000,
  owner: 'user',
  group: '',
  mtime: '2025-03-01T10:20:30.123456789Z',
};

describe('proto3 JSON of envd messages', () => {
  it('writes EntryInfo: enum names, int64 size as a string, permission bits, numeric owner fallback', () => {
    expect(entryInfoJson(entry)).toEqual({
      name: 'a.txt',
      type: 'FILE_TYPE_FILE',
      path: '/home/user/a.txt',
      size: '12345678901',
      mode: 0o755,
      permissions: '-rwsr-xr-x',
      owner: 'user',
      group: '1000',
      modifiedTime: '2025-03-01T10:20:30.123456789Z',
    });
    expect(entryInfoJson({ ...entry, type: 'dir' }).type).toBe('FILE_TYPE_DIRECTORY');
    expect(entryInfoJson({ ...entry, type: 'other' }).type).toBe('FILE_TYPE_UNSPECIFIED');
    expect(entryInfoJson({ ...entry, type: 'symlink', symlinkTarget: '../b' })).toMatchObject({
      type: 'FILE_TYPE_SYMLINK',
      symlinkTarget: '../b',
    });
  });

  it('writes Timestamps as protobuf parsers accept them: UTC, Z, 0 or 9 fractional digits', () => {
    expect(timestampJson('2025-03-01T10:20:30Z')).toBe('2025-03-01T10:20:30Z');
    expect(timestampJson('2025-03-01T10:20:30.5Z')).toBe('2025-03-01T10:20:30.500000000Z');
    expect(timestampJson('2025-03-01T10:20:30.000000000Z')).toBe('2025-03-01T10:20:30Z');
    expect(timestampJson('2025-03-01T12:20:30.25+02:00')).toBe('2025-03-01T10:20:30.250000000Z');
    expect(timestampJson('2025-03-01T00:20:30-01:30')).toBe('2025-03-01T01:50:30Z');
    expect(timestampJson('yesterday')).toBeUndefined();
  });

  it('writes EndEvent as envd builds it from Go’s ProcessState', () => {
    expect(endEventJson({ exitCode: 0, signal: null })).toEqual({ exitCode: 0, exited: true, status: 'exit status 0' });
    expect(endEventJson({ exitCode: 3, signal: null })).toEqual({
      exitCode: 3,
      exited: true,
      status: 'exit status 3',
      error: 'exit status 3',
    });
    expect(endEventJson({ exitCode: null, signal: 'KILL' })).toEqual({
      exitCode: -1,
      exited: false,
      status: 'signal: killed',
      error: 'signal: killed',
    });
    expect(endEventJson({ exitCode: null, signal: 'TERM' }).status).toBe('signal: terminated');
    expect(endEventJson({ exitCode: null, signal: 'WINCH' }).status).toBe('signal: winch');
  });

  it('names watch events; overflow has no envd name', () => {
    expect(eventTypeJson('create')).toBe('EVENT_TYPE_CREATE');
    expect(eventTypeJson('chmod')).toBe('EVENT_TYPE_CHMOD');
    expect(eventTypeJson('overflow')).toBeUndefined();
  });

  it('reads signals by enum name or number', () => {
    expect(signalFromJson('SIGNAL_SIGKILL')).toBe('KILL');
    expect(signalFromJson(9)).toBe('KILL');
    expect(signalFromJson('SIGNAL_SIGTERM')).toBe('TERM');
    expect(signalFromJson('15')).toBe('TERM');
    expect(signalFromJson('SIGNAL_UNSPECIFIED')).toBeUndefined();
  });

  it('reads requests tolerantly (uint32 as strings, unknown fields), strictly where it matters', () => {
    expect(parseRequest(listDirRequestSchema, { path: '/x', depth: '3', future: true })).toEqual({
      path: '/x',
      depth: 3,
    });
    expect(parseRequest(listDirRequestSchema, { path: '/x' }).depth).toBe(1);
    const start = parseRequest(startRequestSchema, { process: { cmd: '/bin/bash', args: ['-l', '-c', 'true'] } });
    expect(start).toMatchObject({ process: { cmd: '/bin/bash', args: ['-l', '-c', 'true'], envs: {} } });
    expect(start.stdin).toBeUndefined();
    const input = parseRequest(sendInputRequestSchema, { process: { pid: 7 }, input: { stdin: 'aGk=' } });
    expect(input.input.stdin?.toString()).toBe('hi');
    // URL-safe base64 and no padding are proto3 JSON too.
    expect(parseRequest(sendInputRequestSchema, { process: { tag: 't' }, input: { pty: '_-8' } }).input.pty).toEqual(
      Buffer.from([0xff, 0xef]),
    );
    expect(() => parseRequest(sendInputRequestSchema, { process: {}, input: {} })).toThrow(/pid or by tag/);
    expect(() => parseRequest(startRequestSchema, { process: { cmd: '' } })).toThrow(RpcError);
    expect(() => parseRequest(listDirRequestSchema, { path: 'a\0b' })).toThrow(/NUL/);
  });

  it('cuts output into envd-sized events', () => {
    const pieces = [...chunks(Buffer.alloc(70 * 1024), 32 * 1024)];
    expect(pieces.map((p) => p.length)).toEqual([32 * 1024, 32 * 1024, 6 * 1024]);
    expect([...chunks(Buffer.alloc(0), 10)]).toEqual([]);
  });
});
