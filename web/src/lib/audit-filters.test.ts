import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { actionList, auditFilter, csvHref, emptyFilters, localToIso, passes, withNewEvent } from './audit-filters.ts';

const test = suite('web/lib/audit-filters: the audit log page filters, CSV link and live tail');

test('actions are separated by commas or spaces', () => {
  assert.equal(actionList(' user.*, context.create  workflow.*,'), ['user.*', 'context.create', 'workflow.*']);
  assert.equal(actionList('  '), []);
});

test('a datetime-local value becomes an instant with its zone; empty or nonsense is no filter', () => {
  const iso = localToIso('2026-01-31T12:30')!;
  assert.match(iso, /^2026-01-3[01]T\d\d:30:00\.000Z$/);
  assert.is(Date.parse(iso), new Date(2026, 0, 31, 12, 30).getTime(), 'read on the reader clock');
  assert.is(localToIso(''), undefined);
  assert.is(localToIso('not a time'), undefined);
});

test('the API filter leaves out what is empty', () => {
  assert.equal(auditFilter(emptyFilters), {});
  const f = auditFilter({ action: 'user.*', actor: 'alice', since: '2026-01-01T00:00', until: '' }, 'id-of-alice');
  assert.equal(Object.keys(f).sort(), ['actions', 'actorId', 'since']);
  assert.equal(f.actions, ['user.*']);
  assert.is(f.actorId, 'id-of-alice');
});

test('the CSV link carries since, until and each action, encoded, and nothing empty', () => {
  assert.is(csvHref({}), '/admin/audit-log.csv');
  assert.is(
    csvHref({ since: '2026-01-01T00:00:00.000Z', until: '2026-02-01T00:00:00.000Z', actions: ['user.*', 'context.create'], actorId: 'x' }),
    '/admin/audit-log.csv?since=2026-01-01T00%3A00%3A00.000Z&until=2026-02-01T00%3A00%3A00.000Z&action=user.*&action=context.create',
  );
  const q = new URL(csvHref({ actions: ['a&b=c'] }), 'http://gyre').searchParams;
  assert.equal(q.getAll('action'), ['a&b=c']);
});

const ev = (id: string, at = '2026-01-10T00:00:00Z', actor = 'u1') => ({ id, action: 'user.suspend', occurredAt: at, actor: { id: actor, name: 'alice' } });

test('live events pass the actor and time filters the subscription cannot apply', () => {
  assert.ok(passes(ev('1'), {}));
  assert.ok(passes(ev('1'), { actorId: 'u1', since: '2026-01-01T00:00:00Z', until: '2026-02-01T00:00:00Z' }));
  assert.not.ok(passes(ev('1'), { actorId: 'u2' }));
  assert.not.ok(passes(ev('1'), { since: '2026-01-11T00:00:00Z' }));
  assert.not.ok(passes(ev('1'), { until: '2026-01-10T00:00:00Z' }), 'until is exclusive, as the API has it');
});

test('the tail puts the newest on top, keeps each event once and at most cap', () => {
  let tail = withNewEvent([], ev('1'));
  tail = withNewEvent(tail, ev('2'));
  assert.equal(
    tail.map((e) => e.id),
    ['2', '1'],
  );
  assert.equal(
    withNewEvent(tail, ev('1')).map((e) => e.id),
    ['2', '1'],
  );
  assert.equal(
    withNewEvent(tail, ev('3'), 2).map((e) => e.id),
    ['3', '2'],
  );
});

test.run();
