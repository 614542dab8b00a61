// `pnpm bench`: every scenario, one after another (never in parallel: they would disturb
// each other), each against its baseline measured in the same run, interleaved. Prints
// progress and rewrites BENCHMARKS.md. `pnpm bench -- runtime terminal` runs a subset.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { IMAGE, REPS, type Row, type Scenario } from './lib';
import { agent } from './scenarios/agent';
import { defaultPath } from './scenarios/default-path';
import { e2b } from './scenarios/e2b';
import { egress } from './scenarios/egress';
import { files } from './scenarios/files';
import { pipes } from './scenarios/pipes';
import { reap } from './scenarios/reap';
import { runtime } from './scenarios/runtime';
import { server } from './scenarios/server';
import { taskMemory } from './scenarios/task-memory';
import { terminal } from './scenarios/terminal';

const all: Record<string, Scenario> = {
  runtime,
  agent,
  pipes,
  defaultPath,
  terminal,
  server,
  reap,
  taskMemory,
  files,
  egress,
  e2b,
};
const wanted = process.argv.slice(2).filter((a) => a !== '--');
const chosen =
  wanted.length > 0
    ? wanted.map((w) => all[w] ?? fail(`unknown scenario ${w}; known: ${Object.keys(all).join(', ')}`))
    : Object.values(all);

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

const sh = (cmd: string) => {
  try {
    return execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
};

const started = Date.now();
const rows: Row[] = [];
const compared: string[] = [];
for (const s of chosen) {
  process.stderr.write(`bench: ${s.name}…\n`);
  const t = Date.now();
  const result = await s.run();
  rows.push(...result);
  compared.push(`- **${s.name}**: ${s.compares}`);
  for (const r of result)
    process.stderr.write(`  ${r.scenario}: ${r.axo} vs ${r.baseline} → ${r.ratio} (${r.target})\n`);
  process.stderr.write(`  (${((Date.now() - t) / 1000).toFixed(0)} s)\n`);
}

const mark = (m: boolean | undefined) => (m === undefined ? '—' : m ? 'yes' : '**no**');
const machine = [
  `- CPU: ${cpus()[0]?.model ?? '?'} × ${cpus().length}; memory ${(totalmem() / 1024 ** 3).toFixed(0)} GiB; Linux ${release()}`,
  `- ${sh('. /etc/os-release && echo "$PRETTY_NAME"')}; Node ${process.version}`,
  `- podman ${sh("podman version --format '{{.Client.Version}}'")}, OCI runtime ${sh("podman info --format '{{.Host.OCIRuntime.Name}}'")}, cgroups ${sh("podman info --format '{{.Host.CgroupsVersion}}'")}; image ${IMAGE}`,
  `- ${REPS} repetitions per timing unless a row says otherwise; run took ${((Date.now() - started) / 1000).toFixed(0)} s on ${new Date().toISOString().slice(0, 10)}`,
];
const table = [
  '| scenario | axo (min / median / max) | baseline, same run | ratio | target | met |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.scenario} | ${r.axo} | ${r.baseline} | ${r.ratio} | ${r.target} | ${mark(r.met)} |`),
];
const doc = `# Benchmarks

Written by \`pnpm bench\` (bench/run.ts). Every axo figure is compared with a baseline
measured in the same run, interleaved with it, so machine noise hits both sides alike.
These are measurements of one machine, not guarantees.

## Machine

${machine.join('\n')}

## Results

${table.join('\n')}

## What is compared

${compared.join('\n')}
`;
const path = join(import.meta.dirname, '..', 'BENCHMARKS.md');
if (wanted.length === 0) writeFileSync(path, doc);
process.stdout.write(`\n${table.join('\n')}\n`);
process.stdout.write(wanted.length === 0 ? `\nwrote ${path}\n` : `\n(a subset run does not rewrite ${path})\n`);
