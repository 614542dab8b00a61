import { describe, expect, it } from 'vitest';
import {
  classifyPodmanFailure,
  extractConflictingPort,
  isCgroupError,
  isContainerGone,
  isPortConflict,
} from './stderr';

const PODMAN_PORT_IN_USE = 'Error: cannot listen on the TCP port: listen tcp4 :3111: bind: address already in use';

describe('isPortConflict', () => {
  it('covers every pattern of the reference (port_conflict_detection_covers_proxy_already_running)', () => {
    expect(isPortConflict('Error: something went wrong with the request: "proxy already running\\n"')).toBe(true);
    expect(isPortConflict('rootlessport listen tcp 0.0.0.0:3000: bind: address already in use')).toBe(true);
    expect(isPortConflict('port is already allocated')).toBe(true);
    expect(isPortConflict('no such image')).toBe(false);
  });

  it("recognises podman's own wording", () => {
    expect(isPortConflict(PODMAN_PORT_IN_USE)).toBe(true);
    expect(isPortConflict('Error: Cannot listen on the TCP port')).toBe(true);
  });
});

describe('extractConflictingPort', () => {
  it("finds the port in podman's real message", () => {
    expect(extractConflictingPort(PODMAN_PORT_IN_USE)).toBe(3111);
  });

  it('finds nothing when no port is named (reference)', () => {
    expect(extractConflictingPort('proxy already running')).toBeUndefined();
  });

  it('ignores ports below 1024 and numbers that are not ports', () => {
    expect(extractConflictingPort('listen tcp4 0.0.0.0:80: bind: address already in use')).toBeUndefined();
    expect(extractConflictingPort('listen tcp4 :99999: bind')).toBeUndefined();
    expect(extractConflictingPort('at 12:34:56 listen tcp :443')).toBeUndefined();
  });

  it('skips a low port to find a later valid one', () => {
    expect(extractConflictingPort('127.0.0.1:80 then 0.0.0.0:5173: bind')).toBe(5173);
  });
});

describe('isCgroupError', () => {
  it('matches limit failures', () => {
    expect(isCgroupError('crun: opening file `memory.max` for writing: No such file or directory')).toBe(true);
    expect(isCgroupError('Error: OCI runtime error: runc: cannot set pids limit: cgroup not mounted')).toBe(true);
    expect(isCgroupError(PODMAN_PORT_IN_USE)).toBe(false);
  });
});

describe('classifyPodmanFailure', () => {
  it.each([
    [PODMAN_PORT_IN_USE, 'port-conflict'],
    ['Error: writing file `/sys/fs/cgroup/pids.max`: Permission denied: OCI permission denied', 'cgroup'],
    ['Error: creating container storage: the container name "axo-ses-1" is already in use by abc', 'name-in-use'],
    ['Error: no container with name or ID "axo-ses-1" found: no such container', 'no-such-container'],
    ['Error: can only create exec sessions on running containers: container state improper', 'container-not-running'],
    ['Error: initializing source docker://alpine:3.20: pinging container registry', 'image-unavailable'],
    ['Error: something else', 'unknown'],
  ])('%s -> %s', (stderr, kind) => {
    expect(classifyPodmanFailure(stderr)).toBe(kind);
  });
});

describe('isContainerGone', () => {
  it('is true for a missing or stopped container only', () => {
    expect(isContainerGone('Error: no container with name or ID "axo-ses-1" found: no such container')).toBe(true);
    expect(
      isContainerGone('Error: can only create exec sessions on running containers: container state improper'),
    ).toBe(true);
    expect(isContainerGone('Error: executable file `x` not found in $PATH')).toBe(false);
  });
});
