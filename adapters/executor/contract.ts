import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ExecutionEnvironment, StepResult, StepRun } from './port.ts';
import { entryName, forEachEntry, writeEntry, writeTar } from './tar-entries.ts';

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
  return {
    result,
    output: Buffer.concat(chunks).toString(),
    chunks: chunks.length,
    ms: ended - started,
    msAfterAbort: abortedAt === undefined ? undefined : ended - abortedAt,
  };
};

/** A tar's entries in order: name, type, permission bits, symlink target, and content. */
export const entriesOf = async (tar: Readable) => {
  const entries: Array<{ name: string; type: string; mode: number; linkname: string | null; content: string }> = [];
  await forEachEntry(tar, async (h, body) => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    entries.push({
      name: entryName(h),
      type: h.type,
      mode: h.mode & 0o7777,
      linkname: h.type === 'symlink' ? h.linkname : null,
      content: Buffer.concat(chunks).toString(),
    });
  });
  return entries;
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
    const { result, output } = await runCollecting(env, {
      command: 'echo "$GREETING|$(pwd)"',
      env: { GREETING: 'hello there', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      workingDirectory: dir,
    });
    assert.is(result.exitCode, 0, output);
    assert.is(output, `hello there|${dir}\n`);
  });

  test("the default shell is CircleCI's: -e stops at the first failure, pipefail fails a pipe", async () => {
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
    const result = await env.run({
      command: 'sleep 600',
      shell: env.defaultShell,
      env: {},
      workingDirectory: env.home,
      noOutputTimeoutMs: 60_000,
      signal: controller.signal,
      onOutput: () => undefined,
    });
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

  /** Runs a script in the environment, failing the test when it fails; its output. */
  const sh = async (command: string) => {
    const { result, output } = await runCollecting(env, { command });
    assert.is(result.exitCode, 0, output);
    return output;
  };
  const tree =
    'mkdir -p tree/sub && printf alpha > tree/a.txt && printf beta > tree/sub/b.txt && printf "#!/bin/sh\\necho ran\\n" > tree/run.sh && chmod 755 tree/run.sh && chmod 640 tree/a.txt && ln -s a.txt tree/link';

  test("archive of a file: one entry named from the path's last segment, content and mode kept", async () => {
    await sh('mkdir -p ~/arch-file && printf "one\\n" > ~/arch-file/one.txt && chmod 600 ~/arch-file/one.txt');
    const tar = await env.archive(`${env.home}/arch-file/one.txt`);
    assert.ok(tar);
    assert.equal(await entriesOf(tar), [{ name: 'one.txt', type: 'file', mode: 0o600, linkname: null, content: 'one\n' }]);
  });

  test('archive of a directory: the directory, its nested directory, an executable file with its mode, a symlink as a symlink', async () => {
    await sh(`mkdir -p ~/arch-dir && cd ~/arch-dir && ${tree}`);
    const tar = await env.archive(`${env.home}/arch-dir/tree`);
    assert.ok(tar);
    const entries = await entriesOf(tar);
    const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
    assert.equal(Object.keys(byName).sort(), ['tree', 'tree/a.txt', 'tree/link', 'tree/run.sh', 'tree/sub', 'tree/sub/b.txt']);
    assert.is(byName.tree!.type, 'directory');
    assert.is(byName['tree/sub']!.type, 'directory');
    assert.is(entries[0]!.name, 'tree', 'a directory comes before what it holds');
    assert.equal([byName['tree/a.txt']!.content, byName['tree/a.txt']!.mode], ['alpha', 0o640]);
    assert.equal([byName['tree/run.sh']!.type, byName['tree/run.sh']!.mode], ['file', 0o755]);
    assert.is(byName['tree/sub/b.txt']!.content, 'beta');
    assert.equal([byName['tree/link']!.type, byName['tree/link']!.linkname], ['symlink', 'a.txt']);
  });

  test('archive of a path where nothing is: null', async () => {
    assert.is(await env.archive(`${env.home}/no/such/thing`), null);
    assert.is(await env.archive(`${env.home}/nothing-here.txt`), null);
  });

  test('extract round trip: content, modes and symlinks kept, a missing target created, files owned by the step user', async () => {
    await sh(`mkdir -p ~/round && cd ~/round && ${tree}`);
    const tar = await env.archive(`${env.home}/round/tree`);
    assert.ok(tar);
    const target = `${env.home}/unpacked/deep/er`;
    await env.extract(tar, target);
    const out = await sh(
      `cd ${target}/tree && cat a.txt sub/b.txt && echo && ./run.sh && readlink link && cat link && echo && ls -ln a.txt run.sh | awk '{print $1, $3}' && id -u`,
    );
    const lines = out.trim().split('\n');
    const uid = lines.at(-1);
    assert.equal(lines.slice(0, -1), ['alphabeta', 'ran', 'a.txt', 'alpha', `-rw-r----- ${uid}`, `-rwxr-xr-x ${uid}`]);
  });

  test('extract of a tar written here: parents made, entries owned by the step user whatever the tar says', async () => {
    const made = writeTar(async (pack) => {
      await writeEntry(pack, { name: 'made/x.txt', type: 'file', mode: 0o644, size: 2, uid: 4242, gid: 4242 }, [Buffer.from('x\n')]);
    });
    await env.extract(made.tar, `${env.home}/written`);
    await made.written;
    const out = await sh("cat ~/written/made/x.txt && ls -ln ~/written/made/x.txt | awk '{print $3}' && id -u");
    const [content, owner, uid] = out.trim().split('\n');
    assert.equal([content, owner], ['x', uid]);
  });

  test('extract writes nothing outside its target through a symlink the tar itself makes (x -> /etc, y -> ../..)', async () => {
    const target = `${env.home}/escape/target`;
    const escaping = [
      { link: { name: 'x', linkname: '/etc' }, file: 'x/passwd-gyre-test', outside: '/etc/passwd-gyre-test' },
      { link: { name: 'y', linkname: '../..' }, file: 'y/escape-gyre-test', outside: `${env.home}/escape-gyre-test` },
    ];
    for (const { link, file } of escaping) {
      const made = writeTar(async (pack) => {
        await writeEntry(pack, { ...link, type: 'symlink', mode: 0o777 }, null);
        await writeEntry(pack, { name: file, type: 'file', mode: 0o644, size: 6 }, [Buffer.from('owned\n')]);
      });
      // failing is one right answer, leaving the entry out another: only where the file lands matters
      await Promise.allSettled([env.extract(made.tar, target), made.written]);
    }
    const out = await sh(escaping.map((e) => `if [ -e ${e.outside} ]; then echo "escaped: ${e.outside}"; fi`).join('; '));
    assert.is(out, '');
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
