import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { eventRegistry } from '../events/catalog.ts';
import { processConfig } from '../config/process.ts';
import { planWorkflows } from '../pipelines/planner.ts';
import { ScheduleParameters, scheduleDecider, scheduledActor, type ScheduleCommand, type ScheduleEvent } from './schedule.ts';
import { scheduledWorkflowsDecider, scheduledWorkflowsOf, type ScheduledWorkflowEvent } from './scheduled-workflows.ts';
import { Timetable, latestCronSlot, latestSlot, minutesOfHour, nextSlot } from './timetable.ts';

const test = suite('domain/schedules');

const at = (iso: string) => new Date(iso);
const table = (t: object) => Timetable.parse(t);
const everyDay = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];

test('per-hour N spreads N runs evenly over the hour, from :00', () => {
  assert.equal(minutesOfHour(1), [0]);
  assert.equal(minutesOfHour(2), [0, 30]);
  assert.equal(minutesOfHour(3), [0, 20, 40]);
  assert.equal(minutesOfHour(7), [0, 8, 17, 25, 34, 42, 51]);
  assert.is(minutesOfHour(60).length, 60);
});

test('the next slot, and the latest slot due: hours, days of the week, days of the month, months (UTC)', () => {
  const t = table({ 'per-hour': 2, 'hours-of-day': [9, 17], 'days-of-week': ['MON', 'WED'] });
  // 2026-11-30 is a Monday
  assert.equal(nextSlot(t, at('2026-11-30T08:10:00Z')), at('2026-11-30T09:00:00Z'));
  assert.equal(nextSlot(t, at('2026-11-30T09:00:00Z')), at('2026-11-30T09:30:00Z'));
  assert.equal(nextSlot(t, at('2026-11-30T17:30:00Z')), at('2026-12-02T09:00:00Z'));
  assert.equal(latestSlot(t, at('2026-11-30T00:00:00Z'), at('2026-11-30T09:29:59Z')), at('2026-11-30T09:00:00Z'));
  assert.is(latestSlot(t, at('2026-11-30T09:00:00Z'), at('2026-11-30T09:29:59Z')), null, 'a slot already run is not due again');
  // a week of downtime: only the latest missed slot is due
  assert.equal(latestSlot(t, at('2026-11-30T09:00:00Z'), at('2026-12-07T08:00:00Z')), at('2026-12-02T17:30:00Z'));
  const monthly = table({ 'per-hour': 1, 'hours-of-day': [3], 'days-of-month': [1], months: ['JAN', 'JUL'] });
  assert.equal(nextSlot(monthly, at('2026-11-30T00:00:00Z')), at('2027-01-01T03:00:00Z'));
  assert.equal(latestSlot(monthly, at('2026-01-01T00:00:00Z'), at('2026-11-30T00:00:00Z')), at('2026-07-01T03:00:00Z'));
  assert.is(nextSlot(table({ 'per-hour': 1, 'hours-of-day': [0], 'days-of-month': [31], months: ['FEB'] }), at('2026-01-01T00:00:00Z')), null);
});

test('bad timetables are refused with a message naming the field', () => {
  const bad = (t: unknown) => {
    const r = Timetable.safeParse(t);
    assert.not.ok(r.success);
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  assert.match(bad({ 'per-hour': 0, 'hours-of-day': [1], 'days-of-week': ['MON'] }), /per-hour: must be from 1 to 60/);
  assert.match(bad({ 'per-hour': 61, 'hours-of-day': [1], 'days-of-week': ['MON'] }), /per-hour/);
  assert.match(bad({ 'per-hour': 1, 'hours-of-day': [24], 'days-of-week': ['MON'] }), /hours are 0 to 23/);
  assert.match(bad({ 'per-hour': 1, 'hours-of-day': [], 'days-of-week': ['MON'] }), /at least one hour/);
  assert.match(bad({ 'per-hour': 1, 'hours-of-day': [1], 'days-of-week': ['MONDAY'] }), /days-of-week/);
  assert.match(bad({ 'per-hour': 1, 'hours-of-day': [1] }), /give days-of-week or days-of-month/);
  assert.match(bad({ 'per-hour': 1, 'hours-of-day': [1], 'days-of-week': [], 'days-of-month': [] }), /give days-of-week or days-of-month/);
  // empty lists, as API clients send them, mean any
  const anyMonth = table({ 'per-hour': 1, 'hours-of-day': [5], 'days-of-week': ['TUE'], 'days-of-month': [], months: [] });
  assert.equal(nextSlot(anyMonth, at('2026-11-30T00:00:00Z')), at('2026-12-01T05:00:00Z'));
  assert.match(bad({ 'per-hour': 1, 'hours-of-day': [1, 1], 'days-of-week': ['MON'] }), /twice/);
  assert.match(bad({ 'per-hour': 1, 'hours-of-day': [1], 'days-of-week': ['MON'], minutes: [5] }), /minutes/);
  assert.not.ok(ScheduleParameters.safeParse({ branch: 'main', tag: 'v1' }).success);
  assert.not.ok(ScheduleParameters.safeParse({ deploy: true }).success);
  assert.ok(ScheduleParameters.safeParse({ branch: 'main', deploy: true }).success);
});

const member = { login: 'dev', isAdmin: false, orgs: ['acme'], teams: [] };
const actor = { id: 'u1', login: 'dev', name: 'Dev' };
const definition = {
  name: 'nightly',
  description: '',
  attributionActor: 'current' as const,
  parameters: { branch: 'main' },
  timetable: table({ 'per-hour': 1, 'hours-of-day': [0], 'days-of-week': everyDay }),
};
const create: ScheduleCommand = {
  type: 'create',
  scheduleId: 's1',
  project: { id: 'p1', slug: 'gh/acme/app' },
  definition,
  by: member,
  actor,
  at: '2026-11-30T12:00:00.000Z',
};
const schedule = deciderSpec(scheduleDecider, { registry: eventRegistry });
const then = schedule.then;

test('a schedule: created by an organization member, fired once per slot after it was created, gone once deleted', () => {
  let h = then([], create);
  assert.is(h[0]!.type, 'schedule.create');
  schedule
    .given([])
    .when({ ...create, by: { ...member, orgs: ['other'] } })
    .thenThrows('NOT_ORG_MEMBER');
  assert.is(then(h, { type: 'fire', scheduleId: 's1', slot: '2026-11-30T00:00:00.000Z' }).length, 1, 'a slot before it was created never runs');
  h = then(h, { type: 'fire', scheduleId: 's1', slot: '2026-12-01T00:00:00.000Z' });
  assert.equal(h[1], {
    type: 'schedule.trigger',
    data: {
      scheduleId: 's1',
      projectId: 'p1',
      projectSlug: 'gh/acme/app',
      name: 'nightly',
      slot: '2026-12-01T00:00:00.000Z',
      attributionActor: 'current',
      actor: 'dev',
      parameters: { branch: 'main' },
    },
  });
  // a second server deciding the same slot (or an earlier one) after the first appended: nothing
  assert.is(then(h, { type: 'fire', scheduleId: 's1', slot: '2026-12-01T00:00:00.000Z' }).length, 2);
  h = then(h, {
    type: 'update',
    scheduleId: 's1',
    changes: { attributionActor: 'system' },
    by: member,
    actor: { ...actor, login: 'ops' },
    at: '2026-12-01T06:00:00.000Z',
  });
  h = then(h, { type: 'fire', scheduleId: 's1', slot: '2026-12-02T00:00:00.000Z' });
  assert.is((h[3] as Extract<ScheduleEvent, { type: 'schedule.trigger' }>).data.actor, scheduledActor);
  h = then(h, { type: 'delete', scheduleId: 's1', by: member });
  assert.is(then(h, { type: 'fire', scheduleId: 's1', slot: '2026-12-03T00:00:00.000Z' }).length, h.length, 'a deleted schedule never fires');
  schedule.given(h).when({ type: 'delete', scheduleId: 's1', by: member }).thenThrows('SCHEDULE_NOT_FOUND');
});

const legacy = `
version: 2.1
jobs:
  build: {docker: [{image: cimg/base:current}], steps: [checkout]}
  audit: {docker: [{image: cimg/base:current}], steps: [checkout]}
workflows:
  main:
    jobs: [build]
  nightly:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [main, release, /feature-.*/]}}
    jobs: [audit]
  broken:
    triggers:
      - schedule: {cron: "61 * * * *", filters: {branches: {only: main}}}
      - schedule: {cron: "0 * * * *"}
    jobs: [audit]
`;

test('legacy scheduled workflows: read from the config; their pipelines plan the scheduled workflow only; each cron time fires once', () => {
  const processed = processConfig(legacy, { resolveOrb: () => ({ error: 'no orbs here' }) });
  assert.ok(processed.valid);
  if (!processed.valid) return;
  const { schedules, problems } = scheduledWorkflowsOf(processed.config);
  assert.equal(schedules, [{ workflow: 'nightly', index: 0, cron: '0 3 * * *', branches: ['main', 'release'] }]);
  assert.is(problems.length, 2);
  assert.match(problems.join('\n'), /61 \* \* \* \*/);
  assert.match(problems.join('\n'), /needs filters: \{branches/);
  assert.equal(
    planWorkflows(processed.config, { branch: 'main' }).map((w) => w.name),
    ['main'],
  );
  assert.equal(
    planWorkflows(processed.config, { branch: 'main' }, ['nightly']).map((w) => w.name),
    ['nightly'],
  );
  assert.equal(latestCronSlot('0 3 * * *', at('2026-11-28T03:00:00Z'), at('2026-11-30T12:00:00Z')), at('2026-11-30T03:00:00Z'));
  assert.equal(latestCronSlot('0 3 * * *', at('2026-11-30T03:00:00Z'), at('2026-11-30T03:00:00Z')), null);
  const scheduled = deciderSpec(scheduledWorkflowsDecider, { registry: eventRegistry });
  const fire = (h: ScheduledWorkflowEvent[], slot: string) =>
    scheduled.then(h, { type: 'fire', projectId: 'p1', projectSlug: 'gh/acme/app', schedule: schedules[0]!, slot });
  const h = fire([], '2026-11-30T03:00:00.000Z');
  assert.is(h.length, 1);
  eventRegistry.parse(h[0]!.type, h[0]!.data);
  assert.is(fire(h, '2026-11-30T03:00:00.000Z').length, 1);
  assert.is(fire(h, '2026-12-01T03:00:00.000Z').length, 2);
  // seen once per cron, at the first server's time; declared again with another cron, seen anew
  const arm = (h: ScheduledWorkflowEvent[], from: string, cron = schedules[0]!.cron) =>
    scheduled.then(h, { type: 'arm', projectId: 'p1', projectSlug: 'gh/acme/app', schedule: { ...schedules[0]!, cron }, from });
  const seen = arm(h, '2026-12-01T04:00:00.000Z');
  assert.is(seen.length, 2);
  eventRegistry.parse(seen[1]!.type, seen[1]!.data);
  assert.is(arm(seen, '2026-12-01T05:00:00.000Z').length, 2);
  assert.is(arm(seen, '2026-12-01T05:00:00.000Z', '0 4 * * *').length, 3);
});

test.run();
