import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cacheDecider, cacheId, cacheStream, cacheTarget } from '../domain/files/cache.ts';
import { objectKeys } from '../domain/files/keys.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { jobDecider, jobStream, jobTarget, type FileRecord } from '../domain/jobs/job.ts';
import { stepsOfJob, tasksOfJob } from '../projections/jobs.ts';
import { artifactsOfJob, cacheById, layersOfJobs, testResultsOfJob } from '../projections/files.ts';
import { createRetentionSweeper, startRetentionSweeper } from '../workers/retention.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger, until } from './support/jobs.ts';

/**
 * Retention on a whole Gyre: machine jobs run on the host and write real output; the periods are set
 * through GraphQL; sweeps measure against a clock days ahead and record each expiry once.
 */
const test = suite('retention: files expire after the periods in the system settings');
const slug = 'gh/acme/kept';
const day = 86_400_000;
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;
let signals: string;
let projectId: string;

test.before(async () => {
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
  signals = mkdtempSync(join(tmpdir(), 'gyre-retention-'));
  repo = gitRepo();
  repo.commit(`
version: 2.1
jobs:
  prints:
    machine: true
    steps: [{run: {name: prints, command: "echo kept for a while"}}]
  keeps-files:
    machine: true
    steps:
      - run:
          name: waits for its files to be recorded
          command: |
            for i in $(seq 1200); do test -f ${signals}/go && break; sleep 0.05; done
            test -f ${signals}/go && echo files kept
workflows:
  main: {jobs: [prints, keeps-files]}
`);
  projectId = (await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`)).createProject.id;
});
test.after(async () => {
  await g.stop();
  repo.remove();
  rmSync(signals, { recursive: true, force: true });
});

const sweeper = (offsetMs: number) =>
  createRetentionSweeper({ db: g.services.db, commands: g.services.commands, log: g.services.log, now: () => new Date(Date.now() + offsetMs) });
const caughtUp = async () => g.services.settled();
const expiries = async (jobId: string) =>
  (await g.services.store.readStream(jobStream(jobId))).filter((e) => e.type === 'job.files.expire').map((e) => (e.data as { kinds: string[] }).kinds);
const settings = `outputRetentionDays artifactRetentionDays testResultRetentionDays cacheRetentionDays workspaceRetentionDays`;

/** Starts the pipeline; its keeps-files job waits until its files are recorded. */
const run = async () => {
  rmSync(join(signals, 'go'), { force: true });
  const p = await trigger(g, slug);
  return { p, ids: Object.fromEntries(p.workflows[0]!.jobs.map((j) => [j.name, j.id])) };
};

/** Records files on the open step as the agent holding the task would, while the job runs. */
const recordFiles = async (jobId: string) => {
  const step = await until('the waiting step to run', async () =>
    (await stepsOfJob(g.services.db, jobId)).find((s) => s.stepIndex === 1 && s.status === 'running'),
  );
  const task = (await tasksOfJob(g.services.db, jobId))[0]!;
  const agent = { id: task.agentId!, type: 'agent', name: task.agentName ?? task.agentId! };
  const records: FileRecord[] = [
    { kind: 'artifacts', artifacts: [{ path: 'report.html', size: 12 }] },
    { kind: 'tests', objectKey: objectKeys.tests(jobId, 0, 1), counts: { passed: 3, failed: 0, skipped: 1 }, problems: [] },
    { kind: 'workspace', objectKey: objectKeys.layer(jobId, 0, 1), bytes: 1, files: 1 },
  ];
  for (const record of records) {
    await g.services.commands.execute({
      stream: jobStream(jobId),
      decider: jobDecider,
      command: { type: 'recordFiles', taskIndex: 0, agentId: task.agentId!, stepIndex: step.stepIndex, record },
      context: { actor: agent, request: null },
      target: (s) => jobTarget({ jobId, name: s?.spec.name ?? jobId }),
    });
  }
  writeFileSync(join(signals, 'go'), '');
};

const saveCache = async (key: string) => {
  const id = cacheId(projectId, 'project', key);
  const r = await g.services.commands.execute({
    stream: cacheStream(id),
    decider: cacheDecider,
    command: {
      type: 'save',
      save: {
        cacheId: id,
        projectId,
        scope: 'project',
        key,
        projectSlug: slug,
        objectKey: objectKeys.cache(projectId, id, randomUUID()),
        bytes: 10,
        jobId: randomUUID(),
        jobNumber: null,
        branch: 'main',
      },
    },
    context: { actor: systemActor, request: null },
    target: cacheTarget({ cacheId: id, key }),
  });
  await g.services.readYourWrites(r);
  return id;
};

test("the periods are CircleCI's by default; a change is audited; bad input changes nothing", async () => {
  assert.equal((await ok(g, `{ systemSettings { ${settings} } }`)).systemSettings, {
    outputRetentionDays: 30,
    artifactRetentionDays: 30,
    testResultRetentionDays: 30,
    cacheRetentionDays: 15,
    workspaceRetentionDays: 15,
  });

  const changed = await ok(
    g,
    `mutation { updateSystemSettings(input: {outputRetentionDays: 1, artifactRetentionDays: 1, testResultRetentionDays: 1, cacheRetentionDays: 1, workspaceRetentionDays: 2}) { ${settings} } }`,
  );
  assert.equal(changed.updateSystemSettings, {
    outputRetentionDays: 1,
    artifactRetentionDays: 1,
    testResultRetentionDays: 1,
    cacheRetentionDays: 1,
    workspaceRetentionDays: 2,
  });
  const [audited] = await waitForAudit(g, (r) => r.action === 'system.settings.update' && r.payload.changes?.workspaceRetentionDays);
  assert.equal(audited!.payload.changes, {
    outputRetentionDays: { from: 30, to: 1 },
    artifactRetentionDays: { from: 30, to: 1 },
    testResultRetentionDays: { from: 30, to: 1 },
    cacheRetentionDays: { from: 15, to: 1 },
    workspaceRetentionDays: { from: 15, to: 2 },
  });
  assert.is(audited!.actor.type, 'user');

  const before = (await g.services.store.readStream('system-settings')).length;
  for (const bad of ['artifactRetentionDays: 0', 'cacheRetentionDays: 3651', 'outputRetentionDays: -5, licenseSeats: 3', 'workspaceRetentionDays: null']) {
    const r = await g.gql(`mutation { updateSystemSettings(input: {${bad}}) { ${settings} } }`);
    assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', bad);
    assert.match(r.body.errors![0]!.message, bad.split(':')[0]!);
  }
  assert.is((await g.services.store.readStream('system-settings')).length, before, 'no refused change was recorded as a change');
  assert.equal((await ok(g, `{ systemSettings { ${settings} licenseSeats } }`)).systemSettings, { ...changed.updateSystemSettings, licenseSeats: null });
});

test('a sweep expires each kind once its period has passed, one event per job, and output then reads as expired', async () => {
  const { p, ids } = await run();
  await recordFiles(ids['keeps-files']!);
  const w = await finished(g, p.workflows[0]!.id);
  assert.equal([w.byName.prints!.status, w.byName['keeps-files']!.status], ['success', 'success']);
  await caughtUp();
  const printsJob = w.byName.prints!;
  const output = `/api/v1.1/project/${slug}/${printsJob.jobNumber}/output/101/0`;
  assert.match((await g.app.inject({ url: output, headers: { 'circle-token': g.adminToken } })).json()[0].message, 'kept for a while');

  assert.equal(await sweeper(0).sweep(), { jobs: 0, caches: 0 }, 'nothing has expired yet');

  // a day and a half on: output, artifacts and tests (1 day) are due
  assert.equal(await sweeper(1.5 * day).sweep(), { jobs: 2, caches: 0 });
  await caughtUp();
  assert.equal(await expiries(ids.prints!), [['output']]);
  assert.equal(await expiries(ids['keeps-files']!), [['output', 'artifacts', 'tests']]);
  assert.equal(await artifactsOfJob(g.services.db, ids['keeps-files']!, { limit: 10 }), []);
  assert.equal(await testResultsOfJob(g.services.db, ids['keeps-files']!), []);
  assert.equal(await sweeper(1.5 * day).sweep(), { jobs: 0, caches: 0 }, 'a second sweep finds nothing more');
  // two and a half days on: the workspace (2 days) too, and only the job that kept one has one to expire
  assert.equal(await sweeper(2.5 * day).sweep(), { jobs: 1, caches: 0 });
  await caughtUp();
  assert.equal(await expiries(ids['keeps-files']!), [['output', 'artifacts', 'tests'], ['workspace']]);
  assert.equal(await layersOfJobs(g.services.db, [ids['keeps-files']!]), []);

  const [audited] = await waitForAudit(g, (r) => r.action === 'job.files.expire' && r.target.id === ids.prints);
  assert.equal([audited!.actor.type, audited!.payload.kinds], ['system', ['output']]);

  // the output reads as expired everywhere, not as a step that printed nothing
  const v1 = await g.app.inject({ url: output, headers: { 'circle-token': g.adminToken } });
  assert.equal([v1.statusCode, v1.json().code], [404, 'OUTPUT_EXPIRED']);
  assert.match(v1.json().message, 'outputRetentionDays');
  const raw = await g.app.inject({ url: `/api/private/output/raw/${slug}/${printsJob.jobNumber}/output/0/101`, headers: { 'circle-token': g.adminToken } });
  assert.is(raw.statusCode, 404);
  const gql = await g.gql('query($id: ID!) { job(id: $id) { name steps { name output } } }', { id: ids.prints });
  assert.is(gql.body.data!.job.name, 'prints', 'the job itself still reads');
  assert.ok(gql.body.data!.job.steps.every((s: { output: string | null }) => s.output === null));
  assert.ok(gql.body.errors!.length > 0 && gql.body.errors!.every((e) => e.extensions?.code === 'OUTPUT_EXPIRED'));
});

test('two servers sweeping at once record each expiry once, caches too', async () => {
  const { p, ids } = await run();
  await recordFiles(ids['keeps-files']!);
  await finished(g, p.workflows[0]!.id);
  const caches = [await saveCache(`deps-${randomUUID()}`), await saveCache(`deps-${randomUUID()}`)];
  await caughtUp();

  const results = await Promise.all([sweeper(3 * day).sweep(), sweeper(3 * day).sweep()]);
  assert.is(results[0]!.jobs + results[1]!.jobs, 2, JSON.stringify(results));
  assert.is(results[0]!.caches + results[1]!.caches, 2, JSON.stringify(results));
  await caughtUp();
  assert.equal(await expiries(ids.prints!), [['output']]);
  assert.equal(await expiries(ids['keeps-files']!), [['output', 'artifacts', 'tests', 'workspace']]);
  for (const id of caches) {
    const stream = await g.services.store.readStream(cacheStream(id));
    assert.equal(
      stream.map((e) => e.type),
      ['cache.save', 'cache.expire'],
    );
    assert.is(stream[1]!.metadata.actor.type, 'system');
    assert.is(await cacheById(g.services.db, id), undefined);
  }
});

test('bounded batches: a sweep stops after its batches, and pages on without repeating itself', async () => {
  const caches: string[] = [];
  for (let i = 0; i < 5; i++) caches.push(await saveCache(`page-${randomUUID()}`));
  const at = (batchSize: number, maxBatches: number) =>
    createRetentionSweeper({
      db: g.services.db,
      commands: g.services.commands,
      log: g.services.log,
      now: () => new Date(Date.now() + 3 * day),
      batchSize,
      maxBatches,
    });
  assert.equal(await at(2, 1).sweep(), { jobs: 0, caches: 2 }, 'one batch of two');
  await caughtUp();
  assert.equal(await at(1, 5).sweep(), { jobs: 0, caches: 3 }, 'the other three, a page at a time');
  await caughtUp();
  for (const id of caches) assert.is(await cacheById(g.services.db, id), undefined);
  for (const id of caches) assert.is((await g.services.store.readStream(cacheStream(id))).filter((e) => e.type === 'cache.expire').length, 1);
});

test('a sweep that stopped at its batch limit is followed at once by another, not an interval later', async () => {
  const caches: string[] = [];
  for (let i = 0; i < 3; i++) caches.push(await saveCache(`busy-${randomUUID()}`));
  const running = startRetentionSweeper({
    db: g.services.db,
    commands: g.services.commands,
    log: g.services.log,
    now: () => new Date(Date.now() + 3 * day),
    batchSize: 1,
    maxBatches: 1,
    intervalMs: 3_600_000,
    startDelayMs: 0,
  });
  try {
    await until(
      'every due cache to expire',
      async () => {
        for (const id of caches) if (!(await g.services.store.readStream(cacheStream(id))).some((e) => e.type === 'cache.expire')) return undefined;
        return true;
      },
      10_000,
    );
  } finally {
    await running.stop();
  }
});

test.run();
