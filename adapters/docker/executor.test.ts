import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dockerForTests } from '../../test/support/docker.ts';
import { ensureServiceImage, ensureTestImage } from '../../test/support/images.ts';
import { executionEnvironmentContract, runCollecting } from '../executor/contract.ts';
import { ImagePullError } from '../executor/port.ts';
import { createDockerExecutor } from './executor.ts';

const docker = await dockerForTests();
/** Served by no registry: a pull of it would fail, so a job that starts on it proves no pull happened. */
const localOnly = '127.0.0.1:1/gyre-test/busybox:1';
await ensureTestImage(docker, ['gyre-test/busybox:1', 'cimg/base:stable', localOnly]);
await ensureServiceImage(docker, ['postgres:16']);

const agentId = `test-agent-${randomUUID()}`;
const executor = createDockerExecutor(docker, { agentId });
const containersOf = (taskId: string) => docker.listContainers({ all: true, filters: { label: [`gyre.task=${taskId}`] } });

executionEnvironmentContract('docker', () => executor.prepare({ taskId: randomUUID(), images: [{ image: 'cimg/base:stable' }], cpus: 1, memoryMb: 512 }));

const test = suite('docker executor');
test.after(async () => {
  await executor.removeLeftovers();
});

test("busybox has no bash: the default shell is /bin/sh -eo pipefail, home is root's", async () => {
  const env = await executor.prepare({ taskId: randomUUID(), images: [{ image: 'gyre-test/busybox:1' }] });
  try {
    assert.equal(env.defaultShell, ['/bin/sh', '-eo', 'pipefail']);
    assert.is(env.home, '/root');
    const { result } = await runCollecting(env, { command: 'false | true' });
    assert.is(result.exitCode, 1);
  } finally {
    await env.close();
  }
});

test('containers carry the task and agent labels and the resource limits; close removes them all', async () => {
  const taskId = randomUUID();
  const env = await executor.prepare({
    taskId,
    images: [{ image: 'cimg/base:stable' }, { image: 'postgres:16' }],
    labels: { 'gyre.job': '42' },
    cpus: 1.5,
    memoryMb: 256,
  });
  const containers = await containersOf(taskId);
  assert.is(containers.length, 2);
  for (const c of containers) {
    assert.is(c.Labels['gyre.agent'], agentId);
    assert.is(c.Labels['gyre.job'], '42');
  }
  const primary = containers.find((c) => c.Labels['gyre.role'] === 'primary')!;
  const info = await docker.getContainer(primary.Id).inspect();
  assert.is(info.HostConfig.NanoCpus, 1_500_000_000);
  assert.is(info.HostConfig.Memory, 256 * 1024 * 1024);
  await env.close();
  assert.is((await containersOf(taskId)).length, 0);
});

test('a service container is reached at localhost and by its name from the primary', async () => {
  const env = await executor.prepare({
    taskId: randomUUID(),
    images: [{ image: 'cimg/base:stable' }, { image: 'postgres:16', name: 'db', environment: { POSTGRES_PASSWORD: 'x' } }],
  });
  try {
    // the service may still be starting: ask again for up to ten seconds
    const ask = (host: string) =>
      `for i in $(seq 1 100); do out=$(nc ${host} 5432 </dev/null 2>/dev/null) && [ -n "$out" ] && echo "$out" && exit 0; sleep 0.1; done; exit 1`;
    const local = await runCollecting(env, { command: ask('localhost') });
    assert.equal([local.result.exitCode, local.output], [0, 'ready\n']);
    const named = await runCollecting(env, { command: ask('db') });
    assert.equal([named.result.exitCode, named.output], [0, 'ready\n']);
  } finally {
    await env.close();
  }
});

test('an image the daemon has is not pulled', async () => {
  const progress: string[] = [];
  const env = await executor.prepare({ taskId: randomUUID(), images: [{ image: localOnly }], onProgress: (l) => progress.push(l) });
  try {
    assert.is((await runCollecting(env, { command: 'echo up' })).output, 'up\n');
    assert.not.ok(
      progress.some((l) => l.startsWith('Pulling')),
      progress.join('\n'),
    );
  } finally {
    await env.close();
  }
});

test('an image that cannot be pulled is an ImagePullError naming it, never the password, and leaves no container', async () => {
  const taskId = randomUUID();
  // a registry on a closed loopback port: refused at once, no traffic leaves the machine
  const image = '127.0.0.1:1/gyre-test/missing:1';
  try {
    await executor.prepare({ taskId, images: [{ image: 'cimg/base:stable' }, { image, auth: { username: 'robot', password: 'hunter2-secret' } }] });
    assert.unreachable('prepared');
  } catch (e) {
    assert.instance(e, ImagePullError);
    assert.is((e as ImagePullError).code, 'IMAGE_PULL_FAILED');
    assert.ok((e as Error).message.includes(image), (e as Error).message);
    assert.not.ok((e as Error).message.includes('hunter2-secret'));
  }
  assert.is((await containersOf(taskId)).length, 0);
});

test('an abort kills what the step started too', async () => {
  const env = await executor.prepare({ taskId: randomUUID(), images: [{ image: 'cimg/base:stable' }] });
  try {
    const { result, output } = await runCollecting(env, { command: 'sleep 600 & echo "child $!"; wait' }, (o) => o.includes('\n'));
    assert.is(result.ended, 'aborted');
    const pid = /child (\d+)/.exec(output)![1];
    const gone = await runCollecting(env, { command: `for i in $(seq 1 100); do [ -d /proc/${pid} ] || exit 0; sleep 0.02; done; exit 1` });
    assert.is(gone.result.exitCode, 0, `process ${pid} is still there`);
  } finally {
    await env.close();
  }
});

test("steps run as the image's own USER when the config names none (the idle primary itself runs as root)", async () => {
  await ensureTestImage(docker, ['gyre-test/busybox-user:1'], { user: '1000:1000' });
  const env = await executor.prepare({ taskId: randomUUID(), images: [{ image: 'gyre-test/busybox-user:1' }] });
  try {
    const { output } = await runCollecting(env, { command: 'id -u' });
    assert.is(output.trim(), '1000');
  } finally {
    await env.close();
  }
});

test('copyIn makes the target owned by the user steps run as', async () => {
  const env = await executor.prepare({ taskId: randomUUID(), images: [{ image: 'cimg/base:stable', user: '1000:1000' }] });
  try {
    await env.copyIn(import.meta.dirname, '/home/circleci/project');
    const { result, output } = await runCollecting(env, {
      command: 'stat -c "%u:%g" . executor.ts; id -u; touch mine',
      workingDirectory: '/home/circleci/project',
    });
    assert.equal([result.exitCode, output], [0, '1000:1000\n1000:1000\n1000\n']);
  } finally {
    await env.close();
  }
});

test('archive and extract for a user that is not root: a cache restored at / and a layer at a new directory belong to that user', async () => {
  const env = await executor.prepare({ taskId: randomUUID(), images: [{ image: 'cimg/base:stable', user: '1000:1000' }] });
  try {
    const made = await runCollecting(env, { command: 'mkdir -p /tmp/src/sub && echo hi > /tmp/src/sub/f && chmod 750 /tmp/src/sub/f' });
    assert.is(made.result.exitCode, 0, made.output);
    await env.extract((await env.archive('/tmp/src'))!, '/tmp/layer');
    const { result, output } = await runCollecting(env, {
      command: 'stat -c "%u:%g %a" /tmp/layer /tmp/layer/src/sub/f; cat /tmp/layer/src/sub/f; touch /tmp/layer/src/sub/mine',
    });
    assert.equal([result.exitCode, output], [0, '1000:1000 755\n1000:1000 750\nhi\n']);
  } finally {
    await env.close();
  }
});

test('removeLeftovers removes the containers a killed earlier run of this agent left, and only those', async () => {
  const restarted = `test-agent-${randomUUID()}`;
  const earlier = createDockerExecutor(docker, { agentId: restarted });
  const leftTask = randomUUID();
  await earlier.prepare({ taskId: leftTask, images: [{ image: 'cimg/base:stable' }, { image: 'postgres:16' }] }); // never closed: the run was killed
  const otherTask = randomUUID();
  const other = await executor.prepare({ taskId: otherTask, images: [{ image: 'cimg/base:stable' }] });
  try {
    const removed = await createDockerExecutor(docker, { agentId: restarted }).removeLeftovers();
    assert.is(removed, 2);
    assert.is((await containersOf(leftTask)).length, 0);
    assert.is((await containersOf(otherTask)).length, 1);
  } finally {
    await other.close();
  }
});

test.run();
