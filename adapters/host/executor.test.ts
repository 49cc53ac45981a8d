import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { executionEnvironmentContract, runCollecting } from '../executor/contract.ts';
import { createHostExecutor } from './executor.ts';

const root = mkdtempSync(join(tmpdir(), 'gyre-host-executor-'));
const executor = createHostExecutor({ root });
let tasks = 0;
const prepare = () => executor.prepare({ taskId: `task-${++tasks}` });

executionEnvironmentContract('host', prepare);

/** Whether a process is still there, a zombie not counted. */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const waitUntil = async (what: string, ok: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`still waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const test = suite('host executor');
test.after(() => rmSync(root, { recursive: true, force: true }));

test('home is the task directory, the default shell is bash when the machine has it', async () => {
  const env = await executor.prepare({ taskId: 'home-check' });
  try {
    assert.is(env.home, join(root, 'home-check'));
    assert.equal(env.defaultShell, existsSync('/bin/bash') ? ['/bin/bash', '-eo', 'pipefail'] : ['/bin/sh', '-eo', 'pipefail']);
    const { output } = await runCollecting(env, { command: 'echo "$HOME"; mkdir -p ~/project && cd ~/project && pwd' });
    assert.is(output, `${env.home}\n${env.home}/project\n`);
  } finally {
    await env.close();
  }
  assert.not.ok(existsSync(join(root, 'home-check')), 'close removes the task directory');
});

test('an abort kills the whole process group: a child the step started is gone too', async () => {
  const env = await prepare();
  try {
    const { result, output } = await runCollecting(env, { command: 'sleep 600 & echo "child $!"; wait' }, (o) => o.includes('\n'));
    assert.is(result.ended, 'aborted');
    const pid = Number(/child (\d+)/.exec(output)![1]);
    await waitUntil(`the step's child ${pid} to be gone`, () => !alive(pid));
  } finally {
    await env.close();
  }
});

test('a no-output timeout kills the whole process group too', async () => {
  const env = await prepare();
  try {
    const { result, output } = await runCollecting(env, { command: 'sleep 600 & echo "child $!"; wait', noOutputTimeoutMs: 300 });
    assert.is(result.ended, 'no_output_timeout');
    const pid = Number(/child (\d+)/.exec(output)![1]);
    await waitUntil(`the step's child ${pid} to be gone`, () => !alive(pid));
  } finally {
    await env.close();
  }
});

test('close ends what a finished step left running in the background', async () => {
  const env = await prepare();
  const { result, output } = await runCollecting(env, { command: 'sleep 600 >/dev/null 2>&1 & echo "child $!"' });
  assert.is(result.exitCode, 0);
  const pid = Number(/child (\d+)/.exec(output)![1]);
  assert.ok(alive(pid));
  await env.close();
  await waitUntil(`the left-behind ${pid} to be gone`, () => !alive(pid));
});

test('an agent killed mid-task leaves its steps running: its next run ends them and removes their directories', async () => {
  const env = await prepare();
  const { result, output } = await runCollecting(env, { command: 'sleep 600 >/dev/null 2>&1 & echo "child $!"' });
  assert.is(result.exitCode, 0);
  const pid = Number(/child (\d+)/.exec(output)![1]);
  // the agent dies here without close(); its next run is a new executor on the same root
  const next = createHostExecutor({ root });
  assert.ok((await next.removeLeftovers()) >= 1);
  await waitUntil(`the left-behind ${pid} to be gone`, () => !alive(pid));
  assert.not.ok(existsSync(env.home), 'the task directory is gone');
});

test('a task id that is not a plain name is refused', async () => {
  try {
    await executor.prepare({ taskId: '../escape' });
    assert.unreachable('prepared');
  } catch (e) {
    assert.match((e as Error).message, /cannot name a directory/);
  }
});

test.run();
