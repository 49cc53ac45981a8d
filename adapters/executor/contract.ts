import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ExecutionEnvironment, StepResult, StepRun } from './port.ts';

/** A step's run with its output gathered; `until` aborts the step once the output so far says so. */
export const runCollecting = async (env: ExecutionEnvironment, step: Partial<StepRun> & { command: string }, until?: (output: string) => boolean) => {
  const chunks: Buffer[] = [];
  const controller = new AbortController();
  const started = Date.now();
  let abortedAt: number | undefined;
  const result: StepResult = await env.run({
    shell: env.defaultShell,
    env: {},
    workingDirectory: env.home,
    noOutputTimeoutMs: 60_000,
    signal: controller.signal,
    ...step,
    onOutput: (chunk) => {
      chunks.push(Buffer.from(chunk));
      if (until && abortedAt === undefined && until(Buffer.concat(chunks).toString())) {
        abortedAt = Date.now();
        controller.abort();
      }
    },
  });
  const ended = Date.now();
  return { result, output: Buffer.concat(chunks).toString(), chunks: chunks.length, ms: ended - started, msAfterAbort: abortedAt === undefined ? undefined : ended - abortedAt };
};

/** What every execution environment does, whatever runs it: the agent relies on each point. */
export const executionEnvironmentContract = (name: string, prepare: () => Promise<ExecutionEnvironment>) => {
  const test = suite(`execution environment contract: ${name}`);
  let env: ExecutionEnvironment;
  test.before(async () => {
    env = await prepare();
  });
  test.after(async () => {
    await env?.close();
  });

  test('a step runs, its output streams in the order written, stderr included', async () => {
    const { result, output } = await runCollecting(env, { command: 'echo one; echo two >&2; echo three' });
    assert.equal(result, { exitCode: 0, ended: 'exited' });
    assert.is(output, 'one\ntwo\nthree\n');
  });

  test('exit codes come back as the step exits', async () => {
    assert.equal((await runCollecting(env, { command: 'exit 3' })).result, { exitCode: 3, ended: 'exited' });
    assert.equal((await runCollecting(env, { command: 'false' })).result, { exitCode: 1, ended: 'exited' });
  });

  test('the step gets its environment, and its working directory is created', async () => {
    const dir = `${env.home}/work/deep/dir`;
    const { result, output } = await runCollecting(env, { command: 'echo "$GREETING|$(pwd)"', env: { GREETING: 'hello there', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, workingDirectory: dir });
    assert.is(result.exitCode, 0, output);
    assert.is(output, `hello there|${dir}\n`);
  });

  test('the default shell is CircleCI\'s: -e stops at the first failure, pipefail fails a pipe', async () => {
    assert.ok(['/bin/bash', '/bin/sh'].includes(env.defaultShell[0]!));
    assert.equal(env.defaultShell.slice(1), ['-eo', 'pipefail']);
    const piped = await runCollecting(env, { command: 'false | true\necho not reached' });
    assert.is(piped.result.exitCode, 1);
    assert.is(piped.output, '');
    const errexit = await runCollecting(env, { command: 'false\necho not reached' });
    assert.is(errexit.result.exitCode, 1);
    assert.is(errexit.output, '');
  });

  test('a step that prints nothing for noOutputTimeoutMs is killed', async () => {
    const { result, output, ms } = await runCollecting(env, { command: 'echo started; sleep 600', noOutputTimeoutMs: 500 });
    assert.equal(result, { exitCode: null, ended: 'no_output_timeout' });
    assert.is(output, 'started\n');
    assert.ok(ms < 5_000, `ended after ${ms} ms`);
  });

  test('output restarts the no-output clock', async () => {
    const { result, ms } = await runCollecting(env, { command: 'for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.2; done', noOutputTimeoutMs: 1_000 });
    assert.equal(result, { exitCode: 0, ended: 'exited' });
    assert.ok(ms > 1_000, `the step took ${ms} ms, longer than the timeout`);
  });

  test('an abort kills a running step within two seconds', async () => {
    const { result, output, msAfterAbort } = await runCollecting(env, { command: 'echo started; sleep 600' }, (o) => o.includes('started'));
    assert.equal(result, { exitCode: null, ended: 'aborted' });
    assert.is(output, 'started\n');
    assert.ok(msAfterAbort! < 2_000, `ended ${msAfterAbort} ms after the abort`);
  });

  test('a signal aborted before the step starts kills it at once', async () => {
    const controller = new AbortController();
    controller.abort();
    const started = Date.now();
    const result = await env.run({ command: 'sleep 600', shell: env.defaultShell, env: {}, workingDirectory: env.home, noOutputTimeoutMs: 60_000, signal: controller.signal, onOutput: () => undefined });
    assert.equal(result, { exitCode: null, ended: 'aborted' });
    assert.ok(Date.now() - started < 3_000);
  });

  test('large output streams in chunks, none lost', async () => {
    const { result, output, chunks } = await runCollecting(env, { command: 'seq 1 200000' });
    assert.is(result.exitCode, 0);
    const lines = output.trimEnd().split('\n');
    assert.is(lines.length, 200_000);
    assert.is(lines.at(-1), '200000');
    assert.ok(chunks > 1, `${chunks} chunks`);
  });

  test('copyIn puts a directory of this machine into the environment', async () => {
    const source = mkdtempSync(join(tmpdir(), 'gyre-copyin-'));
    try {
      mkdirSync(join(source, 'sub'));
      writeFileSync(join(source, 'a.txt'), 'alpha\n');
      writeFileSync(join(source, 'sub', 'b.txt'), 'beta\n');
      const target = `${env.home}/project`;
      await env.copyIn(source, target);
      const { result, output } = await runCollecting(env, { command: 'cat a.txt sub/b.txt', workingDirectory: target });
      assert.is(result.exitCode, 0, output);
      assert.is(output, 'alpha\nbeta\n');
    } finally {
      rmSync(source, { recursive: true, force: true });
    }
  });

  test('a background step runs beside the next one and is killed at close', async () => {
    const other = await prepare();
    const background = runCollecting(other, { command: 'echo serving; sleep 600' });
    const { output } = await runCollecting(other, { command: 'echo foreground' });
    assert.is(output, 'foreground\n');
    await other.close();
    const { result } = await background;
    assert.equal(result, { exitCode: null, ended: 'aborted' });
  });

  test.run();
};
