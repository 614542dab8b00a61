// Fresh process: RSS growth while a background task writes 200 MB.
import { rssSampler, withSandbox } from '../lib';

const growth = await withSandbox('bench-task', async (sandbox) => {
  const sampler = rssSampler();
  const id = await sandbox.spawnBackground("head -c 200000000 /dev/zero | tr '\\0' x");
  const done = await sandbox.waitTask(id);
  const grown = sampler.stop();
  if (done.outputBytes !== 200_000_000) throw new Error(`task wrote ${done.outputBytes} bytes`);
  return grown;
});
process.stdout.write(`${JSON.stringify({ growth })}\n`);
