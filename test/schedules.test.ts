import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createGyre, type Gyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { testDatabase } from './support/database.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';

/**
 * Scheduled pipelines and legacy scheduled workflows, end to end: the API v2 over real HTTP, a real
 * git repository, the schedules worker ticking by an injected clock that the test moves, and a second
 * server on the same database ticking with the same clock. Each test has its own project and
 * schedule, so each passes alone and in any order.
 */
const test = suite('schedules: API v2 schedules, the schedules worker, legacy scheduled workflows');
let g: TestGyre;
let second: Gyre;
let secondDir = '';
let base: string;
/** The config with a legacy scheduled workflow (nightly, on release). */
let repo: ReturnType<typeof gitRepo>;
/** The same config without the legacy scheduled workflow. */
let appRepo: ReturnType<typeof gitRepo>;
let dev: { id: string; token: string };
let outsider: { id: string; token: string };
/** The schedules' clock: every server of the test reads it. */
let clock = Date.now();
const now = () => clock;
const minute = 60_000;
/** Both servers' warnings and errors, as JSON lines. */
const logs: Array<Record<string, any>> = [];
const logStream = {
  write: (line: string) =>
    void logs.push(
      ...line
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, any>),
    ),
};

const config = `
version: 2.1
parameters:
  greeting: {type: string, default: hello}
jobs:
  build:
    docker: [{image: cimg/base:current}]
    steps: [{run: "echo << pipeline.parameters.greeting >> << pipeline.trigger_source >> << pipeline.schedule.name >>"}]
  audit:
    docker: [{image: cimg/base:current}]
    steps: [{run: echo audit}]
workflows:
  main:
    jobs: [build]
  nightly:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [release]}}
    jobs: [audit]
`;
const appConfig = config.slice(0, config.indexOf('  nightly:'));

const api = async (method: string, path: string, token = dev.token, body?: unknown) => {
  const res = await fetch(`${base}/api/v2/${path}`, {
    method,
    headers: { 'circle-token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};
const pipelines = async (slug: string) => (await api('GET', `project/${slug}/pipeline`, g.adminToken)).body.items as Array<Record<string, any>>;
/** Waits, with a deadline, until `slug` has `count` pipelines; then the worker and reactors have settled. */
const waitForPipelines = async (slug: string, count: number, ms = 10_000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    await g.services.settled();
    const items = await pipelines(slug);
    if (items.length >= count || Date.now() > deadline) return items;
    await new Promise((r) => setTimeout(r, 25));
  }
};
/** Both servers' workers tick once more by the clock as it is, and everything they started is in the read models. */
const settle = async () => {
  await Promise.all([g.schedules.tick(), second.schedules.tick()]);
  await g.services.settled();
};
const triggersOf = (scheduleId: string, count = 1) => waitForAudit(g, (r) => r.action === 'schedule.trigger' && r.target.id === scheduleId, count);
const everyMinute = {
  'per-hour': 60,
  'hours-of-day': Array.from({ length: 24 }, (_, h) => h),
  'days-of-week': ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'],
};
const definition = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  'attribution-actor': 'system',
  parameters: { branch: 'main', greeting: 'hi' },
  timetable: everyMinute,
  ...extra,
});

let projects = 0;
/** A project of its own for one test (on `dir`, the app's repository unless given). */
const newProject = async (dir = appRepo.dir) => {
  const slug = `gh/acme/app${++projects}`;
  assert.is((await g.gql(`mutation { createProject(input: {slug: "${slug}", gitUrl: "${dir}"}) { id } }`)).body.errors, undefined);
  return slug;
};
/** A schedule of its own, every minute from now on the clock. */
const newSchedule = async (slug: string, extra: Record<string, unknown> = {}) => {
  const r = await api('POST', `project/${slug}/schedule`, dev.token, definition(`every minute on ${slug}`, extra));
  assert.is(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
};

test.before(async () => {
  g = await startTestGyre({ GYRE_SCHEDULE_TICK_MS: '50', GYRE_LOG_LEVEL: 'warn' }, { now, logStream });
  secondDir = mkdtempSync(join(tmpdir(), 'gyre-second-'));
  second = await createGyre(loadConfig({ GYRE_DATA_DIR: secondDir, GYRE_LOG_LEVEL: 'warn', GYRE_LOCAL_AGENT: 'false', GYRE_SCHEDULE_TICK_MS: '50' }), {
    db: testDatabase(),
    logStream,
    now,
  });
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  repo = gitRepo();
  repo.commit(config, 'Add CI');
  repo.git('branch', 'release');
  appRepo = gitRepo();
  appRepo.commit(appConfig, 'Add CI');
  dev = await g.createUser('dev', { orgs: ['acme'] });
  outsider = await g.createUser('mallory', { orgs: ['other'] });
});
test.after(async () => {
  await second.close();
  rmSync(secondDir, { recursive: true, force: true });
  await g.stop();
  repo.remove();
  appRepo.remove();
});

test('legacy scheduled workflows: the default branch’s config declares them; at the cron time the scheduled workflow runs on the filtered branch only', async () => {
  const slug = await newProject(repo.dir);
  // a pipeline on the default branch is what tells Gyre its config
  const first = await api('POST', `project/${slug}/pipeline`, dev.token, { branch: 'main' });
  assert.is(first.status, 201);
  await waitForPipelines(slug, 1);
  assert.equal(
    ((await api('GET', `pipeline/${first.body.id}/workflow`)).body.items as Array<{ name: string }>).map((w) => w.name),
    ['main'],
  );
  // the worker sees the declaration at its clock's time: cron times count from there, whatever the database's time
  await settle();
  const armed = await waitForAudit(g, (r) => r.action === 'schedule.workflow.arm' && r.target.name === slug);
  assert.is(armed.length, 1);
  assert.is(armed[0]!.payload.from, new Date(clock).toISOString());
  // to the next 03:00 UTC, and a day past it: one run, of the latest 03:00
  const next3 = new Date(clock);
  next3.setUTCHours(3, 0, 0, 0);
  if (next3.getTime() <= clock) next3.setUTCDate(next3.getUTCDate() + 1);
  clock = next3.getTime() + 24 * 60 * minute + 5 * minute;
  const items = await waitForPipelines(slug, 2);
  await settle();
  const all = await pipelines(slug);
  assert.is(all.length, 2);
  const p = all[0]!;
  assert.is(p.vcs.branch, 'release');
  assert.is(p.trigger.type, 'scheduled_pipeline');
  assert.is(items[0]!.id, p.id);
  const workflows = (await api('GET', `pipeline/${p.id}/workflow`)).body.items as Array<{ name: string; id: string }>;
  assert.equal(
    workflows.map((w) => w.name),
    ['nightly'],
  );
  const jobs = (await api('GET', `workflow/${workflows[0]!.id}/job`)).body.items as Array<{ name: string }>;
  assert.equal(
    jobs.map((j) => j.name),
    ['audit'],
  );
  const fired = await waitForAudit(g, (r) => r.action === 'schedule.workflow.trigger' && r.target.name === slug);
  assert.is(fired.length, 1);
  assert.is(fired[0]!.payload.slot, new Date(next3.getTime() + 24 * 60 * minute).toISOString());
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.workflow.arm' && r.target.name === slug)).length, 1, 'seen once');
});

test('POST → 201 with CircleCI’s fields; GET, list with next_page_token, PATCH; each change audited as schedule.create/update', async () => {
  const slug = await newProject();
  const created = await api('POST', `project/${slug}/schedule`, dev.token, {
    name: 'hourly',
    description: 'every hour at :00',
    'attribution-actor': 'current',
    parameters: { branch: 'main', greeting: 'hi' },
    timetable: { 'per-hour': 1, 'hours-of-day': [1, 2], 'days-of-week': ['MON'] },
  });
  assert.is(created.status, 201, JSON.stringify(created.body));
  const s = created.body;
  assert.equal(Object.keys(s).sort(), [
    'actor',
    'attribution-actor',
    'created-at',
    'description',
    'id',
    'name',
    'parameters',
    'project-slug',
    'timetable',
    'updated-at',
  ]);
  assert.equal(
    { name: s.name, description: s.description, slug: s['project-slug'], actor: s.actor.login, parameters: s.parameters, timetable: s.timetable },
    {
      name: 'hourly',
      description: 'every hour at :00',
      slug,
      actor: 'dev',
      parameters: { branch: 'main', greeting: 'hi' },
      timetable: { 'per-hour': 1, 'hours-of-day': [1, 2], 'days-of-week': ['MON'] },
    },
  );
  assert.equal(s.actor, { id: dev.id, login: 'dev', name: 'dev' });
  assert.equal((await api('GET', `schedule/${s.id}`)).body, s);
  const list = await api('GET', `project/${encodeURIComponent(slug)}/schedule`);
  assert.equal(list.body, { items: [s], next_page_token: null });
  const patched = await api('PATCH', `schedule/${s.id}`, dev.token, { name: 'every minute', timetable: everyMinute, 'attribution-actor': 'system' });
  assert.is(patched.status, 200, JSON.stringify(patched.body));
  assert.is(patched.body.name, 'every minute');
  assert.is(patched.body.description, 'every hour at :00');
  assert.equal(patched.body.timetable, everyMinute);
  assert.is(patched.body['attribution-actor'], 'system');
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.create' && r.success && r.target.id === s.id)).length, 1);
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.update' && r.success && r.target.id === s.id)).length, 1);
  assert.is((await pipelines(slug)).length, 0, 'creating a schedule runs nothing yet');
  assert.is((await api('DELETE', `schedule/${s.id}`)).status, 200);
});

test('bad schedules are refused 400 with a message naming the field, audited, and change nothing; others’ organizations get 403', async () => {
  const slug = await newProject();
  const scheduleId = await newSchedule(slug);
  const refusedBefore = (await waitForAudit(g, (r) => r.action === 'schedule.create' && r.success === false, 0)).length;
  const updatesRefusedBefore = (await waitForAudit(g, (r) => r.action === 'schedule.update' && r.success === false, 0)).length;
  const deletesRefusedBefore = (await waitForAudit(g, (r) => r.action === 'schedule.delete' && r.success === false, 0)).length;
  const good = {
    name: 'x',
    'attribution-actor': 'current',
    parameters: { branch: 'main' },
    timetable: { 'per-hour': 1, 'hours-of-day': [1], 'days-of-week': ['MON'] },
  };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...good, timetable: { ...good.timetable, 'per-hour': 0 } }, /timetable\.per-hour: must be from 1 to 60/],
    [{ ...good, timetable: { ...good.timetable, 'hours-of-day': [25] } }, /timetable\.hours-of-day\.0: hours are 0 to 23/],
    [{ ...good, timetable: { ...good.timetable, 'days-of-week': ['FUNDAY'] } }, /timetable\.days-of-week\.0/],
    [{ ...good, parameters: { greeting: 'hi' } }, /parameters: must hold a branch or a tag/],
    [{ ...good, 'attribution-actor': 'me' }, /attribution-actor/],
    [{ ...good, name: '' }, /name: must not be empty/],
  ];
  for (const [body, message] of cases) {
    const r = await api('POST', `project/${slug}/schedule`, dev.token, body);
    assert.is(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, message);
  }
  const patch = await api('PATCH', `schedule/${scheduleId}`, dev.token, { timetable: { 'per-hour': 100, 'hours-of-day': [1], 'days-of-week': ['MON'] } });
  assert.is(patch.status, 400);
  const refused = await waitForAudit(g, (r) => r.action === 'schedule.create' && r.success === false, refusedBefore + cases.length);
  assert.is(refused.length, refusedBefore + cases.length);
  assert.match(JSON.stringify(refused[refusedBefore]!.payload), /per-hour/);
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.update' && r.success === false, updatesRefusedBefore + 1)).length, updatesRefusedBefore + 1);
  assert.equal(
    (await api('GET', `project/${slug}/schedule`)).body.items.map((x: { id: string }) => x.id),
    [scheduleId],
  );
  assert.equal((await api('GET', `schedule/${scheduleId}`)).body.timetable, everyMinute);
  const foreign = await api('POST', `project/${slug}/schedule`, outsider.token, good);
  assert.is(foreign.status, 403);
  assert.is((await api('GET', `schedule/${scheduleId}`, outsider.token)).status, 404);
  assert.is((await api('GET', `project/${slug}/schedule`, outsider.token)).status, 403);
  assert.is((await api('DELETE', `schedule/${scheduleId}`, outsider.token)).status, 403);
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.delete' && r.success === false, deletesRefusedBefore + 1)).length, deletesRefusedBefore + 1);
  assert.is((await api('GET', 'schedule/not-a-uuid')).status, 400);
  assert.is((await api('GET', 'schedule/00000000-0000-4000-8000-000000000000')).status, 404);
  assert.is((await api('DELETE', `schedule/${scheduleId}`)).status, 200);
});

test('the clock passing a slot starts one pipeline, scheduled_pipeline (API v2 and GraphQL), with the schedule’s parameters, however many servers tick', async () => {
  const slug = await newProject();
  const scheduleId = await newSchedule(slug, { name: 'every minute' });
  clock += minute + 1000;
  const items = await waitForPipelines(slug, 1);
  assert.is(items.length, 1);
  await triggersOf(scheduleId);
  await settle();
  await Promise.all([g.schedules.tick(), second.schedules.tick(), g.schedules.tick()]);
  const after = await pipelines(slug);
  assert.is(after.length, 1, 'the slot fired already: no server fires it again');
  const p = after[0]!;
  assert.is(p.trigger.type, 'scheduled_pipeline');
  assert.is(p.trigger.actor.login, 'gyre-scheduler[bot]', 'system attribution');
  assert.is(p.vcs.branch, 'main');
  assert.equal(p.trigger_parameters, { greeting: 'hi' });
  const gql = await g.gql('query($id: ID!) { pipeline(id: $id) { trigger { type } } }', { id: p.id });
  assert.is(gql.body.data?.pipeline.trigger.type, 'scheduled_pipeline', JSON.stringify(gql.body));
  const compiled = (await api('GET', `pipeline/${p.id}/config`)).body.compiled as string;
  assert.match(compiled, /echo hi scheduled_pipeline every minute/);
  const workflows = (await api('GET', `pipeline/${p.id}/workflow`)).body.items as Array<{ name: string }>;
  assert.equal(
    workflows.map((w) => w.name),
    ['main'],
  );
  assert.is((await triggersOf(scheduleId)).length, 1);
  assert.is((await api('DELETE', `schedule/${scheduleId}`)).status, 200);
});

test('two servers deciding the same slot at once start one pipeline', async () => {
  const slug = await newProject();
  const scheduleId = await newSchedule(slug);
  clock += minute;
  // six looks at once on two servers (their timers tick too): the slot is decided once between them all
  await Promise.all([g, second, g, second, g, second].map((x) => x.schedules.tick()));
  const items = await waitForPipelines(slug, 1);
  assert.is(items.length, 1);
  await settle();
  assert.is((await pipelines(slug)).length, 1);
  assert.is((await triggersOf(scheduleId)).length, 1);
  // the next slot is another run
  clock += minute;
  assert.is((await waitForPipelines(slug, 2)).length, 2);
  const triggers = await triggersOf(scheduleId, 2);
  assert.is(triggers.length, 2);
  assert.is.not(triggers[0]!.payload.slot, triggers[1]!.payload.slot);
  assert.is((await api('DELETE', `schedule/${scheduleId}`)).status, 200);
});

test('after a long downtime (many slots missed) a schedule runs once, for the latest slot; current attribution runs as its updater', async () => {
  const slug = await newProject();
  const scheduleId = await newSchedule(slug, { 'attribution-actor': 'current' });
  clock += 5 * 60 * minute;
  const items = await waitForPipelines(slug, 1);
  await settle();
  assert.is((await pipelines(slug)).length, 1);
  assert.is(items[0]!.trigger.actor.login, 'dev');
  const triggers = await triggersOf(scheduleId);
  assert.is(triggers.length, 1);
  // the slot run is the last minute before the clock
  assert.is(triggers[0]!.payload.slot, new Date(Math.floor(clock / minute) * minute).toISOString());
  assert.is((await api('DELETE', `schedule/${scheduleId}`)).status, 200);
});

test('DELETE → 200 {message}, audited; the schedule runs no more', async () => {
  const slug = await newProject();
  const scheduleId = await newSchedule(slug);
  const r = await api('DELETE', `schedule/${scheduleId}`);
  assert.is(r.status, 200);
  assert.type(r.body.message, 'string');
  assert.is((await waitForAudit(g, (x) => x.action === 'schedule.delete' && x.success && x.target.id === scheduleId)).length, 1);
  assert.is((await api('GET', `schedule/${scheduleId}`)).status, 404);
  clock += 10 * minute;
  await settle();
  assert.is((await triggersOf(scheduleId, 0)).length, 0);
  assert.is((await pipelines(slug)).length, 0);
});

test('an unfollowed project’s schedules start nothing', async () => {
  const slug = await newProject();
  const scheduleId = await newSchedule(slug);
  const r = await g.gql('mutation($s: String!) { unfollowProject(slug: $s) { followed } }', { s: slug });
  assert.equal(r.body.data?.unfollowProject, { followed: false }, JSON.stringify(r.body));
  clock += 10 * minute;
  await settle();
  await settle();
  assert.is((await triggersOf(scheduleId, 0)).length, 0, 'no run is decided');
  assert.is((await pipelines(slug)).length, 0);
});

test('a repository git cannot read at the slot (a host down) delays the run: its pipeline starts once the repository is back', async () => {
  const own = gitRepo();
  own.commit(appConfig, 'Add CI');
  const slug = await newProject(own.dir);
  const scheduleId = await newSchedule(slug);
  const away = `${own.dir}-away`;
  renameSync(own.dir, away);
  try {
    const failedBefore = logs.filter((l) => l.reactor === 'scheduled-run-starter').length;
    clock += minute;
    await settle();
    assert.is((await triggersOf(scheduleId)).length, 1, 'the run is decided');
    // a signal, not a sleep: a server's reactor tried, failed to read the repository, and will retry
    const deadline = Date.now() + 10_000;
    while (logs.filter((l) => l.reactor === 'scheduled-run-starter').length === failedBefore && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    assert.ok(logs.filter((l) => l.reactor === 'scheduled-run-starter').length > failedBefore, 'the reactor retries');
    assert.is((await pipelines(slug)).length, 0);
  } finally {
    renameSync(away, own.dir);
  }
  const items = await waitForPipelines(slug, 1, 20_000);
  assert.is(items.length, 1);
  assert.is(items[0]!.trigger.type, 'scheduled_pipeline');
  assert.is((await api('DELETE', `schedule/${scheduleId}`)).status, 200);
  own.remove();
});

test.run();
