import { createHmac } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EventStore } from '../adapters/eventstore/port.ts';
import { nextPipelineNumber, triggerPipeline, type PipelineDeps } from '../application/pipelines.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import type { Member } from '../domain/organizations.ts';
import { pipelinesDecider, pipelinesStream, processForPipeline, type PipelineDetails } from '../domain/pipelines/pipeline.ts';
import type { PipelineRow } from '../projections/pipelines.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';

/** From a push to jobs: a real git repository, the real API, the engine moving jobs as results come. */
const test = suite('pipelines: trigger, workflows, approvals, results, reruns, webhooks');
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;
let dev: { id: string; token: string };
const asDev = () => ({ authorization: `Bearer ${dev.token}` });

const config = `
version: 2.1
parameters:
  deploy: {type: boolean, default: true}
executors:
  node: {docker: [{image: cimg/node:20.0}]}
jobs:
  build:
    executor: node
    steps: [checkout, {run: make build}]
  test:
    executor: node
    parameters: {shard: {type: integer, default: 1}}
    steps: [checkout, {run: "make test SHARD=<< parameters.shard >>"}]
  deploy:
    executor: node
    steps: [{run: make deploy}]
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
          matrix: {parameters: {shard: [1, 2]}}
      - hold:
          type: approval
          requires: [test]
      - deploy:
          requires: [hold]
          context: [release]
          filters: {branches: {only: main}}
  release:
    jobs:
      - deploy:
          name: publish
          filters: {branches: {ignore: /.*/}, tags: {only: /^v.*/}}
`;

const ok = async (query: string, variables: Record<string, unknown> = {}, headers?: Record<string, string>) => {
  const r = await g.gql(query, variables, headers);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data!;
};
const workflowQuery = 'query($id: ID!) { workflow(id: $id) { id name status jobs { id name type status jobNumber dependencies approvalRequestId } } }';
const jobs = async (id: string) =>
  Object.fromEntries(((await ok(workflowQuery, { id })).workflow.jobs as Array<{ name: string; status: string }>).map((j) => [j.name, j.status]));
const report = (workflowId: string, jobId: string, status: string) =>
  ok('mutation($w: ID!, $j: ID!, $s: String!) { reportJob(workflowId: $w, jobId: $j, status: $s) { status } }', { w: workflowId, j: jobId, s: status });
const jobId = async (workflowId: string, name: string) =>
  ((await ok(workflowQuery, { id: workflowId })).workflow.jobs as Array<{ name: string; id: string }>).find((j) => j.name === name)!.id;

test.before(async () => {
  g = await startTestGyre();
  repo = gitRepo();
  repo.commit(config, 'first');
  dev = await g.createUser('dev', { orgs: ['acme'], githubId: 42 });
  await ok(`mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "${repo.dir}"}) { id } }`);
  await ok('mutation { createContext(input: {owner: "gh/acme", name: "release"}) { id } }');
});
test.after(async () => {
  await g.stop();
  repo.remove();
});

let workflowId = '';

test('triggering reads the config at the branch head with git and starts the workflows the filters let through', async () => {
  const p = (
    await ok(
      'mutation { triggerPipeline(input: {projectSlug: "gh/acme/app"}) { id number state vcs { branch revision commit { subject } } workflows { id name status } } }',
      {},
      asDev(),
    )
  ).triggerPipeline;
  assert.is(p.number, 1);
  assert.is(p.state, 'created');
  assert.equal(p.vcs.branch, 'main');
  assert.is(p.vcs.revision, repo.git('rev-parse', 'HEAD'));
  assert.is(p.vcs.commit.subject, 'first');
  assert.equal(
    p.workflows.map((w: { name: string }) => w.name),
    ['main'],
  );
  workflowId = p.workflows[0].id;
  const byNumber = async (slug: string, number: number) =>
    g.gql('query($s: String!, $n: Int!) { pipelineByNumber(projectSlug: $s, number: $n) { id number } }', { s: slug, n: number }, asDev());
  assert.equal((await byNumber('gh/acme/APP', 1)).body.data!.pipelineByNumber, { id: p.id, number: 1 });
  assert.is((await byNumber('gh/acme/app', 99)).body.data!.pipelineByNumber, null);
  assert.is((await byNumber('gh/acme/app', 0)).body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  assert.is((await byNumber('gh/acme/nothing', 1)).body.errors?.[0]?.extensions?.code, 'NOT_FOUND');
  assert.equal(await jobs(workflowId), { build: 'queued', 'test-1': 'blocked', 'test-2': 'blocked', hold: 'blocked', deploy: 'blocked' });
  const w = (await ok(workflowQuery, { id: workflowId })).workflow;
  const byName = Object.fromEntries(w.jobs.map((j: { name: string }) => [j.name, j]));
  assert.equal(byName['test-1'].dependencies, [byName.build.id]);
  assert.is(byName.hold.type, 'approval');
  assert.is(byName.hold.jobNumber, null);
  assert.equal(
    w.jobs
      .filter((j: { jobNumber: number | null }) => j.jobNumber !== null)
      .map((j: { jobNumber: number }) => j.jobNumber)
      .sort(),
    [1, 2, 3, 4],
  );
  const audit = await waitForAudit(g, (e) => e.action === 'workflow.job.scheduled');
  assert.is(audit[0]!.payload.job, 'build');
});

test('results move the graph: a matrix, an approval held until approved, then the rest', async () => {
  await report(workflowId, await jobId(workflowId, 'build'), 'running');
  await report(workflowId, await jobId(workflowId, 'build'), 'success');
  assert.equal(await jobs(workflowId), { build: 'success', 'test-1': 'queued', 'test-2': 'queued', hold: 'blocked', deploy: 'blocked' });
  for (const t of ['test-1', 'test-2']) await report(workflowId, await jobId(workflowId, t), 'success');
  assert.is((await ok(workflowQuery, { id: workflowId })).workflow.status, 'on_hold');
  assert.equal((await jobs(workflowId)).hold, 'on_hold');
  const outsider = await g.createUser('outsider', { orgs: ['elsewhere'] });
  const refused = await g.gql(
    'mutation($w: ID!, $a: ID!) { approveJob(workflowId: $w, approvalRequestId: $a) { status } }',
    { w: workflowId, a: await jobId(workflowId, 'hold') },
    { authorization: `Bearer ${outsider.token}` },
  );
  assert.is(refused.body.errors?.[0]?.extensions?.code, 'NOT_ORG_MEMBER');
  await ok(
    'mutation($w: ID!, $a: ID!) { approveJob(workflowId: $w, approvalRequestId: $a) { status } }',
    { w: workflowId, a: await jobId(workflowId, 'hold') },
    asDev(),
  );
  assert.equal((await jobs(workflowId)).deploy, 'queued');
  await report(workflowId, await jobId(workflowId, 'deploy'), 'success');
  assert.is((await ok(workflowQuery, { id: workflowId })).workflow.status, 'success');
  const chain = await waitForAudit(g, (e) => e.action.startsWith('workflow.') && e.payload.workflowId === workflowId, 12);
  const actions = chain.map((e) => e.action);
  for (const a of [
    'workflow.start',
    'workflow.job.scheduled',
    'workflow.job.start',
    'workflow.job.finish',
    'workflow.job.hold',
    'workflow.job.approve',
    'workflow.finish',
  ])
    assert.ok(actions.includes(a), a);
});

test('a failure leaves dependents not_run; rerun from failed keeps what succeeded', async () => {
  const p = (await ok('mutation { triggerPipeline(input: {projectSlug: "gh/acme/app", branch: "main"}) { number workflows { id } } }', {}, asDev()))
    .triggerPipeline;
  assert.is(p.number, 2);
  const w = p.workflows[0].id;
  await report(w, await jobId(w, 'build'), 'success');
  await report(w, await jobId(w, 'test-1'), 'success');
  await report(w, await jobId(w, 'test-2'), 'failed');
  assert.equal(await jobs(w), { build: 'success', 'test-1': 'success', 'test-2': 'failed', hold: 'not_run', deploy: 'not_run' });
  assert.is((await ok(workflowQuery, { id: w })).workflow.status, 'failed');
  const again = (await ok('mutation($w: ID!) { rerunWorkflow(workflowId: $w, fromFailed: true) { id rerunOf } }', { w }, asDev())).rerunWorkflow;
  assert.is(again.rerunOf, w);
  assert.equal(await jobs(again.id), { build: 'success', 'test-1': 'success', 'test-2': 'queued', hold: 'blocked', deploy: 'blocked' });
});

test('cancel ends every job that has not ended', async () => {
  const p = (await ok('mutation { triggerPipeline(input: {projectSlug: "gh/acme/app"}) { workflows { id } } }', {}, asDev())).triggerPipeline;
  const w = p.workflows[0].id;
  const c = (await ok('mutation($w: ID!) { cancelWorkflow(workflowId: $w) { status } }', { w }, asDev())).cancelWorkflow;
  assert.is(c.status, 'canceled');
  assert.equal(new Set(Object.values(await jobs(w))), new Set(['canceled']));
});

test('a restricted context the actor may not use makes its job unauthorized', async () => {
  const ctx = (await ok('{ contexts(owner: "gh/acme") { edges { node { id } } } }')).contexts.edges[0].node.id;
  await ok(`mutation { addContextRestriction(contextId: "${ctx}", group: "release-team") { id } }`);
  const p = (await ok('mutation { triggerPipeline(input: {projectSlug: "gh/acme/app"}) { workflows { id } } }', {}, asDev())).triggerPipeline;
  const w = p.workflows[0].id;
  for (const name of ['build', 'test-1', 'test-2']) await report(w, await jobId(w, name), 'success');
  await ok('mutation($w: ID!, $a: ID!) { approveJob(workflowId: $w, approvalRequestId: $a) { status } }', { w, a: await jobId(w, 'hold') }, asDev());
  assert.is((await jobs(w)).deploy, 'unauthorized');
  assert.is((await ok(workflowQuery, { id: w })).workflow.status, 'unauthorized');
});

test('tags run only the jobs with a tags filter', async () => {
  repo.git('tag', 'v1.0.0');
  const p = (
    await ok(
      'mutation { triggerPipeline(input: {projectSlug: "gh/acme/app", tag: "v1.0.0"}) { vcs { tag } workflows { name jobs { name status } } } }',
      {},
      asDev(),
    )
  ).triggerPipeline;
  assert.is(p.vcs.tag, 'v1.0.0');
  assert.equal(
    p.workflows.map((w: { name: string; jobs: Array<{ name: string }> }) => [w.name, w.jobs.map((j) => j.name)]),
    [['release', ['publish']]],
  );
});

test('a config that does not process gives an errored pipeline with the errors, and no workflows', async () => {
  repo.commit('version: 2.1\nworkflows:\n  main:\n    jobs: [nowhere]\n', 'broken');
  const p = (await ok('mutation { triggerPipeline(input: {projectSlug: "gh/acme/app"}) { state errors { type message } workflows { id } } }', {}, asDev()))
    .triggerPipeline;
  assert.is(p.state, 'errored');
  assert.equal(p.workflows, []);
  assert.match(p.errors[0].message, /\.circleci\/config\.yml:4: workflows\.main\.jobs\[0\]: job nowhere is not defined/);
  repo.commit(config, 'fixed');
});

test('the GitHub push webhook: a bad signature is 401 and audited; a good one starts a pipeline at the pushed revision', async () => {
  const secret = 'whsec-for-tests-0123456789';
  await ok('mutation($s: String!) { updateProjectSettings(slug: "gh/acme/app", input: {webhookSecret: $s}) { slug } }', { s: secret });
  const sha = repo.commit(config, 'pushed');
  const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: 'acme/app' }, sender: { login: 'dev', id: 42 } });
  const sign = (key: string) => `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
  const send = (signature: string, payload = body, url = '/hooks/github/gh/acme/app') =>
    g.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signature, 'x-github-delivery': 'delivery-1' },
      payload,
    });
  const bad = await send(sign('wrong-secret-0000000000'));
  assert.is(bad.statusCode, 401);
  assert.match(bad.json().message, /X-Hub-Signature-256/);
  assert.is(bad.json().code, 'WEBHOOK_SIGNATURE_INVALID');
  const refused = await waitForAudit(
    g,
    (e) => e.action === 'pipeline.create' && e.success === false && e.payload.operation === 'POST /hooks/github/:vcs/:org/:repo',
  );
  // until the signature holds, the sender the delivery names is not believed
  assert.equal([refused[0]!.actor.type, refused[0]!.actor.name], ['github_webhook', 'GitHub']);
  const unknown = await send(sign(secret), body, '/hooks/github/gh/acme/unknown');
  assert.is(unknown.statusCode, 401, 'an unknown project answers as a bad signature does');
  // with no webhook Gyre registered named, and no project in the path, nothing says whose secret signs it: refused unread
  const unaddressed = await send(sign(secret), body, '/hooks/github');
  assert.is(unaddressed.statusCode, 400);
  assert.match(unaddressed.json().message, /X-GitHub-Hook-ID.*\/hooks\/github\/<vcs>\/<org>\/<repo>/);
  const unsignedGarbage = await send('sha256=00', '{"ref": ');
  assert.is(unsignedGarbage.statusCode, 401, 'a body is not read before its signature holds');
  const garbage = await send(`sha256=${createHmac('sha256', secret).update('{"ref": ').digest('hex')}`, '{"ref": ');
  assert.is(garbage.statusCode, 400);
  await waitForAudit(g, (e) => e.action === 'pipeline.create' && e.success === false && /not valid JSON/.test(e.payload.reason));
  const good = await send(sign(secret));
  assert.is(good.statusCode, 201, good.body);
  const p = (await ok('query($id: ID!) { pipeline(id: $id) { trigger { type actor { login } } vcs { revision branch } } }', { id: good.json().id })).pipeline;
  assert.equal(p, { trigger: { type: 'webhook', actor: { login: 'dev' } }, vcs: { revision: sha, branch: 'main' } });
  const replayed = await send(sign(secret));
  assert.is(replayed.statusCode, 200);
  assert.equal([replayed.json().id, replayed.json().message], [good.json().id, 'this delivery has already started a pipeline']);
});

test('under real concurrency: triggers take distinct numbers, and of racing approvals exactly one wins', async () => {
  const triggered = await Promise.all(
    Array.from({ length: 6 }, () => g.gql('mutation { triggerPipeline(input: {projectSlug: "gh/acme/app"}) { number workflows { id } } }', {}, asDev())),
  );
  for (const r of triggered) assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  const numbers = triggered.map((r) => r.body.data!.triggerPipeline.number as number).sort((a, b) => a - b);
  assert.is(new Set(numbers).size, 6, `numbers ${numbers}`);
  assert.is(numbers[5]! - numbers[0]!, 5);
  const w = triggered[0]!.body.data!.triggerPipeline.workflows.find((x: { id: string }) => x.id)!.id as string;
  for (const name of ['build', 'test-1', 'test-2']) await report(w, await jobId(w, name), 'success');
  const hold = await jobId(w, 'hold');
  const racing = await Promise.all(
    Array.from({ length: 5 }, () =>
      g.gql('mutation($w: ID!, $a: ID!) { approveJob(workflowId: $w, approvalRequestId: $a) { status } }', { w, a: hold }, asDev()),
    ),
  );
  const won = racing.filter((r) => !r.body.errors);
  assert.is(won.length, 1, JSON.stringify(racing.map((r) => r.body.errors?.[0]?.extensions?.code ?? 'ok')));
  assert.ok(racing.filter((r) => r.body.errors).every((r) => r.body.errors![0]!.extensions!.code === 'NOT_ON_HOLD'));
  const approvals = await waitForAudit(g, (e) => e.action === 'workflow.job.approve' && e.success && e.payload.workflowId === w);
  assert.is(approvals.length, 1);
});

test('a trigger whose number another took while it processed its config processes it again, for the next (<< pipeline.number >>)', async () => {
  const numbered = gitRepo();
  try {
    numbered.commit(
      'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [{run: echo pipeline << pipeline.number >>}]}\nworkflows:\n  main: {jobs: [build]}\n',
    );
    await ok(`mutation { createProject(input: {slug: "gh/acme/numbered", gitUrl: "${numbered.dir}"}) { id } }`);
    const context: CommandContext = { actor: { id: dev.id, type: 'user', name: 'dev' }, request: null };
    const member: Member = { login: 'dev', isAdmin: false, orgs: ['acme'], teams: [] };
    const trigger = (s: PipelineDeps) => triggerPipeline(s, context, member, { slug: 'gh/acme/numbered', type: 'api' });
    // between reading the next number and deciding, another trigger of the project takes that number
    const { store } = g.services;
    let other: Promise<PipelineRow> | undefined;
    const readLast = async (stream: string) => {
      const last = await store.readLast(stream);
      await (other ??= trigger(g.services));
      return last;
    };
    const racing: PipelineDeps = {
      db: g.services.db,
      commands: g.services.commands,
      readYourWrites: (w) => g.services.readYourWrites(w),
      git: g.services.git,
      vault: g.services.vault,
      configs: g.services.configs,
      store: Object.assign(Object.create(store) as EventStore, { readLast }),
    };
    const mine = await trigger(racing);
    const taken = await other!;
    assert.equal([taken.number, mine.number], [1, 2]);
    for (const p of [taken, mine]) {
      const res = await g.app.inject({ method: 'GET', url: `/api/v2/pipeline/${p.id}/config`, headers: asDev() });
      assert.is(res.statusCode, 200, res.body);
      assert.match(res.json().compiled, new RegExp(`command: echo pipeline ${p.number}\\n`), `pipeline ${p.number}`);
    }
  } finally {
    numbered.remove();
  }
});

test('workflows decided but never started (the process stopped before the reactor acted) start when the reactors run again, once', async () => {
  const project = (await ok('{ project(slug: "gh/acme/app") { id } }')).project.id as string;
  const sha = repo.git('rev-parse', 'HEAD');
  // the pipeline is decided and appended; the process dies before its workflows start
  await g.services.reactors.stop();
  const pipeline: PipelineDetails = {
    pipelineId: '11111111-1111-4111-8111-111111111111',
    projectId: project,
    projectSlug: 'gh/acme/app',
    trigger: { type: 'api', receivedAt: new Date().toISOString(), actor: { login: 'dev', avatarUrl: null }, deliveryId: null },
    vcs: { originRepositoryUrl: repo.dir, revision: sha, branch: 'main', tag: null, commit: null, pullRequest: null },
    parameters: {},
  };
  const number = await nextPipelineNumber(g.services, project);
  const r = await g.services.commands.execute({
    stream: pipelinesStream(project),
    decider: pipelinesDecider,
    lastEventOnly: true,
    command: { type: 'create', pipeline, number, config: processForPipeline(config, { ...pipeline, number }, {}, () => ({ error: 'no orbs' })) },
    context: { actor: { id: dev.id, type: 'user', name: 'dev' }, request: null },
    target: { id: 'p', type: 'pipeline' },
  });
  assert.ok(await g.services.projections.waitFor(r.position!, 5000));
  const before = (await ok('{ pipeline(id: "11111111-1111-4111-8111-111111111111") { workflows { id } } }')).pipeline.workflows;
  assert.equal(before, []);
  await g.services.reactors.start();
  await g.services.readYourWrites(r);
  const after = (await ok('{ pipeline(id: "11111111-1111-4111-8111-111111111111") { workflows { name jobs { name status } } } }')).pipeline.workflows;
  assert.equal(
    after.map((w: { name: string }) => w.name),
    ['main'],
  );
  assert.is(after[0].jobs.find((j: { name: string }) => j.name === 'build').status, 'queued');
  // the event delivered again (a crash between the reaction and the checkpoint) starts nothing more
  await g.services.reactors.stop();
  await g.services.db('reactor_checkpoints').where({ name: 'workflow-starter' }).update({ position: '' });
  await g.services.reactors.start();
  await g.services.settled();
  assert.is((await ok('{ pipeline(id: "11111111-1111-4111-8111-111111111111") { workflows { id } } }')).pipeline.workflows.length, 1);
});

test.run();
