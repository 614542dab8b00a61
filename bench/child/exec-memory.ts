// Fresh process: RSS growth while exec collects 100 MB of output under a cap.
import { rssSampler, withSandbox } from '../lib';

const cap = Number(process.argv[2]);
const growth = await withSandbox('bench-mem', async (sandbox) => {
  const sampler = rssSampler();
  const r = await sandbox.exec(['sh', '-c', 'head -c 100000000 /dev/zero'], {
    maxOutputBytes: cap,
    encoding: 'buffer',
  });
  const grown = sampler.stop();
  if (!r.truncated || r.stdout.length !== cap) throw new Error('cap not applied');
  return grown;
});
process.stdout.write(`${JSON.stringify({ growth })}\n`);
