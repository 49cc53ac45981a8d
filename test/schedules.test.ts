import { mkdtempSync, rmSync } from 'node:fs';
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
 * server on the same database ticking with the same clock.
 */
const test = suite('schedules: API v2 schedules, the schedules worker, legacy scheduled workflows');
let g: TestGyre;
let second: Gyre;
let secondDir = '';
let base: string;
let repo: ReturnType<typeof gitRepo>;
/** gh/acme/app's: the same config without the legacy scheduled workflow (its declaration would be at a real time the test's clock has passed). */
let appRepo: ReturnType<typeof gitRepo>;
let dev: { id: string; token: string };
let outsider: { id: string; token: string };
/** The schedules' clock: every server of the test reads it. */
let clock = Date.now();
const now = () => clock;
const minute = 60_000;

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

const api = async (method: string, path: string, token = dev.token, body?: unknown) => {
  const res = await fetch(`${base}/api/v2/${path}`, { method, headers: { 'circle-token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};
const pipelines = async (slug: string) => (await api('GET', `project/${slug}/pipeline`, g.adminToken)).body.items as Array<Record<string, any>>;
/** Waits, with a deadline, until `slug` has `count` pipelines; then the worker and reactors have settled. */
const waitForPipelines = async (slug: string, count: number, ms = 10_000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    await g.services.readYourWrites(await g.services.store.head());
    const items = await pipelines(slug);
    if (items.length >= count || Date.now() > deadline) return items;
    await new Promise((r) => setTimeout(r, 25));
  }
};
/** Both servers' workers tick once more by the clock as it is, and everything they started is in the read models. */
const settle = async () => {
  const fired = (await Promise.all([g.schedules.tick(), second.schedules.tick()])).reduce((a, b) => a + b, 0);
  await g.services.readYourWrites(await g.services.store.head());
  return fired;
};
const everyMinute = { 'per-hour': 60, 'hours-of-day': Array.from({ length: 24 }, (_, h) => h), 'days-of-week': ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] };

test.before(async () => {
  g = await startTestGyre({ GYRE_SCHEDULE_TICK_MS: '50' }, { now });
  secondDir = mkdtempSync(join(tmpdir(), 'gyre-second-'));
  second = await createGyre(loadConfig({ GYRE_DATA_DIR: secondDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', GYRE_SCHEDULE_TICK_MS: '50' }), { db: testDatabase(), logger: false, now });
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  repo = gitRepo();
  repo.commit(config, 'Add CI');
  repo.git('branch', 'release');
  appRepo = gitRepo();
  appRepo.commit(config.slice(0, config.indexOf('  nightly:')), 'Add CI');
  dev = await g.createUser('dev', { orgs: ['acme'] });
  outsider = await g.createUser('mallory', { orgs: ['other'] });
  for (const [slug, dir] of [['gh/acme/app', appRepo.dir], ['gh/acme/legacy', repo.dir]]) assert.is((await g.gql(`mutation { createProject(input: {slug: "${slug}", gitUrl: "${dir}"}) { id } }`)).body.errors, undefined);
});
test.after(async () => {
  await second.close();
  rmSync(secondDir, { recursive: true, force: true });
  await g.stop();
  repo.remove();
  appRepo.remove();
});

// first, while the schedules' clock is the real one: the default branch's config is declared at a real time
test('legacy scheduled workflows: the default branch’s config declares them; at the cron time the scheduled workflow runs on the filtered branch only', async () => {
  // a pipeline on the default branch is what tells Gyre its config
  const first = await api('POST', 'project/gh/acme/legacy/pipeline', dev.token, { branch: 'main' });
  assert.is(first.status, 201);
  await waitForPipelines('gh/acme/legacy', 1);
  assert.equal(((await api('GET', `pipeline/${first.body.id}/workflow`)).body.items as Array<{ name: string }>).map((w) => w.name), ['main']);
  // to the next 03:00 UTC, and a day past it: one run, of the latest 03:00
  const next3 = new Date(clock);
  next3.setUTCHours(3, 0, 0, 0);
  if (next3.getTime() <= clock) next3.setUTCDate(next3.getUTCDate() + 1);
  clock = next3.getTime() + 24 * 60 * minute + 5 * minute;
  const items = await waitForPipelines('gh/acme/legacy', 2);
  await settle();
  const all = await pipelines('gh/acme/legacy');
  assert.is(all.length, 2);
  const p = all[0]!;
  assert.is(p.vcs.branch, 'release');
  assert.is(p.trigger.type, 'scheduled_pipeline');
  assert.is(items[0]!.id, p.id);
  const workflows = (await api('GET', `pipeline/${p.id}/workflow`)).body.items as Array<{ name: string; id: string }>;
  assert.equal(workflows.map((w) => w.name), ['nightly']);
  const jobs = (await api('GET', `workflow/${workflows[0]!.id}/job`)).body.items as Array<{ name: string }>;
  assert.equal(jobs.map((j) => j.name), ['audit']);
  const fired = await waitForAudit(g, (r) => r.action === 'schedule.workflow.trigger');
  assert.is(fired.length, 1);
  const slot = new Date(next3.getTime() + 24 * 60 * minute).toISOString();
  assert.is(fired[0]!.payload.slot, slot);
});

let scheduleId = '';

test('POST → 201 with CircleCI’s fields; GET, list with next_page_token, PATCH; each change audited as schedule.create/update', async () => {
  const created = await api('POST', 'project/gh/acme/app/schedule', dev.token, {
    name: 'hourly',
    description: 'every hour at :00',
    'attribution-actor': 'current',
    parameters: { branch: 'main', greeting: 'hi' },
    timetable: { 'per-hour': 1, 'hours-of-day': [1, 2], 'days-of-week': ['MON'] },
  });
  assert.is(created.status, 201, JSON.stringify(created.body));
  const s = created.body;
  assert.equal(Object.keys(s).sort(), ['actor', 'attribution-actor', 'created-at', 'description', 'id', 'name', 'parameters', 'project-slug', 'timetable', 'updated-at']);
  assert.equal({ name: s.name, description: s.description, slug: s['project-slug'], actor: s.actor.login, parameters: s.parameters, timetable: s.timetable }, {
    name: 'hourly', description: 'every hour at :00', slug: 'gh/acme/app', actor: 'dev', parameters: { branch: 'main', greeting: 'hi' }, timetable: { 'per-hour': 1, 'hours-of-day': [1, 2], 'days-of-week': ['MON'] },
  });
  assert.equal(s.actor, { id: dev.id, login: 'dev', name: 'dev' });
  assert.equal((await api('GET', `schedule/${s.id}`)).body, s);
  const list = await api('GET', 'project/gh%2Facme%2Fapp/schedule');
  assert.equal(list.body, { items: [s], next_page_token: null });
  const patched = await api('PATCH', `schedule/${s.id}`, dev.token, { name: 'every minute', timetable: everyMinute, 'attribution-actor': 'system' });
  assert.is(patched.status, 200, JSON.stringify(patched.body));
  assert.is(patched.body.name, 'every minute');
  assert.is(patched.body.description, 'every hour at :00');
  assert.equal(patched.body.timetable, everyMinute);
  assert.is(patched.body['attribution-actor'], 'system');
  scheduleId = s.id;
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.create' && r.success && r.target.id === s.id)).length, 1);
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.update' && r.success && r.target.id === s.id)).length, 1);
  assert.is((await pipelines('gh/acme/app')).length, 0, 'creating a schedule runs nothing yet');
});

test('bad schedules are refused 400 with a message naming the field, audited, and change nothing; others’ organizations get 403', async () => {
  const good = { name: 'x', 'attribution-actor': 'current', parameters: { branch: 'main' }, timetable: { 'per-hour': 1, 'hours-of-day': [1], 'days-of-week': ['MON'] } };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...good, timetable: { ...good.timetable, 'per-hour': 0 } }, /timetable\.per-hour: must be from 1 to 60/],
    [{ ...good, timetable: { ...good.timetable, 'hours-of-day': [25] } }, /timetable\.hours-of-day\.0: hours are 0 to 23/],
    [{ ...good, timetable: { ...good.timetable, 'days-of-week': ['FUNDAY'] } }, /timetable\.days-of-week\.0/],
    [{ ...good, parameters: { greeting: 'hi' } }, /parameters: must hold a branch or a tag/],
    [{ ...good, 'attribution-actor': 'me' }, /attribution-actor/],
    [{ ...good, name: '' }, /name: must not be empty/],
  ];
  for (const [body, message] of cases) {
    const r = await api('POST', 'project/gh/acme/app/schedule', dev.token, body);
    assert.is(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, message);
  }
  const patch = await api('PATCH', `schedule/${scheduleId}`, dev.token, { timetable: { 'per-hour': 100, 'hours-of-day': [1], 'days-of-week': ['MON'] } });
  assert.is(patch.status, 400);
  const refused = await waitForAudit(g, (r) => r.action === 'schedule.create' && r.success === false, cases.length);
  assert.is(refused.length, cases.length);
  assert.match(JSON.stringify(refused[0]!.payload), /per-hour/);
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.update' && r.success === false)).length, 1);
  assert.is((await api('GET', 'project/gh/acme/app/schedule')).body.items.length, 1);
  assert.equal((await api('GET', `schedule/${scheduleId}`)).body.timetable, everyMinute);
  const foreign = await api('POST', 'project/gh/acme/app/schedule', outsider.token, good);
  assert.is(foreign.status, 403);
  assert.is((await api('GET', `schedule/${scheduleId}`, outsider.token)).status, 404);
  assert.is((await api('GET', 'project/gh/acme/app/schedule', outsider.token)).status, 403);
  assert.is((await api('DELETE', `schedule/${scheduleId}`, outsider.token)).status, 403);
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.delete' && r.success === false)).length, 1);
  assert.is((await api('GET', 'schedule/not-a-uuid')).status, 400);
  assert.is((await api('GET', 'schedule/00000000-0000-4000-8000-000000000000')).status, 404);
});

test('the clock passing a slot starts one pipeline, scheduled_pipeline, with the schedule’s parameters, however many servers tick', async () => {
  clock += minute + 1000;
  const items = await waitForPipelines('gh/acme/app', 1);
  assert.is(items.length, 1);
  assert.is(await settle(), 0, 'the slot fired already: no server fires it again');
  await Promise.all([g.schedules.tick(), second.schedules.tick(), g.schedules.tick()]);
  const after = await pipelines('gh/acme/app');
  assert.is(after.length, 1);
  const p = after[0]!;
  assert.is(p.trigger.type, 'scheduled_pipeline');
  assert.is(p.trigger.actor.login, 'gyre-scheduler[bot]', 'system attribution');
  assert.is(p.vcs.branch, 'main');
  assert.equal(p.trigger_parameters, { greeting: 'hi' });
  const compiled = (await api('GET', `pipeline/${p.id}/config`)).body.compiled as string;
  assert.match(compiled, /echo hi scheduled_pipeline every minute/);
  const workflows = (await api('GET', `pipeline/${p.id}/workflow`)).body.items as Array<{ name: string }>;
  assert.equal(workflows.map((w) => w.name), ['main']);
  assert.is((await waitForAudit(g, (r) => r.action === 'schedule.trigger' && r.target.id === scheduleId)).length, 1);
});

test('two servers deciding the same slot at once start one pipeline', async () => {
  clock += minute;
  // six looks at once on two servers (their timers tick too): the slot is decided once between them all
  const fired = (await Promise.all([g, second, g, second, g, second].map((x) => x.schedules.tick()))).reduce((a, b) => a + b, 0);
  assert.ok(fired <= 1, `${fired} runs decided for one slot`);
  const items = await waitForPipelines('gh/acme/app', 2);
  assert.is(items.length, 2);
  assert.is(await settle(), 0);
  assert.is((await pipelines('gh/acme/app')).length, 2);
  const triggers = await waitForAudit(g, (r) => r.action === 'schedule.trigger' && r.target.id === scheduleId, 2);
  assert.is(triggers.length, 2);
  assert.is.not(triggers[0]!.payload.slot, triggers[1]!.payload.slot);
});

test('after a long downtime (many slots missed) a schedule runs once, for the latest slot; current attribution runs as its updater', async () => {
  assert.is((await api('PATCH', `schedule/${scheduleId}`, dev.token, { 'attribution-actor': 'current' })).status, 200);
  clock += 5 * 60 * minute;
  const items = await waitForPipelines('gh/acme/app', 3);
  await settle();
  assert.is((await pipelines('gh/acme/app')).length, 3);
  assert.is(items[0]!.trigger.actor.login, 'dev');
  const triggers = await waitForAudit(g, (r) => r.action === 'schedule.trigger' && r.target.id === scheduleId, 3);
  assert.is(triggers.length, 3);
  // the slot run is the last minute before the clock
  assert.is(triggers[2]!.payload.slot, new Date(Math.floor(clock / minute) * minute).toISOString());
});

test('DELETE → 200 {message}, audited; the schedule runs no more', async () => {
  const r = await api('DELETE', `schedule/${scheduleId}`);
  assert.is(r.status, 200);
  assert.type(r.body.message, 'string');
  assert.is((await waitForAudit(g, (x) => x.action === 'schedule.delete' && x.success && x.target.id === scheduleId)).length, 1);
  assert.is((await api('GET', `schedule/${scheduleId}`)).status, 404);
  clock += 10 * minute;
  assert.is(await settle(), 0);
  assert.is((await pipelines('gh/acme/app')).length, 3);
});

test.run();
