import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isCalendarDate } from '../domain/calendar.ts';
import { startTestGyre, type TestGyre } from '../test/support/gyre.ts';

const test = suite('api answers: status codes, bad numbers and dates, safety headers (real HTTP)');
let g: TestGyre;
let base: string;
let admin: Record<string, string>;

test.before(async () => {
  g = await startTestGyre();
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  admin = { authorization: `Bearer ${g.adminToken}` };
});
test.after(async () => g.stop());

const graphql = async (body: string, contentType = 'application/json') => {
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { ...admin, 'content-type': contentType }, body });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as { data: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> },
  };
};
const query = (q: string) => graphql(JSON.stringify({ query: q }));

test("mercurius' own refusals keep their status codes: 413, 415, 400", async () => {
  const big = await graphql(JSON.stringify({ query: `{ me { login } } #${'x'.repeat(2_000_000)}` }));
  assert.is(big.status, 413);
  assert.is(big.body.errors?.[0]?.extensions?.code, 'BODY_TOO_LARGE');
  const xml = await graphql('<query/>', 'application/xml');
  assert.is(xml.status, 415);
  assert.is(xml.body.errors?.[0]?.extensions?.code, 'UNSUPPORTED_MEDIA_TYPE');
  const broken = await graphql('{"query":');
  assert.is(broken.status, 400);
  assert.is(broken.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
});

test('out-of-range numbers are 400s with a typed error', async () => {
  for (const first of ['-1', '0', '501', '2147483647']) {
    const r = await query(`{ projects(first: ${first}) { edges { cursor } } }`);
    assert.is(r.status, 400, `first: ${first}`);
    assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', `first: ${first}`);
    assert.match(r.body.errors![0]!.message, /first must be a whole number from 1 to 500/);
  }
  const huge = await query('{ projects(first: 99999999999) { edges { cursor } } }');
  assert.is(huge.status, 400);
  assert.is(huge.body.errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
  const v11 = await fetch(`${base}/api/v1.1/project/gh/acme/app/99999999999999999999`, { headers: admin });
  assert.is(v11.status, 400);
});

test('impossible dates are 400s with a typed error, in GraphQL and REST', async () => {
  const r = await query('{ auditLog(filter: { since: "2026-02-31" }) { edges { cursor } } }');
  assert.is(r.status, 400);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  assert.match(r.body.errors![0]!.message, /since/);
  for (const since of ['2026-02-31', '2026-04-31T00:00:00Z', '2026-13-01']) {
    const csv = await fetch(`${base}/admin/audit-log.csv?since=${since}`, { headers: admin });
    assert.is(csv.status, 400, since);
    assert.is(((await csv.json()) as { code: string }).code, 'BAD_USER_INPUT');
  }
  assert.is((await fetch(`${base}/admin/audit-log.csv?since=2024-02-29`, { headers: admin })).status, 200, 'a leap day is a day');
  assert.ok(isCalendarDate('2024-02-29') && !isCalendarDate('2026-02-29') && !isCalendarDate('2026-00-10') && isCalendarDate('2026-12-31T23:59:59Z'));
});

test('every answer says nosniff and may not be framed: JSON, GraphQL, errors, 404s, the CSV', async () => {
  const answers = [
    await fetch(`${base}/healthz`),
    await fetch(`${base}/api/v2/me`, { headers: admin }),
    await fetch(`${base}/api/v2/me`),
    await fetch(`${base}/no/such/route`),
    await fetch(`${base}/admin/audit-log.csv`, { headers: admin }),
    await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { login } }' }),
    }),
    await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":' }),
  ];
  for (const r of answers) {
    assert.is(r.headers.get('x-content-type-options'), 'nosniff', r.url);
    assert.is(r.headers.get('x-frame-options'), 'DENY', r.url);
    assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, r.url);
    await r.arrayBuffer();
  }
});

test.run();
