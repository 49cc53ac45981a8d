import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, waitForAudit, type TestGyre, loggedEvents } from '../../test/support/gyre.ts';

const test = suite('api/graphql');
let g: TestGyre;
let user: { id: string; token: string };

test.before(async () => {
  g = await startTestGyre();
  user = await g.createUser('bob');
});
test.after(async () => g.stop());

const settingsQuery = '{ systemSettings { suspendNewUsers requiredOrgMembership licenseSeats } }';
const update = 'mutation($input: SystemSettingsInput!) { updateSystemSettings(input: $input) { suspendNewUsers requiredOrgMembership licenseSeats } }';

test('system settings start at their defaults', async () => {
  const r = await g.gql(settingsQuery);
  assert.is(r.status, 200);
  assert.equal(r.body.data?.systemSettings, { suspendNewUsers: false, requiredOrgMembership: [], licenseSeats: null });
});

test('an update changes only what it names, and the caller reads its own write', async () => {
  let r = await g.gql(update, { input: { licenseSeats: 25 } }, { authorization: `Bearer ${g.adminToken}`, 'x-client-trace-id': 'trace-42' });
  assert.equal(r.body.data?.updateSystemSettings, { suspendNewUsers: false, requiredOrgMembership: [], licenseSeats: 25 });
  r = await g.gql(update, { input: { suspendNewUsers: true, requiredOrgMembership: ['Acme', 'acme', 'widgets'] } });
  assert.equal(r.body.data?.updateSystemSettings, { suspendNewUsers: true, requiredOrgMembership: ['Acme', 'widgets'], licenseSeats: 25 });
  r = await g.gql(settingsQuery, {}, { authorization: `Bearer ${user.token}` });
  assert.equal(r.body.data?.systemSettings, { suspendNewUsers: true, requiredOrgMembership: ['Acme', 'widgets'], licenseSeats: 25 });
  const [first] = await waitForAudit(g, (e) => e.action === 'system.settings.update' && e.request?.client_trace_id === 'trace-42');
  assert.ok(first, 'the update is in the audit log with its trace id');
  assert.equal(first.payload, { changes: { licenseSeats: { from: null, to: 25 } } });
  assert.is(first.actor.name, 'admin');
  assert.is(first.success, true);
});

test('bad input is refused with a typed error, changes nothing, and is audited', async () => {
  const before = (await g.gql(settingsQuery)).body.data?.systemSettings;
  const r = await g.gql(update, { input: { licenseSeats: -3, suspendNewUsers: false } });
  assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  assert.match(r.body.errors![0]!.message, /licenseSeats/);
  const typeError = await g.gql('mutation { updateSystemSettings(input: {licenseSeats: "gyre_canary_c4n4ry"}) { licenseSeats } }');
  assert.is(typeError.status, 400);
  assert.is(typeError.body.errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
  assert.equal((await g.gql(settingsQuery)).body.data?.systemSettings, before);
  const refused = await waitForAudit(g, (e) => e.action === 'system.settings.update' && e.success === false, 2);
  assert.is(refused.length, 2);
  assert.is(refused[0]!.payload.code, 'BAD_USER_INPUT');
  assert.is(refused[1]!.payload.code, 'GRAPHQL_VALIDATION_FAILED');
  // what the caller sent never reaches the audit log, not even in a refusal's reason
  const csv = await g.app.inject({ method: 'GET', url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${g.adminToken}` } });
  assert.not.ok(csv.body.includes('c4n4ry'), 'the input value reached the audit export');
  assert.not.ok(JSON.stringify(await loggedEvents(g)).includes('c4n4ry'), 'the input value reached the event log');
});

test('no token or a bad token is 401, a user on an admin field is 403; each refusal is audited with the caller IP', async () => {
  const none = await g.gql(settingsQuery, {}, {});
  assert.is(none.status, 401);
  assert.is(none.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  const bad = await g.gql(settingsQuery, {}, { 'circle-token': 'gyre_not-a-real-token' });
  assert.is(bad.status, 401);
  const malformed = await g.gql(settingsQuery, {}, { authorization: 'Basic abc' });
  assert.is(malformed.status, 401);
  const forbidden = await g.gql(update, { input: { licenseSeats: 1 } }, { authorization: `Bearer ${user.token}` });
  assert.is(forbidden.status, 403);
  assert.is(forbidden.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  assert.match(forbidden.body.errors![0]!.message, /bob is not an administrator/);
  const refusals = await waitForAudit(g, (e) => e.success === false && [401, 403].includes(e.payload.status), 4);
  assert.is(refusals.length, 4);
  assert.ok(refusals.every((e) => e.request.ip_address === '127.0.0.1'));
  const last = refusals[3]!;
  assert.is(last.action, 'system.settings.update');
  assert.equal(last.actor, { id: user.id, type: 'user', name: 'bob' });
  assert.is(refusals[0]!.actor.type, 'anonymous');
});

test('auditLog: newest first, paged with cursors, filtered by time, action, actor and target', async () => {
  for (const n of [1, 2, 3]) await g.gql(update, { input: { licenseSeats: 100 + n } });
  const page = async (args: string) =>
    (
      await g.gql(
        `{ auditLog(${args}) { edges { cursor node { id action actor { id type name } target { id type } payload occurredAt success version metadata request scope { id } } } pageInfo { hasNextPage endCursor } } }`,
      )
    ).body;
  const all = (await page('first: 500')).data!.auditLog.edges.map((e: any) => e.node);
  const times = all.map((n: any) => n.occurredAt);
  assert.equal([...times].sort().reverse(), times, 'newest first');
  const first2 = (await page('first: 2, filter: {actions: ["system.settings.update"]}')).data!.auditLog;
  assert.is(first2.edges.length, 2);
  assert.ok(first2.pageInfo.hasNextPage);
  assert.equal(first2.edges[0].node.payload, { changes: { licenseSeats: { from: 102, to: 103 } } });
  const next = (await page(`first: 2, after: "${first2.pageInfo.endCursor}", filter: {actions: ["system.settings.update"]}`)).data!.auditLog;
  assert.equal(next.edges[0].node.payload, { changes: { licenseSeats: { from: 25, to: 101 } } });
  const prefixed = (await page('filter: {actions: ["user.*"]}')).data!.auditLog.edges.map((e: any) => e.node.action);
  assert.ok(prefixed.length >= 4 && prefixed.every((a: string) => a.startsWith('user.')), prefixed.join());
  const byActor = (await page(`filter: {actorId: "${user.id}"}`)).data!.auditLog.edges.map((e: any) => e.node);
  assert.ok(byActor.length >= 1 && byActor.every((n: any) => n.actor.id === user.id));
  const byTarget = (await page('filter: {targetId: "system-settings"}')).data!.auditLog.edges.map((e: any) => e.node);
  assert.ok(byTarget.length >= 5 && byTarget.every((n: any) => n.target.id === 'system-settings'));
  const middle = times[Math.floor(times.length / 2)];
  const since = (await page(`first: 500, filter: {since: "${middle}"}`)).data!.auditLog.edges.map((e: any) => e.node.occurredAt);
  const until = (await page(`first: 500, filter: {until: "${middle}"}`)).data!.auditLog.edges.map((e: any) => e.node.occurredAt);
  assert.ok(since.every((t: string) => t >= middle) && until.every((t: string) => t < middle));
  assert.is(since.length + until.length, times.length);
});

test('auditLog refuses bad filters with a message naming them', async () => {
  for (const [args, pattern] of [
    ['filter: {since: "yesterday"}', /since/],
    ['filter: {actions: ["Bad Action"]}', /invalid action filter/],
    ['filter: {since: "2026-02-01T00:00:00Z", until: "2026-01-01T00:00:00Z"}', /since must not be after until/],
    ['first: 0', /first must be/],
    ['first: 10000', /first must be/],
    ['after: "%%%"', /cursor/],
  ] as const) {
    const r = await g.gql(`{ auditLog(${args}) { edges { cursor } } }`);
    assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', args);
    assert.match(r.body.errors![0]!.message, pattern);
  }
});

test('a non-admin cannot read the audit log', async () => {
  const r = await g.gql('{ auditLog { edges { cursor } } }', {}, { 'circle-token': user.token });
  assert.is(r.status, 403);
  assert.is(r.body.data, null);
});

test.run();
