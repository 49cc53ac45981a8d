import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { entriesOf } from '../../adapters/executor/contract.ts';
import type { ExecutionEnvironment } from '../../adapters/executor/port.ts';
import { createHostExecutor } from '../../adapters/host/executor.ts';
import type { AgentFiles, Assignment } from '../../domain/agents/protocol.ts';
import { DomainError } from '../../domain/errors.ts';
import type { FileStep } from '../../domain/jobs/steps.ts';
import { runFileStep } from './file-steps.ts';

/**
 * The file steps against the host executor, with a channel that only records what it was sent and
 * gives back what it recorded: how Gyre keeps files is tested with Gyre.
 */
const test = suite('agent: file steps');
const root = mkdtempSync(join(tmpdir(), 'gyre-file-steps-'));
const executor = createHostExecutor({ root });
let env: ExecutionEnvironment;
let workdir: string;
test.before(async () => {
  env = await executor.prepare({ taskId: 'files' });
  workdir = join(env.home, 'project');
  mkdirSync(workdir, { recursive: true });
});
test.after(async () => {
  await env.close();
  rmSync(root, { recursive: true, force: true });
});

type Sent = { call: string; key?: string; body?: Buffer; failed?: string; json?: unknown };
const recording = () => {
  const sent: Sent[] = [];
  const read = async (call: string, body: Readable, key?: string) => {
    const chunks: Buffer[] = [];
    try {
      for await (const c of body) chunks.push(Buffer.from(c));
    } catch (e) {
      sent.push({ call, key, failed: (e as Error).message });
      throw e;
    }
    sent.push({ call, key, body: Buffer.concat(chunks) });
  };
  const last = (call: string) => sent.filter((s) => s.call === call).at(-1);
  const channel: AgentFiles = {
    storeArtifacts: async (_a, _s, tar) => (await read('storeArtifacts', tar), { files: 2, bytes: 10, skipped: [] }),
    storeTestResults: async (_a, _s, results) => (sent.push({ call: 'storeTestResults', json: results }), { passed: 1, failed: 1, skipped: 0 }),
    cacheExists: async () => false,
    saveCache: async (_a, _s, key, body) => (await read('saveCache', body, key), { saved: true, key, bytes: last('saveCache')!.body!.length }),
    findCache: async (_a, _s, keys) => (last('saveCache') && keys.includes(last('saveCache')!.key!) ? { cacheId: 'c1', key: last('saveCache')!.key!, bytes: last('saveCache')!.body!.length } : null),
    readCache: async () => Readable.from([last('saveCache')!.body!]),
    persistWorkspace: async (_a, _s, tar) => (await read('persistWorkspace', tar), { files: 1, bytes: 1 }),
    workspaceLayers: async () => sent.filter((s) => s.call === 'persistWorkspace' && s.body).map((s, i) => ({ layerId: String(i), job: `build-${i}`, bytes: s.body!.length })),
    readWorkspaceLayer: async (_a, _s, layerId) => Readable.from([sent.filter((s) => s.call === 'persistWorkspace' && s.body)[Number(layerId)]!.body!]),
  };
  return { sent, channel, last };
};

const assignment = { jobId: 'j', taskIndex: 0, spec: { vcs: { branch: 'main', revision: 'abc123' }, jobNumber: 7 } } as unknown as Assignment;
const run = async (step: FileStep, channel: AgentFiles, on: ExecutionEnvironment = env) => {
  const lines: string[] = [];
  const work = join(on.home, 'project');
  const resolve = (p: string) => (p === '~' || p.startsWith('~/') ? join(on.home, p.slice(1)) : p.startsWith('/') ? p : join(work, p));
  const end = await runFileStep(step, { env: on, channel, agentId: 'a', step: { jobId: 'j', taskIndex: 0, stepIndex: 1 }, assignment, environment: {}, resolve, out: { line: (l) => lines.push(l) } });
  return { ...end, output: lines.join('\n') };
};
const names = async (tar: Buffer) => (await entriesOf(Readable.from([tar]))).map((e) => e.name).sort();

test('store_artifacts sends only regular files, named by destination; says what went and what was not there', async () => {
  mkdirSync(join(workdir, 'out/sub'), { recursive: true });
  writeFileSync(join(workdir, 'out/a.html'), '<p>a</p>');
  writeFileSync(join(workdir, 'out/sub/b.txt'), 'b');
  symlinkSync('a.html', join(workdir, 'out/link'));
  const r = recording();
  const end = await run({ type: 'store_artifacts', name: 'a', path: 'out', destination: 'site' }, r.channel);
  assert.is(end.status, 'success', end.output);
  assert.equal(await names(r.last('storeArtifacts')!.body!), ['site/a.html', 'site/sub/b.txt']);
  assert.match(end.output, `Uploading ${workdir}/out/a.html to site/a.html`);
  assert.match(end.output, 'Uploaded 2 artifacts (10 B)');

  const none = await run({ type: 'store_artifacts', name: 'a', path: 'nothing', destination: null }, r.channel);
  assert.equal([none.status, none.output], ['success', `Uploading ${workdir}/nothing to nothing\n  No artifact files found at ${workdir}/nothing`]);
});

test('store_test_results reads every report under the path; a malformed one is named, not fatal', async () => {
  mkdirSync(join(workdir, 'results/unit'), { recursive: true });
  writeFileSync(join(workdir, 'results/unit/junit.xml'), '<testsuite name="s"><testcase name="ok"/><testcase name="bad"><failure message="no"/></testcase></testsuite>');
  writeFileSync(join(workdir, 'results/broken.xml'), '<testsuite><testcase');
  writeFileSync(join(workdir, 'results/notes.txt'), 'not a report');
  const r = recording();
  const end = await run({ type: 'store_test_results', name: 't', path: 'results' }, r.channel);
  assert.is(end.status, 'success', end.output);
  const sent = r.last('storeTestResults')!.json as { reports: number; tests: Array<{ name: string; result: string; source: string }>; problems: Array<{ file: string }> };
  assert.is(sent.reports, 2);
  assert.equal(sent.tests.map((t) => [t.name, t.result, t.source]), [['ok', 'success', 'unit'], ['bad', 'failure', 'unit']]);
  assert.equal(sent.problems.map((p) => p.file), ['broken.xml']);
  assert.match(end.output, 'Could not read broken.xml');

  const none = await run({ type: 'store_test_results', name: 't', path: 'no-results' }, r.channel);
  assert.equal([none.status, none.output.split('\n').at(-1)], ['success', 'Found no test results, skipping']);
});

test('save_cache: the key rendered where the job runs, one gzipped tar named from home; restore_cache puts it back, in the home of the task that restores it', async () => {
  mkdirSync(join(workdir, 'node_modules/pkg'), { recursive: true });
  writeFileSync(join(workdir, 'node_modules/pkg/index.js'), 'x');
  writeFileSync(join(workdir, 'lock'), 'lockfile');
  const r = recording();
  const save = await run({ type: 'save_cache', name: 's', key: 'deps-{{ .Branch }}-{{ checksum "lock" }}', paths: ['node_modules', '~/missing'], when: 'on_success' }, r.channel);
  assert.is(save.status, 'success', save.output);
  const sum = createHash('sha256').update('lockfile').digest('base64');
  const saved = r.last('saveCache')!;
  assert.is(saved.key, `deps-main-${sum}`);
  assert.equal(await names(gunzipSync(saved.body!)), ['~/project/node_modules', '~/project/node_modules/pkg', '~/project/node_modules/pkg/index.js']);
  assert.match(save.output, `Warning: could not archive ${env.home}/missing - Not found`);
  assert.match(save.output, `Stored Cache to deps-main-${sum}`);

  rmSync(join(workdir, 'node_modules'), { recursive: true });
  const restore = await run({ type: 'restore_cache', name: 'r', keys: ['deps-{{ .Branch }}-{{ checksum "lock" }}', 'deps-'] }, r.channel);
  assert.is(restore.status, 'success', restore.output);
  assert.is(readFileSync(join(workdir, 'node_modules/pkg/index.js'), 'utf8'), 'x');
  const other = await executor.prepare({ taskId: 'other' });
  try {
    const elsewhere = await run({ type: 'restore_cache', name: 'r', keys: [saved.key!] }, r.channel, other);
    assert.is(elsewhere.status, 'success', elsewhere.output);
    assert.is(readFileSync(join(other.home, 'project/node_modules/pkg/index.js'), 'utf8'), 'x');
  } finally {
    await other.close();
  }

  const miss = await run({ type: 'restore_cache', name: 'r', keys: ['other-{{ .Revision }}'] }, r.channel);
  assert.equal([miss.status, miss.output], ['success', 'No cache is found for key: other-abc123']);
  const bad = await run({ type: 'save_cache', name: 's', key: 'x-{{ checksum "no-such-file" }}', paths: ['node_modules'], when: 'on_success' }, r.channel);
  assert.is(bad.status, 'failed');
  assert.match(bad.reason!, 'no file no-such-file to checksum');
});

test('persist_to_workspace takes what its globs select, named under root; attach_workspace applies the layers', async () => {
  mkdirSync(join(workdir, 'dist/js'), { recursive: true });
  writeFileSync(join(workdir, 'dist/app.js'), 'app');
  writeFileSync(join(workdir, 'dist/app.css'), 'css');
  writeFileSync(join(workdir, 'dist/js/x.js'), 'x');
  const r = recording();
  const end = await run({ type: 'persist_to_workspace', name: 'p', root: '.', paths: ['dist/*.js', 'lock'] }, r.channel);
  assert.is(end.status, 'success', end.output);
  assert.equal(await names(r.last('persistWorkspace')!.body!), ['dist/app.js', 'lock']);

  const attached = await run({ type: 'attach_workspace', name: 'a', at: '~/ws' }, r.channel);
  assert.is(attached.status, 'success', attached.output);
  assert.is(readFileSync(join(env.home, 'ws/dist/app.js'), 'utf8'), 'app');
  assert.not.ok(existsSync(join(env.home, 'ws/dist/app.css')));
  assert.match(attached.output, '  build-0');
});

test('a workspace path that matches nothing fails the step as CircleCI does, and its upload does not end', async () => {
  const r = recording();
  const literal = await run({ type: 'persist_to_workspace', name: 'p', root: '.', paths: ['dist', 'nope'] }, r.channel);
  assert.is(literal.status, 'failed');
  assert.match(literal.reason!, `The specified paths did not match any files in ${workdir}: nope`);
  assert.is(r.sent.length, 0, 'a missing path is known before anything is sent');

  const glob = await run({ type: 'persist_to_workspace', name: 'p', root: '.', paths: ['dist', 'dist/*.none'] }, r.channel);
  assert.is(glob.status, 'failed');
  assert.match(glob.reason!, 'did not match any files');
  assert.ok(r.last('persistWorkspace')!.failed, 'the upload failed rather than ended');

  const outside = await run({ type: 'persist_to_workspace', name: 'p', root: '.', paths: ['../x'] }, r.channel);
  assert.match(outside.reason!, 'climbs out of root');
});

test("a channel failure fails the step saying what failed; a lost lease is the task's end, thrown", async () => {
  const r = recording();
  const failing: AgentFiles = { ...r.channel, workspaceLayers: async () => Promise.reject(new Error('Gyre answered 503')) };
  const end = await run({ type: 'attach_workspace', name: 'a', at: 'ws' }, failing);
  assert.equal([end.status, end.reason], ['failed', 'Gyre could not list the workspace layers: Gyre answered 503']);
  const losing: AgentFiles = { ...r.channel, storeArtifacts: async (_a, _s, tar) => (tar.destroy(), Promise.reject(new DomainError('LEASE_LOST', 'not yours'))) };
  try {
    await run({ type: 'store_artifacts', name: 'a', path: 'out', destination: null }, losing);
    assert.unreachable('the lost lease was swallowed');
  } catch (e) {
    assert.is((e as DomainError).code, 'LEASE_LOST');
  }
});

test.run();
