// The fake podman program, written next to its rules when a fake is created. Plain JS
// with no imports beyond node: so it runs from any temporary directory.
export const FAKE_PODMAN_SOURCE = String.raw`
import { appendFileSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const [dir, real, ...args] = process.argv.slice(2);
appendFileSync(dir + '/calls.log', JSON.stringify(args) + '\n');

// A directory is the lock: mkdir is atomic, so parallel calls count rules correctly.
const lock = dir + '/lock';
for (let i = 0; ; i++) {
  try { mkdirSync(lock); break; } catch { if (i > 2000) break; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); }
}
let rule;
try {
  const rules = JSON.parse(readFileSync(dir + '/rules.json', 'utf8'));
  const state = JSON.parse(readFileSync(dir + '/state.json', 'utf8'));
  for (const [i, r] of rules.entries()) {
    if (r.command && args[0] !== r.command) continue;
    if (r.argsInclude && !r.argsInclude.every((a) => args.includes(a))) continue;
    const used = state[i] ?? 0;
    if (r.times !== undefined && used >= r.times) continue;
    state[i] = used + 1;
    rule = r;
    break;
  }
  writeFileSync(dir + '/state.json', JSON.stringify(state));
} finally {
  try { rmdirSync(lock); } catch {}
}

function passthrough() {
  const r = spawnSync(real, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

if (!rule) process.exit(passthrough());
if (rule.passthroughFirst) spawnSync(real, args, { stdio: 'ignore' });
if (rule.hang) setInterval(() => {}, 1 << 30);
else {
  if (rule.stdout) process.stdout.write(rule.stdout);
  if (rule.stderr) process.stderr.write(rule.stderr);
  process.exitCode = rule.exitCode ?? 0;
}
`;
