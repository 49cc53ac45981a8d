import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { dockerForTests } from './support/docker.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { ensureTestImage } from './support/images.ts';
import { ok, trigger, until } from './support/jobs.ts';

/** The read side of jobs through a real server: job(id), jobOutput over a real WebSocket, queue reasons, /metrics, API v2 job details. */
const test = suite('job reads: job(id), jobOutput, queue reasons, /metrics, API v2 job details');
const slug = 'gh/acme/reads';
const metricsToken = 'metrics-token-0123456789abcdef';

const config = `
version: 2.1
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: {name: say, command: echo "stored line"}
  slow:
    docker: [{image: cimg/base:stable}]
    steps:
      - run:
          name: waits
          command: echo "before the signal"; while [ ! -f /tmp/go ]; do sleep 0.05; done; echo "after the signal"
  on-host:
    machine: true
    steps: [{run: echo on the host}]
workflows:
  main:
    jobs: [build, slow, on-host]
`;

let repo: ReturnType<typeof gitRepo>;
let g: TestGyre | undefined;
const clients: Client[] = [];
test.before(async () => {
  const docker = await dockerForTests();
  await ensureTestImage(docker, ['cimg/base:stable']);
  repo = gitRepo();
  repo.commit(config, 'first');
});
test.after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await g?.stop();
  repo.remove();
});

const setUp = async (env: Record<string, string>) => {
  const gyre = await startTestGyre(env);
  await ok(gyre, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
  const p = await trigger(gyre, slug);
  const jobs = Object.fromEntries(p.workflows[0]!.jobs.map((j) => [j.name, j]));
  return { gyre, jobs };
};

const jobQuery = `query($id: ID!) { job(id: $id) {
  id name status queuedAt queueReason parallelism contexts agent startedAt stoppedAt
  executor { type resourceClass }
  tasks { index status agent queuedAt startedAt stoppedAt reason }
  steps { index name taskIndex status exitCode startedAt stoppedAt background truncated output }
} }`;
const job = async (gyre: TestGyre, id: string) => (await ok(gyre, jobQuery, { id })).job;
const jobWhen = (gyre: TestGyre, id: string, what: string, check: (j: any) => boolean, ms = 60_000) =>
  until(
    what,
    async () => {
      const j = await job(gyre, id);
      return check(j) ? j : undefined;
    },
    ms,
  );

/** A strict reading of Prometheus's text format: every line a HELP, a TYPE or a sample; samples by name and labels. */
const parseMetrics = (text: string) => {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') types.set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    assert.ok(m, `not a Prometheus text line: ${line}`);
    samples.set(`${m![1]}${m![2] ?? ''}`.replace(/,\}$/, '}'), Number(m![3]));
  }
  return { samples, types };
};
const scrape = async (gyre: TestGyre, headers: Record<string, string> = {}) => {
  const r = await gyre.app.inject({ url: '/metrics', headers });
  assert.is(r.statusCode, 200, r.body);
  assert.match(String(r.headers['content-type']), 'text/plain; version=0.0.4');
  return parseMetrics(r.body);
};

test('without an agent a job says no agent serves its class; /metrics with GYRE_METRICS_TOKEN answers only that token', async () => {
  const { gyre, jobs } = await setUp({ GYRE_LOCAL_AGENT: 'false', GYRE_METRICS_TOKEN: metricsToken });
  try {
    // each job reaches its queue through the scheduler reactor, after the trigger answered
    const classes = await until('every job to be queued', async () => {
      const c = (await ok(gyre, '{ resourceClasses { resourceClass queued running agents freeCpus freeMemoryMb } }')).resourceClasses;
      return c.reduce((n: number, x: { queued: number }) => n + x.queued, 0) === 3 ? c : undefined;
    });
    const build = await job(gyre, jobs.build!.id);
    assert.is(build.status, 'queued');
    assert.match(build.queueReason, /^no agent serves resource class docker:medium: start one with gyre agent/);
    assert.equal(build.executor, { type: 'docker', resourceClass: 'medium' });
    assert.equal(
      build.tasks.map((t: any) => [t.index, t.status, t.agent]),
      [[0, 'queued', null]],
    );
    assert.equal(build.steps, []);
    assert.is(build.agent, null);
    assert.equal(classes, [
      { resourceClass: 'docker:medium', queued: 2, running: 0, agents: 0, freeCpus: 0, freeMemoryMb: 0 },
      { resourceClass: 'machine:medium', queued: 1, running: 0, agents: 0, freeCpus: 0, freeMemoryMb: 0 },
    ]);

    assert.is((await gyre.app.inject({ url: '/metrics' })).statusCode, 401);
    assert.is((await gyre.app.inject({ url: '/metrics', headers: { authorization: 'Bearer not-the-metrics-token' } })).statusCode, 401);
    assert.is(
      (await gyre.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${gyre.adminToken}` } })).statusCode,
      401,
      'an admin token is not the metrics token',
    );
    const { samples, types } = await scrape(gyre, { authorization: `Bearer ${metricsToken}` });
    assert.is(types.get('gyre_job_queue_wait_seconds'), 'histogram');
    assert.is(samples.get('gyre_jobs_queued{resource_class="docker:medium"}'), 2);
    assert.is(samples.get('gyre_jobs_queued{resource_class="machine:medium"}'), 1);
    assert.is(samples.get('gyre_agents{resource_class="docker:medium"}'), 0);
    assert.is(samples.get('gyre_job_queue_wait_seconds_count{resource_class="docker:medium"}'), undefined, 'nothing was claimed');
  } finally {
    await gyre.stop();
  }
});

test('with the local agent: a job runs and job(id) shows its steps, output, executor and agent; machine jobs off say so; jobOutput streams stored then live output, then the end; /metrics and API v2 agree', async () => {
  const started = await setUp({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'false' });
  g = started.gyre;
  const gyre = g;
  const { jobs } = started;

  const build = await jobWhen(gyre, jobs.build!.id, 'build to succeed', (j) => j.status === 'success');
  assert.equal(build.executor, { type: 'docker', resourceClass: 'medium' });
  assert.is(build.parallelism, 1);
  assert.equal(build.contexts, []);
  assert.is(build.agent, 'local');
  assert.is(build.queueReason, null);
  assert.ok(Date.parse(build.queuedAt) <= Date.parse(build.tasks[0].startedAt));
  assert.equal(
    build.tasks.map((t: any) => [t.index, t.status, t.agent]),
    [[0, 'success', 'local']],
  );
  assert.equal(
    build.steps.map((s: any) => [s.index, s.name, s.taskIndex, s.status]),
    [
      [0, 'Spin up environment', 0, 'success'],
      [1, 'say', 0, 'success'],
    ],
  );
  const say = build.steps[1];
  assert.is(say.exitCode, 0);
  assert.is(say.background, false);
  assert.is(say.truncated, false);
  assert.match(say.output, 'stored line');
  assert.ok(say.stoppedAt);

  // the machine job waits: the local agent declined machine jobs, and the reason says how to turn them on
  const onHost = await job(gyre, jobs['on-host']!.id);
  assert.is(onHost.status, 'queued');
  assert.equal(onHost.executor, { type: 'machine', resourceClass: 'medium' });
  assert.match(
    onHost.queueReason,
    /^no agent serves resource class machine:medium \(local: machine jobs are off on the local agent: set GYRE_LOCAL_MACHINE_JOBS=true/,
  );

  // a running job's output: subscribe once it has printed, then let it go on
  const slowId = jobs.slow!.id;
  await jobWhen(gyre, slowId, 'slow to print before the signal', (j) =>
    j.steps.some((s: any) => s.name === 'waits' && s.status === 'running' && s.output.includes('before the signal')),
  );
  const address = await gyre.app.listen({ port: 0, host: '127.0.0.1' });
  const client = createClient({
    url: `${address.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${gyre.adminToken}` },
    retryAttempts: 0,
  });
  clients.push(client);
  const got: any[] = [];
  const errors: unknown[] = [];
  let completed = false;
  client.subscribe(
    { query: `subscription { jobOutput(jobId: "${slowId}") { kind jobId taskIndex stepIndex text status } }` },
    {
      next: (m) => (m.errors ? errors.push(...m.errors) : got.push(m.data!.jobOutput)),
      error: (e) => void errors.push(e),
      complete: () => void (completed = true),
    },
  );
  await until('the stored output', async () => (got.some((m) => m.text?.includes('before the signal')) ? true : undefined), 10_000);
  const stored = got.length;
  assert.ok(!got.some((m) => m.text?.includes('after the signal')), 'the step went on before the signal');

  // the signal: a file in the job's container
  const docker = await dockerForTests();
  const [container] = await docker.listContainers({ filters: { label: [`gyre.task=${slowId}.0`, 'gyre.role=primary'] } });
  assert.ok(container, 'the slow job has a running container');
  const exec = await docker.getContainer(container!.Id).exec({ Cmd: ['touch', '/tmp/go'] });
  await exec.start({});

  await until('the end of the job', async () => (completed ? true : undefined), 30_000);
  assert.equal(errors, []);
  const live = got.slice(stored);
  assert.ok(
    live.some((m) => m.kind === 'output' && m.stepIndex === 1 && m.text.includes('after the signal')),
    `live chunks: ${JSON.stringify(live)}`,
  );
  assert.equal(got[got.length - 1], { kind: 'end', jobId: slowId, taskIndex: null, stepIndex: null, text: null, status: 'success' });
  const waits = got
    .filter((m) => m.kind === 'output' && m.stepIndex === 1)
    .map((m) => m.text)
    .join('');
  assert.is(waits, 'before the signal\nafter the signal\n', 'nothing missed or repeated');
  assert.is((await job(gyre, slowId)).steps.find((s: any) => s.name === 'waits').output, waits);

  // a finished job: its stored output, then the end at once
  const done: any[] = [];
  await new Promise<void>((resolve, reject) =>
    client.subscribe(
      { query: `subscription { jobOutput(jobId: "${jobs.build!.id}") { kind text status } }` },
      { next: (m) => void done.push(m.data?.jobOutput ?? m.errors), error: reject, complete: resolve },
    ),
  );
  assert.ok(done.some((m) => m.kind === 'output' && m.text.includes('stored line')));
  assert.equal(done[done.length - 1], { kind: 'end', text: null, status: 'success' });

  // the queues and the agents
  const classes = (await ok(gyre, '{ resourceClasses { resourceClass queued running agents freeCpus } }')).resourceClasses;
  const byClass = Object.fromEntries(classes.map((c: any) => [c.resourceClass, c]));
  assert.equal([byClass['docker:medium'].queued, byClass['docker:medium'].running, byClass['docker:medium'].agents], [0, 0, 1]);
  assert.equal([byClass['machine:medium'].queued, byClass['machine:medium'].agents], [1, 0]);
  const agents = (
    await ok(
      gyre,
      '{ agents { name online lastSeenAt resourceClasses maxTasks capacity { cpus memoryMb } free { cpus } declined { kind reason } running { jobId } version os } }',
    )
  ).agents;
  assert.is(agents.length, 1);
  assert.is(agents[0].name, 'local');
  assert.is(agents[0].online, true);
  assert.ok(agents[0].resourceClasses.includes('docker:medium'));
  assert.equal(agents[0].free.cpus, agents[0].capacity.cpus);
  assert.equal(
    agents[0].declined.map((d: any) => d.kind),
    ['machine'],
  );
  const user = await gyre.createUser('rita');
  const refused = await gyre.gql('{ agents { name } }', {}, { authorization: `Bearer ${user.token}` });
  assert.is(refused.status, 403);
  assert.is((await gyre.gql('{ resourceClasses { resourceClass } }', {}, { authorization: `Bearer ${user.token}` })).body.errors, undefined);

  // /metrics, open without GYRE_METRICS_TOKEN, matches the read models exactly
  const { samples } = await scrape(gyre);
  assert.is(samples.get('gyre_jobs_queued{resource_class="docker:medium"}'), 0);
  assert.is(samples.get('gyre_jobs_running{resource_class="docker:medium"}'), 0);
  assert.is(samples.get('gyre_jobs_queued{resource_class="machine:medium"}'), 1);
  assert.is(samples.get('gyre_agents{resource_class="docker:medium"}'), 1);
  assert.is(samples.get('gyre_agents{resource_class="machine:medium"}'), 0);
  const waitsOf = await Promise.all(
    [jobs.build!.id, slowId].map(async (id) => (await job(gyre, id)).tasks.map((t: any) => (Date.parse(t.startedAt) - Date.parse(t.queuedAt)) / 1000)),
  );
  const seconds = waitsOf.flat();
  const rc = 'resource_class="docker:medium"';
  assert.is(samples.get(`gyre_job_queue_wait_seconds_count{${rc}}`), 2);
  assert.is(samples.get(`gyre_job_queue_wait_seconds_bucket{${rc},le="+Inf"}`), 2);
  assert.ok(Math.abs(samples.get(`gyre_job_queue_wait_seconds_sum{${rc}}`)! - seconds.reduce((a, b) => a + b, 0)) < 0.01);
  for (const le of [0.1, 0.5, 1, 2, 5, 10, 60, 3600])
    assert.is(samples.get(`gyre_job_queue_wait_seconds_bucket{${rc},le="${le}"}`), seconds.filter((s) => s <= le).length, `bucket le=${le}`);
  const again = await scrape(gyre);
  assert.is(again.samples.get(`gyre_job_queue_wait_seconds_count{${rc}}`), 2, 'a second scrape counts no task twice');

  // API v2 job details
  const v2 = (await gyre.app.inject({ url: `/api/v2/project/${slug}/job/${jobs.build!.jobNumber}`, headers: { 'circle-token': gyre.adminToken } })).json();
  assert.equal(v2.executor, { type: 'docker', resource_class: 'medium' });
  assert.is(v2.parallelism, 1);
  assert.equal(v2.parallel_runs, [{ index: 0, status: 'success' }]);
  assert.equal(v2.contexts, []);
  assert.is(v2.queued_at, build.queuedAt);
  assert.is(v2.started_at, build.tasks[0].startedAt, 'started when the agent claimed it');
  assert.ok(Date.parse(v2.stopped_at) >= Date.parse(build.tasks[0].stoppedAt));
  assert.is(v2.duration, Date.parse(v2.stopped_at) - Date.parse(v2.started_at));
  assert.ok(v2.duration > 0);
  const queuedV2 = (
    await gyre.app.inject({ url: `/api/v2/project/${slug}/job/${jobs['on-host']!.jobNumber}`, headers: { 'circle-token': gyre.adminToken } })
  ).json();
  assert.equal(
    [queuedV2.status, queuedV2.executor, queuedV2.started_at, queuedV2.duration],
    ['queued', { type: 'machine', resource_class: 'medium' }, null, null],
  );
});

test.run();
