// Enforces the dependency direction: podman-args <- runtime, agent <- runtime, podman-args <- pty,
// podman-args <- devcontainer, packages <- apps; @axo/client depends on no other axo package.
// Packages never depend on apps, runtime and pty never on each other, and nothing imports another
// package's src/ directly.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const ALLOWED = {
  '@axo/podman-args': [],
  '@axo/agent': [],
  '@axo/runtime': ['@axo/podman-args', '@axo/agent'],
  '@axo/pty': ['@axo/podman-args'],
  '@axo/devcontainer': ['@axo/podman-args'],
  '@axo/test-utils': [],
  '@axo/client': [],
};
const problems = [];
const workspaces = ['packages', 'apps'].flatMap((dir) =>
  readdirSync(join(root, dir))
    .map((name) => join(root, dir, name))
    .filter((path) => statSync(join(path, 'package.json'), { throwIfNoEntry: false })),
);

for (const path of workspaces) {
  const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
  const isApp = path.startsWith(join(root, 'apps'));
  const runtimeDeps = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies }).filter((d) =>
    d.startsWith('@axo/'),
  );
  const devDeps = Object.keys(manifest.devDependencies ?? {}).filter((d) => d.startsWith('@axo/'));
  for (const dep of runtimeDeps) {
    if (dep === '@axo/test-utils') problems.push(`${manifest.name} depends on the private @axo/test-utils`);
    else if (!isApp && !(ALLOWED[manifest.name] ?? []).includes(dep)) {
      problems.push(`${manifest.name} may not depend on ${dep}`);
    }
  }
  for (const dep of devDeps) {
    if (dep !== '@axo/test-utils' && !isApp && !(ALLOWED[manifest.name] ?? []).includes(dep)) {
      problems.push(`${manifest.name} may not depend (even for development) on ${dep}`);
    }
  }
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? e.name === 'node_modules' || e.name === 'dist'
          ? []
          : walk(join(dir, e.name))
        : [join(dir, e.name)],
    );
  for (const file of walk(path).filter((f) => /\.(ts|mts|js|mjs)$/.test(f))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from ['"](@axo\/[^'"]+|(?:\.\.\/)+(?:packages|apps)\/[^'"]+)['"]/g)) {
      if (/^@axo\/[^/]+\/src/.test(m[1]) || m[1].includes('packages/') || m[1].includes('apps/')) {
        problems.push(`${file.slice(root.length)} reaches into another package: ${m[1]}`);
      }
    }
  }
}

if (problems.length > 0) {
  console.error(`Dependency direction violated:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-deps: ${workspaces.length} workspaces, dependencies point one way`);
