// Who an envd call acts as, and where its paths lead. The SDK names a user in
// `Authorization: Basic base64("<user>:")` (no header: the sandbox's default user), and
// envd resolves `~` and relative paths against that user's home. Pure: no I/O.
import { posix } from 'node:path';

/** E2B's `base` template user; axo creates it in each sandbox when the image lacks it. */
export const E2B_USER = 'user';
export const E2B_HOME = '/home/user';

/** The user of `Authorization: Basic …`; undefined without one (the default user). */
export function basicAuthUser(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^basic\s+/i.test(value)) return undefined;
  const decoded = Buffer.from(value.replace(/^basic\s+/i, ''), 'base64').toString('utf8');
  const name = decoded.split(':')[0] ?? '';
  return name === '' ? undefined : name;
}

/** A user's home directory from the text of an /etc/passwd file; undefined for an unknown user. */
export function homeFromPasswd(passwd: string, user: string): string | undefined {
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 7) continue;
    if (fields[0] === user || (/^\d+$/.test(user) && fields[2] === user)) return fields[5] || '/';
  }
  return undefined;
}

/**
 * A path as envd resolves it for a user: `~` and `~/…` lead to the home, a relative path
 * is relative to the home, and the result is clean and absolute.
 */
export function resolveUserPath(path: string, home: string): string {
  let p = path;
  if (p === '~') p = home;
  else if (p.startsWith('~/')) p = posix.join(home, p.slice(2));
  if (!posix.isAbsolute(p)) p = posix.join(home, p);
  return posix.normalize(p);
}

/**
 * The script (run once as root when a sandbox is created) that gives the container E2B's
 * `user` with home /home/user, unless the image has one: the next free uid and gid from
 * 1000, bash as its shell where there is bash. Prints `<name>:<home>` of the user it leaves.
 */
export const CREATE_E2B_USER_SCRIPT = `set -e
touch /etc/passwd /etc/group
if ! grep -q '^${E2B_USER}:' /etc/passwd; then
  gid=1000
  while cut -d: -f3 /etc/group | grep -qx "$gid"; do gid=$((gid+1)); done
  grep -q '^${E2B_USER}:' /etc/group || echo "${E2B_USER}:x:$gid:" >> /etc/group
  gid=$(grep '^${E2B_USER}:' /etc/group | cut -d: -f3)
  uid=1000
  while cut -d: -f3 /etc/passwd | grep -qx "$uid"; do uid=$((uid+1)); done
  shell=/bin/sh
  if [ -x /bin/bash ]; then shell=/bin/bash; fi
  echo "${E2B_USER}:x:$uid:$gid::${E2B_HOME}:$shell" >> /etc/passwd
fi
home=$(grep '^${E2B_USER}:' /etc/passwd | cut -d: -f6)
ids=$(grep '^${E2B_USER}:' /etc/passwd | cut -d: -f3,4)
mkdir -p "$home"
chown "$ids" "$home"
echo "${E2B_USER}:$home"
`;
