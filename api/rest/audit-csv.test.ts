import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'csv-parse/sync';
import { startTestGyre, waitForAudit, type TestGyre, loggedEvents } from '../../test/support/gyre.ts';

const test = suite('api/rest/audit-csv');
let g: TestGyre;
let user: { id: string; token: string };

test.before(async () => {
  g = await startTestGyre();
  user = await g.createUser('dave');
  for (const seats of [3, 4])
    await g.gql(
      'mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }',
      { s: seats },
      { authorization: `Bearer ${g.adminToken}`, 'x-client-trace-id': 'quote " and, comma' },
    );
});
test.after(async () => g.stop());

const csv = (query = '', token = g.adminToken) =>
  g.app.inject({ method: 'GET', url: `/admin/audit-log.csv${query}`, headers: token ? { authorization: `Bearer ${token}` } : {} });

test('columns in the guide order, oldest first, nested values as compact JSON, RFC 4180 quoting', async () => {
  const res = await csv();
  assert.is(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/csv/);
  assert.ok(res.body.includes('\r\n'), 'CRLF line ends');
  const [header, ...rows] = parse(res.body, { relax_quotes: false }) as string[][];
  assert.equal(header, ['action', 'actor', 'target', 'payload', 'occurred_at', 'metadata', 'id', 'version', 'scope', 'success', 'request']);
  const times = rows.map((r) => r[4]!);
  assert.equal([...times].sort(), times, 'oldest first');
  assert.ok(times.every((t) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$/.test(t)));
  const updates = rows.filter((r) => r[0] === 'system.settings.update');
  assert.is(updates.length, 2);
  const [u] = updates;
  assert.equal(JSON.parse(u![1]!), { id: JSON.parse(u![1]!).id, type: 'user', name: 'admin' });
  assert.equal(JSON.parse(u![3]!), { changes: { licenseSeats: { from: null, to: 3 } } });
  assert.is(u![5], '{}');
  assert.match(u![6]!, /^[0-9a-f-]{36}$/);
  assert.is(u![7], '1');
  assert.is(u![8], 'null');
  assert.is(u![9], 'true');
  assert.is(JSON.parse(u![10]!).client_trace_id, 'quote " and, comma');
  assert.ok(!u![1]!.includes(' '), 'compact JSON');
});

test('filters: since, until, and repeated actions with prefixes', async () => {
  const rows = (q: string) => csv(q).then((r) => (parse(r.body) as string[][]).slice(1));
  const all = await rows('');
  const onlyUsers = await rows('?action=user.*');
  assert.ok(onlyUsers.length >= 4 && onlyUsers.every((r) => r[0]!.startsWith('user.')));
  const two = await rows('?action=user.create&action=system.settings.update');
  assert.equal([...new Set(two.map((r) => r[0]))].sort(), ['system.settings.update', 'user.create']);
  const middle = all[Math.floor(all.length / 2)]![4]!;
  const since = await rows(`?since=${encodeURIComponent(middle)}`);
  const until = await rows(`?until=${encodeURIComponent(middle)}`);
  assert.ok(since.every((r) => r[4]! >= middle) && until.every((r) => r[4]! < middle));
  assert.ok(since.length + until.length >= all.length);
});

test('bad filter values are 400 with a message, and audited', async () => {
  for (const [q, pattern] of [
    ['?since=last-week', /since/],
    ['?action=Not.Valid', /invalid action filter/],
    ['?until=2020-01-01&since=2021-01-01', /since must not be after until/],
    ['?colour=red', /unknown audit log filter "colour"/],
    ['?since=2020-01-01&since=2021-01-01', /since may be given once/],
  ] as const) {
    const r = await csv(q);
    assert.is(r.statusCode, 400, q);
    assert.match(r.json().message, pattern);
  }
  const refused = await waitForAudit(g, (e) => e.action === 'audit_log.export' && e.success === false && e.payload.status === 400, 5);
  assert.is(refused.length, 5);
});

test('only admins export: 401 without a token, 403 for a user, as JSON', async () => {
  const anonymous = await csv('', '');
  assert.is(anonymous.statusCode, 401);
  assert.match(anonymous.json().message, /authentication required/);
  const forbidden = await csv('', user.token);
  assert.is(forbidden.statusCode, 403);
  const refused = await waitForAudit(g, (e) => e.action === 'audit_log.export' && e.success === false && e.payload.status >= 401, 2);
  assert.equal(
    refused.map((e) => e.payload.status),
    [401, 403],
  );
});

test('an export is itself audited, and no API token appears in the export', async () => {
  const res = await csv();
  const exports = await waitForAudit(g, (e) => e.action === 'audit_log.export' && e.success === true);
  assert.ok(exports.length >= 1);
  for (const token of [g.adminToken, user.token]) {
    assert.not.ok(res.body.includes(token));
    assert.not.ok(res.body.includes(token.slice(5)));
    assert.not.ok(res.body.includes(Buffer.from(token).toString('base64')));
  }
  const events = await loggedEvents(g);
  assert.not.ok(JSON.stringify(events).includes(g.adminToken), 'a token in clear text in the event log');
});

test.run();
