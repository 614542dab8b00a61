import { expect, it } from 'vitest';
import { createPodman } from './podman';
import { PodmanTaskRegistry } from './tasks-podman';

it('marks a task failed, with a reason, when podman cannot be run at all', async () => {
  const tasks = new PodmanTaskRegistry(createPodman({ binary: '/nonexistent/podman' }), 'axo-ses-x');
  const id = await tasks.spawn('echo hi', {});
  const done = await tasks.wait(id);
  expect(done).toMatchObject({ status: 'failed', exitCode: null, killed: false });
  expect(done.error).toMatch(/podman was not found \(tried "\/nonexistent\/podman"\)/);
  expect(done.endedAt).toBeInstanceOf(Date);
});
