// Fresh process: RSS growth while exec collects a flood of output (100 MB default) under a cap.
import { rssSampler, withSandbox } from '../lib';

const cap = Number(process.argv[2]);
const bytes = Number(process.argv[3] ?? 100_000_000);
const growth = await withSandbox('bench-mem', async (sandbox) => {
  const sampler = rssSampler();
  const r = await sandbox.exec(['sh', '-c', `head -c ${bytes} /dev/zero`], {
    maxOutputBytes: cap,
    encoding: 'buffer',
  });
  const grown = sampler.stop();
  if (!r.truncated || r.stdout.length !== cap) throw new Error('cap not applied');
  return grown;
});
process.stdout.write(`${JSON.stringify({ growth })}\n`);
