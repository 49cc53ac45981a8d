import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ObjectStore } from '../adapters/objectstore/port.ts';
import type { AgentChannel, AgentInfo, StepRef } from '../domain/agents/protocol.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { cacheDecider, cacheId, cacheStream, cacheTarget } from '../domain/files/cache.ts';
import { objectKeys } from '../domain/files/keys.ts';
import { jobDecider, jobStream, jobTarget } from '../domain/jobs/job.ts';
import { jobRunById } from '../projections/jobs.ts';
import { artifactsOfJob, cacheById, cachesStartingWith, testResultsOfJob } from '../projections/files.ts';
import { projectBySlug } from '../projections/projects.ts';
import { createHttpChannel } from '../workers/agent/http-channel.ts';
import { expiredFilesRemover } from '../workers/expired-files.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger, until, workflow } from './support/jobs.ts';
import { filesystemStore, s3rverStore, type TestObjectStore } from './support/object-stores.ts';
import { refusedWith } from './support/rejects.ts';

/**
 * The file steps' protocol as a remote agent speaks it: a runner token, real HTTP, a real object
 * store (a directory, or S3 through s3rver). The test is the agent: it claims tasks and moves files.
 */

const slug = 'gh/acme/files';
const config = `
version: 2.1
jobs:
${['a', 'b', 'c']
  .map(
    (name) => `  ${name}:
    machine: true
    resource_class: acme/files
    steps: [{run: one}, {run: two}]`,
  )
  .join('\n')}
workflows:
  chain:
    jobs: [a, {b: {requires: [a]}}, {c: {requires: [b]}}]
`;
const info = (name: string): AgentInfo => ({
  name,
  version: 'test',
  os: 'test',
  capacity: { cpus: 4, memoryMb: 8192 },
  reserved: { cpus: 0, memoryMb: 0 },
  maxTasks: 10,
  kinds: ['machine'],
  declined: [],
});

type Entry = { name: string; body?: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string };
const tarBuffer = async (entries: ReadonlyArray<Entry>): Promise<Buffer> => {
  const p = pack();
  for (const e of entries) {
    const header = { name: e.name, type: e.type ?? 'file', ...(e.linkname ? { linkname: e.linkname } : {}) };
    if (header.type === 'file') p.entry(header, e.body ?? '');
    else p.entry(header);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
};
const tar = async (entries: ReadonlyArray<Entry>) => Readable.from([await tarBuffer(entries)]);
const bytesOf = async (r: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
};

const fileSteps = (name: string, makeStore: () => Promise<TestObjectStore>) => {
  const test = suite(`file steps over HTTP, objects ${name}`);
  let g: TestGyre;
  let store: TestObjectStore;
  let objects: ObjectStore;
  let repo: ReturnType<typeof gitRepo>;
  let channel: AgentChannel;
  let agentId = '';
  let intruderId = '';
  let projectId = '';

  test.before(async () => {
    store = await makeStore();
    g = await startTestGyre(store.env);
    objects = g.services.objects;
    repo = gitRepo();
    repo.commit(config);
    await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
    await ok(g, 'mutation { createRunnerResourceClass(input: {resourceClass: "acme/files"}) { id } }');
    const token = (await ok(g, 'mutation { createRunnerToken(input: {resourceClass: "acme/files", nickname: "files"}) { token } }')).createRunnerToken
      .token as string;
    channel = createHttpChannel(await g.app.listen({ port: 0, host: '127.0.0.1' }), token);
    agentId = (await channel.register(info('files-box'))).agentId;
    intruderId = (await channel.register(info('other-box'))).agentId;
    projectId = (await projectBySlug(g.services.db, slug))!.id;
  });
  test.after(async () => {
    await g.stop();
    await store.stop();
    repo.remove();
  });

  /** Claims the job (it must be the one queued) and opens its step 1. */
  const claim = async (jobId: string): Promise<StepRef> => {
    const task = await until(`job ${jobId} to be claimed`, async () => (await channel.claim(agentId, 1000)) ?? undefined);
    assert.is(task.jobId, jobId);
    const step = { jobId, taskIndex: 0, stepIndex: 1 };
    await channel.startStep(agentId, step);
    return step;
  };
  const finish = async (step: StepRef, status: 'success' | 'failed') => {
    await channel.finishStep(agentId, { ...step, status, exitCode: status === 'success' ? 0 : 1, reason: null });
    await channel.finishTask(agentId, { jobId: step.jobId, taskIndex: 0, status, reason: null });
  };
  /** A new pipeline's first job, claimed and at its step 1. */
  const firstJob = async () => {
    const p = await trigger(g, slug);
    return { workflowId: p.workflows[0]!.id, step: await claim(p.workflows[0]!.jobs.find((j) => j.name === 'a')!.id) };
  };
  const keysUnder = async (prefix: string) => (await objects.list(prefix, { limit: 1000 })).keys;
  const jobEvents = async (jobId: string, type: string) => (await g.services.store.readStream(jobStream(jobId))).filter((e) => e.type === type);

  test('artifacts are stored as plain objects under their names; hostile names, clashes and other entries are skipped', async () => {
    const { step } = await firstJob();
    const stored = await channel.storeArtifacts(
      agentId,
      step,
      await tar([
        { name: 'site/index.html', body: '<h1>hello</h1>' },
        { name: './site/deep/report.txt', body: 'deep' },
        { name: 'site/dir', type: 'directory' },
        { name: 'site/link', type: 'symlink', linkname: '/etc/passwd' },
        { name: '../escape.txt', body: 'out' },
        { name: 'site/../../escape.txt', body: 'out' },
        { name: '/etc/evil', body: 'out' },
        { name: 'site/index.html/inner', body: 'clash' },
      ]),
    );
    assert.is(stored.files, 2);
    assert.is(stored.bytes, '<h1>hello</h1>'.length + 'deep'.length);
    assert.equal(
      stored.skipped.map((x) => x.path),
      ['../escape.txt', 'site/../../escape.txt', '/etc/evil', 'site/index.html/inner'],
    );
    assert.match(stored.skipped[3]!.reason, 'another artifact is named site/index.html');
    const html = await objects.get(objectKeys.artifact(step.jobId, 0, 'site/index.html'));
    assert.is((await bytesOf(html!.body)).toString(), '<h1>hello</h1>');
    assert.is((await bytesOf((await objects.get(`jobs/${step.jobId}/artifacts/0/site/deep/report.txt`))!.body)).toString(), 'deep');
    const everything = await keysUnder('');
    assert.equal(
      everything.filter((k) => k.includes('escape') || k.includes('evil')),
      [],
    );
    assert.equal(
      (await artifactsOfJob(g.services.db, step.jobId, { limit: 10 })).map((a) => [a.path, a.size]),
      [
        ['site/deep/report.txt', 4],
        ['site/index.html', 14],
      ],
    );

    // a tar cut off mid-way is refused, and keeps nothing
    const whole = await tarBuffer([{ name: 'cut/a.txt', body: 'x'.repeat(4000) }]);
    await refusedWith('BAD_USER_INPUT', channel.storeArtifacts(agentId, step, Readable.from([whole.subarray(0, 1500)])));
    assert.equal(await keysUnder(`jobs/${step.jobId}/artifacts/0/cut/`), []);
    assert.is((await jobEvents(step.jobId, 'job.artifacts.store')).length, 1);

    // a name kept before stays as it was: named again it is skipped, and a broken upload of it changes nothing
    const again = await channel.storeArtifacts(
      agentId,
      step,
      await tar([
        { name: 'site/index.html', body: 'changed' },
        { name: 'site/new.txt', body: 'new' },
      ]),
    );
    assert.equal([again.files, again.skipped.map((x) => x.path)], [1, ['site/index.html']]);
    const overwrite = await tarBuffer([{ name: 'site/index.html', body: 'y'.repeat(4000) }]);
    await refusedWith('BAD_USER_INPUT', channel.storeArtifacts(agentId, step, Readable.from([overwrite.subarray(0, 1500)])));
    assert.is((await bytesOf((await objects.get(objectKeys.artifact(step.jobId, 0, 'site/index.html')))!.body)).toString(), '<h1>hello</h1>');

    // test results, counted and kept as JSON
    const tests = [
      { name: 'adds', classname: 'math', file: 'math.test.ts', result: 'success' as const, message: null, source: 'unit', run_time: 0.1 },
      { name: 'divides', classname: 'math', file: null, result: 'failure' as const, message: 'by zero', source: 'unit', run_time: 0.2 },
      { name: 'later', classname: 'math', file: null, result: 'skipped' as const, message: null, source: 'unit', run_time: 0 },
    ];
    const counts = await channel.storeTestResults(agentId, step, { reports: 2, tests, problems: [{ file: 'broken.xml', reason: 'not XML' }] });
    assert.equal(counts, { passed: 1, failed: 1, skipped: 1 });
    const kept = JSON.parse((await bytesOf((await objects.get(objectKeys.testsChunk(objectKeys.tests(step.jobId, 0, 1), 0)))!.body)).toString());
    assert.equal(kept, tests);
    const rows = await testResultsOfJob(g.services.db, step.jobId);
    assert.equal(
      rows.map((r) => [r.counts, r.problems]),
      [[counts, [{ file: 'broken.xml', reason: 'not XML' }]]],
    );

    // an agent that does not hold the task is refused, and nothing is recorded
    await refusedWith('LEASE_LOST', channel.storeArtifacts(intruderId, step, await tar([{ name: 'site/intruder.html', body: 'x' }])));
    await refusedWith('LEASE_LOST', channel.storeTestResults(intruderId, step, { reports: 1, tests, problems: [] }));
    await refusedWith('LEASE_LOST', channel.persistWorkspace(intruderId, step, await tar([{ name: 'w.txt', body: 'x' }])));
    await refusedWith('LEASE_LOST', channel.findCache(intruderId, step, ['any']));
    assert.is(await objects.head(objectKeys.artifact(step.jobId, 0, 'site/intruder.html')), null);
    assert.is(await objects.head(objectKeys.layer(step.jobId, 0, 1)), null);
    assert.is((await jobEvents(step.jobId, 'job.artifacts.store')).length, 2);
    assert.is((await jobEvents(step.jobId, 'job.tests.store')).length, 1);

    // a step that has ended keeps no more files
    await channel.output(agentId, step, 'output to expire\n');
    await channel.finishStep(agentId, { ...step, status: 'success', exitCode: 0, reason: null });
    await refusedWith('STEP_NOT_STARTED', channel.storeArtifacts(agentId, step, await tar([{ name: 'late.txt', body: 'late' }])));
    assert.is(await objects.head(objectKeys.artifact(step.jobId, 0, 'late.txt')), null);
    await channel.finishTask(agentId, { jobId: step.jobId, taskIndex: 0, status: 'failed', reason: null });

    // retention: expired files leave the store, and deleting again is harmless
    await until('the job to end', async () => ((await jobEvents(step.jobId, 'job.finish')).length ? true : undefined));
    assert.ok((await keysUnder(`jobs/${step.jobId}/output/`)).length > 0, 'the output was sealed into the store');
    // what a server that died between writing and recording would leave: a layer no event names
    await objects.put(objectKeys.layer(step.jobId, 0, 9), Buffer.from('orphan'));
    const expired = await g.services.commands.execute({
      stream: jobStream(step.jobId),
      decider: jobDecider,
      command: { type: 'expireFiles', kinds: ['artifacts', 'tests', 'output'] },
      context: { actor: systemActor, request: null },
      target: jobTarget({ jobId: step.jobId, name: 'a' }),
    });
    await until(
      'the expired objects, and the unrecorded layer, to go',
      async () => ((await keysUnder(`jobs/${step.jobId}/`)).length === 0 ? true : undefined),
      10_000,
    );
    await expiredFilesRemover({ db: g.services.db, objects, output: g.services.output }).react(expired.events[0]!);
  });

  test("a cache is saved once and never overwritten; restored by exact key or newest by prefix; a fork build's cache is not restored by a branch build", async () => {
    const { step } = await firstJob();
    assert.is(await channel.cacheExists(agentId, step, 'v1-deps-abc'), false);
    const first = await channel.saveCache(agentId, step, 'v1-deps-abc', Readable.from([gzipSync('first')]));
    assert.equal(first, { saved: true, key: 'v1-deps-abc', bytes: gzipSync('first').length });
    assert.is(await channel.cacheExists(agentId, step, 'v1-deps-abc'), true);
    const again = await channel.saveCache(agentId, step, 'v1-deps-abc', Readable.from([gzipSync('second')]));
    assert.is(again.saved, false);
    const abc = await channel.findCache(agentId, step, ['v1-deps-abc']);
    assert.is(abc?.key, 'v1-deps-abc');
    assert.equal(await bytesOf(await channel.readCache(agentId, step, abc!.cacheId)), gzipSync('first'));
    assert.is((await keysUnder(objectKeys.cachePrefix(projectId, abc!.cacheId))).length, 1, 'the refused save left no object');

    await until('a newer save to be later', async () =>
      Date.now() > Date.parse((await cachesStartingWith(g.services.db, projectId, 'project', 'v1-deps-abc'))[0]!.createdAt) ? true : undefined,
    );
    assert.is((await channel.saveCache(agentId, step, 'v1-deps-def', Readable.from([gzipSync('newer')]))).saved, true);
    assert.is((await channel.findCache(agentId, step, ['v1-deps-']))?.key, 'v1-deps-def', 'by prefix, the newest');
    assert.is((await channel.findCache(agentId, step, ['v1-deps-abc', 'v1-']))?.key, 'v1-deps-abc', 'an exact key wins');
    assert.is((await channel.findCache(agentId, step, ['v2-', 'v1-deps-a']))?.key, 'v1-deps-abc', 'the first key that finds one decides');
    assert.is(await channel.findCache(agentId, step, ['v2-']), null);

    // a fork's pull request saved into its own scope: a branch build neither finds it nor reads it
    const forkId = cacheId(projectId, 'fork', 'fork-only');
    const forkKey = objectKeys.cache(projectId, forkId, 'fork-save');
    await objects.put(forkKey, gzipSync('from a fork'));
    await g.services.commands.execute({
      stream: cacheStream(forkId),
      decider: cacheDecider,
      command: {
        type: 'save',
        save: {
          cacheId: forkId,
          projectId,
          scope: 'fork',
          key: 'fork-only',
          projectSlug: slug,
          objectKey: forkKey,
          bytes: 10,
          jobId: step.jobId,
          jobNumber: null,
          branch: 'pull/7',
        },
      },
      context: { actor: systemActor, request: null },
      target: cacheTarget({ cacheId: forkId, key: 'fork-only' }),
    });
    await until('the fork cache in the read model', async () =>
      (await cachesStartingWith(g.services.db, projectId, 'fork', 'fork-only')).length ? true : undefined,
    );
    assert.is(await channel.findCache(agentId, step, ['fork-only']), null);
    await refusedWith('CACHE_NOT_FOUND', channel.readCache(agentId, step, forkId));
    assert.is(await channel.cacheExists(agentId, step, 'fork-only'), false);
    await refusedWith('BAD_USER_INPUT', channel.findCache(agentId, step, []));
    await finish(step, 'failed');

    // an expired cache leaves the store
    const abcId = cacheId(projectId, 'project', 'v1-deps-abc');
    await g.services.commands.execute({
      stream: cacheStream(abcId),
      decider: cacheDecider,
      command: { type: 'expire' },
      context: { actor: systemActor, request: null },
      target: cacheTarget({ cacheId: abcId, key: 'v1-deps-abc' }),
    });
    await until('the expired cache to go', async () => ((await keysUnder(objectKeys.cachePrefix(projectId, abcId))).length === 0 ? true : undefined), 10_000);
  });

  test('a key saved again after its expiry keeps its new object, even when the old expiry is delivered again; a cache without its object is a miss', async () => {
    const run = await trigger(g, slug);
    const step = await claim(run.workflows[0]!.jobs.find((j) => j.name === 'a')!.id);
    const key = `resaved-${Date.now()}`;
    const id = cacheId(projectId, 'project', key);
    assert.is((await channel.saveCache(agentId, step, key, Readable.from([gzipSync('old')]))).saved, true);
    const expired = await g.services.commands.execute({
      stream: cacheStream(id),
      decider: cacheDecider,
      command: { type: 'expire' },
      context: { actor: systemActor, request: null },
      target: cacheTarget({ cacheId: id, key }),
    });
    await until(
      'the expired cache to go',
      async () => ((await keysUnder(objectKeys.cachePrefix(projectId, id))).length === 0 && !(await cacheById(g.services.db, id)) ? true : undefined),
      10_000,
    );
    assert.is((await channel.saveCache(agentId, step, key, Readable.from([gzipSync('new')]))).saved, true);
    await expiredFilesRemover({ db: g.services.db, objects, output: g.services.output }).react(expired.events[0]!);
    const found = await channel.findCache(agentId, step, [key]);
    assert.is(found?.cacheId, id);
    assert.equal(await bytesOf(await channel.readCache(agentId, step, id)), gzipSync('new'));

    await objects.deleteMany(objectKeys.cachePrefix(projectId, id));
    assert.is(await channel.findCache(agentId, step, [key]), null, 'its object gone, the cache is not offered');
    await finish(step, 'failed');
  });

  test('many tests stream in chunks and page through API v2 in order; a broken test line keeps nothing', async () => {
    const { step } = await firstJob();
    const many = Array.from({ length: 2500 }, (_, i) => ({
      name: `t${i}`,
      classname: 'many',
      file: null,
      result: (i % 10 ? 'success' : 'failure') as 'success' | 'failure',
      message: null,
      source: 'unit',
      run_time: 0,
    }));
    assert.equal(await channel.storeTestResults(agentId, step, { reports: 1, tests: many, problems: [] }), { passed: 2250, failed: 250, skipped: 0 });
    assert.is((await keysUnder(objectKeys.tests(step.jobId, 0, 1))).length, 3);
    const number = (await jobRunById(g.services.db, step.jobId))!.jobNumber;
    const names: string[] = [];
    let token: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const r = await g.app.inject({
        url: `/api/v2/project/${slug}/${number}/tests${token ? `?page-token=${token}` : ''}`,
        headers: { 'circle-token': g.adminToken },
      });
      const body = r.json() as { items: Array<{ name: string }>; next_page_token: string | null };
      names.push(...body.items.map((t) => t.name));
      token = body.next_page_token;
      if (!token) break;
    }
    assert.equal(
      names,
      many.map((t) => t.name),
    );

    // the same tests through GraphQL, a connection whose cursors go on from any test
    const tests = async (first: number, after: string | null) =>
      (
        await ok(
          g,
          'query($id: ID!, $first: Int, $after: String) { job(id: $id) { tests(first: $first, after: $after) { edges { cursor node { name classname file result message source runTime } } pageInfo { hasNextPage endCursor } } } }',
          { id: step.jobId, first, after },
        )
      ).job.tests as {
        edges: Array<{ cursor: string; node: { name: string; result: string; runTime: number; source: string } }>;
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    const viaGraphql: Array<{ name: string; result: string }> = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page = await tests(500, after);
      viaGraphql.push(...page.edges.map((e) => e.node));
      after = page.pageInfo.endCursor;
      if (!page.pageInfo.hasNextPage) break;
    }
    assert.equal(
      viaGraphql.map((t) => t.name),
      names,
    );
    assert.is(viaGraphql.filter((t) => t.result === 'failure').length, 250);
    const first = await tests(3, null);
    assert.equal((await ok(g, 'query($id: ID!) { job(id: $id) { workflowId projectSlug } }', { id: step.jobId })).job, {
      workflowId: (await jobRunById(g.services.db, step.jobId))!.workflowId,
      projectSlug: slug,
    });
    assert.equal(first.edges[0]!.node, { name: 't0', classname: 'many', file: null, result: 'failure', message: null, source: 'unit', runTime: 0 });
    assert.equal(
      (await tests(2, first.edges[0]!.cursor)).edges.map((e) => e.node.name),
      ['t1', 't2'],
      "an edge's cursor goes on after it",
    );
    for (const bad of [
      { first: 0, after: null },
      { first: 501, after: null },
      { first: 5, after: 'bm90IGEgbnVtYmVy' },
    ]) {
      const r = await g.gql('query($id: ID!, $first: Int, $after: String) { job(id: $id) { tests(first: $first, after: $after) { edges { cursor } } } }', {
        id: step.jobId,
        ...bad,
      });
      assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(bad));
    }

    const broken = channel.storeTestResults(
      agentId,
      { ...step, stepIndex: 1 },
      { reports: 1, tests: [many[0]!, { ...many[1]!, result: 'exploded' as never }], problems: [] },
    );
    await refusedWith('BAD_USER_INPUT', broken);
    // failed, so the jobs after it do not queue for the tests that follow
    await finish(step, 'failed');
  });

  test('two builds saving one key at once: exactly one saves it, the other leaves nothing behind', async () => {
    const one = await trigger(g, slug);
    const two = await trigger(g, slug);
    const steps = [await claim(one.workflows[0]!.jobs.find((j) => j.name === 'a')!.id), await claim(two.workflows[0]!.jobs.find((j) => j.name === 'a')!.id)];
    const answers = await Promise.all(steps.map((s, i) => channel.saveCache(agentId, s, 'race', Readable.from([gzipSync(`racer ${i}`)]))));
    assert.equal(answers.map((a) => a.saved).sort(), [false, true]);
    const id = cacheId(projectId, 'project', 'race');
    const kept = await keysUnder(objectKeys.cachePrefix(projectId, id));
    assert.is(kept.length, 1);
    const winner = answers.findIndex((a) => a.saved);
    assert.equal(await bytesOf(await channel.readCache(agentId, steps[0]!, id)), gzipSync(`racer ${winner}`));
    for (const s of steps) await finish(s, 'failed');
  });

  test('attach_workspace gets the layers of every upstream job in order; after a rerun from failed, those of the jobs kept', async () => {
    const p = await trigger(g, slug);
    const w = p.workflows[0]!.id;
    const idOf = async (wf: string, name: string) => (await workflow(g, wf)).jobs.find((j) => j.name === name)!.id;
    const a = await claim(await idOf(w, 'a'));
    assert.equal(await channel.workspaceLayers(agentId, a), []);
    assert.equal(
      await channel.persistWorkspace(
        agentId,
        a,
        await tar([
          { name: 'build/app.js', body: 'v1' },
          { name: 'build', type: 'directory' },
          { name: 'notes.txt', body: 'from a' },
        ]),
      ),
      {
        files: 2,
        bytes: (
          await tarBuffer([
            { name: 'build/app.js', body: 'v1' },
            { name: 'build', type: 'directory' },
            { name: 'notes.txt', body: 'from a' },
          ])
        ).length,
      },
    );
    await refusedWith('BAD_USER_INPUT', channel.persistWorkspace(agentId, { ...a, stepIndex: 1 }, await tar([{ name: '../outside', body: 'x' }])));
    await finish(a, 'success');
    const b = await claim(
      await until('b to be queued', async () => ((await workflow(g, w)).jobs.find((j) => j.name === 'b')!.status === 'queued' ? idOf(w, 'b') : undefined)),
    );
    const fromA = await channel.workspaceLayers(agentId, b);
    assert.equal(
      fromA.map((l) => l.job),
      ['a'],
    );
    await channel.persistWorkspace(agentId, b, await tar([{ name: 'build/app.js', body: 'v2' }]));
    await finish(b, 'success');
    const c = await claim(
      await until('c to be queued', async () => ((await workflow(g, w)).jobs.find((j) => j.name === 'c')!.status === 'queued' ? idOf(w, 'c') : undefined)),
    );
    const layers = await channel.workspaceLayers(agentId, c);
    assert.equal(
      layers.map((l) => l.job),
      ['a', 'b'],
    );
    const contents = await Promise.all(layers.map(async (l) => bytesOf(await channel.readWorkspaceLayer(agentId, c, l.layerId))));
    assert.equal(contents[0], await bytesOf((await objects.get(objectKeys.layer(a.jobId, 0, 1)))!.body));
    assert.match(contents[1]!.toString(), 'v2');
    // a layer of a job that is not upstream is not this job's to read
    await refusedWith('LAYER_NOT_FOUND', channel.readWorkspaceLayer(agentId, c, '00000000-0000-4000-8000-000000000000'));
    await finish(c, 'failed');
    assert.is((await finished(g, w)).status, 'failed');

    const rerun = (await ok(g, 'mutation($w: ID!) { rerunWorkflow(workflowId: $w, fromFailed: true) { id } }', { w })).rerunWorkflow.id as string;
    const c2 = await claim(
      await until('c to be queued again', async () =>
        (await workflow(g, rerun)).jobs.find((j) => j.name === 'c')!.status === 'queued' ? idOf(rerun, 'c') : undefined,
      ),
    );
    assert.is.not(c2.jobId, c.jobId);
    const kept = await channel.workspaceLayers(agentId, c2);
    assert.equal(kept, layers, 'the layers of a and b as they ran before the rerun');
    assert.equal(await bytesOf(await channel.readWorkspaceLayer(agentId, c2, kept[1]!.layerId)), contents[1]);
    await finish(c2, 'success');
    assert.is((await finished(g, rerun)).status, 'success');
  });

  return test;
};

fileSteps('in a directory', filesystemStore).run();
fileSteps('in S3 (s3rver)', s3rverStore).run();
