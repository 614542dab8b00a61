import { describe, expect, it } from 'vitest';
import { basicAuthUser, homeFromPasswd, resolveUserPath } from './users';

const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

describe('users and paths as envd sees them', () => {
  it('reads the user the SDK names in Basic auth', () => {
    expect(basicAuthUser(basic('root:'))).toBe('root');
    expect(basicAuthUser(basic('user:ignored'))).toBe('user');
    expect(basicAuthUser(basic(':'))).toBeUndefined();
    expect(basicAuthUser('Bearer x')).toBeUndefined();
    expect(basicAuthUser(undefined)).toBeUndefined();
  });

  it('finds a home in /etc/passwd, by name or uid', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/bash\nbroken\n';
    expect(homeFromPasswd(passwd, 'root')).toBe('/root');
    expect(homeFromPasswd(passwd, 'user')).toBe('/home/user');
    expect(homeFromPasswd(passwd, '1000')).toBe('/home/user');
    expect(homeFromPasswd(passwd, 'nobody')).toBeUndefined();
  });

  it('resolves ~ and relative paths against the home, and cleans them', () => {
    expect(resolveUserPath('~', '/home/user')).toBe('/home/user');
    expect(resolveUserPath('~/a/../b', '/home/user')).toBe('/home/user/b');
    expect(resolveUserPath('notes/a.txt', '/home/user')).toBe('/home/user/notes/a.txt');
    expect(resolveUserPath('', '/home/user')).toBe('/home/user');
    expect(resolveUserPath('/etc//passwd', '/home/user')).toBe('/etc/passwd');
    expect(resolveUserPath('../../etc', '/home/user')).toBe('/etc');
  });
});
