import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniqueName } from '../../test/support/events.ts';
import { loggedEvents, startTestGyre, type TestGyre } from '../../test/support/gyre.ts';
import { until } from '../../test/support/jobs.ts';

const test = suite('api/graphql limits');
let g: TestGyre;
let base: string;
let user: { id: string; token: string };

// lowered from their defaults where a document under the token limit could not reach them otherwise: they are settings
const env = {
  GYRE_GRAPHQL_MAX_DEPTH: '5',
  GYRE_GRAPHQL_MAX_ROOT_FIELDS: '3',
  GYRE_GRAPHQL_MAX_COST: '2000',
  GYRE_AUDIT_REFUSALS_PER_SOURCE: '10',
  GYRE_AUDIT_REFUSALS_PER_MINUTE: '100',
};

test.before(async () => {
  g = await startTestGyre(env);
  user = await g.createUser('mallory');
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  // the first answers load code: what is timed below is a warm server's
  await post('{ __typename }');
  await fetch(`${base}/healthz`);
});
test.after(async () => g.stop());
test.before.each(async () => {
  // each test starts a window of its own
  await g.services.refusals.flush();
});

/** Bounds that tell a refusal at the door from the minutes of work these documents cost before, on a busy 2-core machine too. */
const answerMs = 2000;
const healthMs = 500;

/**
 * How many events callers made the log hold: counted up to an account the test creates now, since a
 * read of the log on PostgreSQL shows nothing past a transaction still open elsewhere, and the
 * accounts (which Gyre itself creates) left out.
 */
const events = async (): Promise<number> => {
  const marker = await g.createUser(uniqueName('marker'));
  return until(
    'the marker account in the log',
    async () => {
      const all = await loggedEvents(g);
      const at = all.findIndex((e) => e.metadata.target.id === marker.id);
      return at < 0 ? undefined : all.slice(0, at).filter((e) => e.metadata.actor.type !== 'system').length;
    },
    10_000,
  );
};

const post = async (query: string, headers: Record<string, string> = {}) => {
  const started = performance.now();
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
  const text = await res.text();
  return {
    status: res.status,
    body: JSON.parse(text) as { data: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> },
    bytes: text.length,
    ms: performance.now() - started,
  };
};

/** What the server's process (this one) may grow by for one refused document: before the limits, one took 2.5 GB. */
const grownMb = 150;

/** Sends `query` and, while Gyre handles it, asks /healthz: how long each took, and how much the process grew. */
const withHealth = async (query: string, headers: Record<string, string> = {}) => {
  const rss = process.memoryUsage().rss;
  const answer = post(query, headers);
  const started = performance.now();
  const health = await fetch(`${base}/healthz`);
  const healthMs = performance.now() - started;
  assert.is(health.status, 200);
  const answered = await answer;
  return { ...answered, healthMs, grownMb: (process.memoryUsage().rss - rss) / 1024 / 1024 };
};

const aliases = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

test('20,000 aliased `me` fields from anyone: one bounded 400 naming the limit, one event, /healthz prompt', async () => {
  const before = await events();
  const query = aliases(20_000, 'me { login }');
  assert.ok(query.length > 250_000);
  const r = await withHealth(query);
  assert.is(r.status, 400);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'GRAPHQL_LIMIT_EXCEEDED');
  assert.match(r.body.errors![0]!.message, /over the limit of 10000 \(GYRE_GRAPHQL_MAX_TOKENS\)/);
  assert.ok(r.ms < answerMs, `answered in ${r.ms} ms`);
  assert.ok(r.bytes < 1000, `an answer of ${r.bytes} bytes`);
  assert.ok(r.healthMs < healthMs, `/healthz took ${r.healthMs} ms`);
  assert.ok(r.grownMb < grownMb, `the process grew ${r.grownMb} MB`);
  assert.is((await events()) - before, 1, 'one refused request, one event');
  // a megabyte of them, just under the body limit: the same one refusal
  const megabyte = aliases(49_000, 'me { login }');
  assert.ok(megabyte.length > 1_000_000 && megabyte.length < 1_048_576, `${megabyte.length} bytes`);
  const m = await withHealth(megabyte);
  assert.is(m.status, 400);
  assert.match(m.body.errors![0]!.message, /GYRE_GRAPHQL_MAX_TOKENS/);
  assert.ok(m.ms < answerMs, `answered in ${m.ms} ms`);
  assert.ok(m.healthMs < healthMs, `/healthz took ${m.healthMs} ms`);
  assert.ok(m.grownMb < grownMb, `the process grew ${m.grownMb} MB`);
  assert.is((await events()) - before, 2, 'one refused request, one event');
});

test('aliases past the limit are refused before anything runs, naming the limit and its value', async () => {
  const before = await events();
  const r = await withHealth(aliases(31, 'me { login }'));
  assert.is(r.status, 400);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'GRAPHQL_LIMIT_EXCEEDED');
  assert.match(r.body.errors![0]!.message, /the document has 31 aliases, over the limit of 30 \(GYRE_GRAPHQL_MAX_ALIASES\)/);
  assert.ok(r.healthMs < healthMs, `/healthz took ${r.healthMs} ms`);
  assert.is((await events()) - before, 1, 'one refused request, one event');
  const thirty = `{ me { ${Array.from({ length: 30 }, (_, i) => `a${i}: login`).join(' ')} } }`;
  assert.is((await post(thirty, { authorization: `Bearer ${user.token}` })).status, 200, 'up to the limit is fine');
});

test('2,000 aliases of projects { envVars } from a signed-in user: refused at once', async () => {
  const before = await events();
  const r = await withHealth(aliases(2000, 'projects { edges { node { envVars { edges { node { name } } } } } }'), { authorization: `Bearer ${user.token}` });
  assert.is(r.status, 400);
  assert.match(r.body.errors![0]!.message, /GYRE_GRAPHQL_MAX_(TOKENS|ALIASES)/);
  assert.ok(r.ms < answerMs, `answered in ${r.ms} ms`);
  assert.ok(r.healthMs < healthMs, `/healthz took ${r.healthMs} ms`);
  assert.ok(r.grownMb < grownMb, `the process grew ${r.grownMb} MB`);
  assert.is((await events()) - before, 1, 'one refused request, one event');
});

test('depth past the limit is refused, naming it', async () => {
  const r = await post('{ projects { edges { node { envVars { edges { node { name } } } } } } }', { authorization: `Bearer ${user.token}` });
  assert.is(r.status, 400);
  assert.match(r.body.errors![0]!.message, /levels of nested fields, over the limit of 5 \(GYRE_GRAPHQL_MAX_DEPTH\)/);
  assert.is((await post('{ projects { edges { node { slug } } } }', { authorization: `Bearer ${user.token}` })).status, 200);
});

test('fragments spreading fragments, each twice, are refused as a limit (400), not a server error', async () => {
  const fragments = Array.from({ length: 20 }, (_, i) => `fragment F${i} on Query { ${i === 19 ? 'me { login }' : `...F${i + 1} ...F${i + 1}`} }`).join(' ');
  const r = await post(`{ ...F0 } ${fragments}`);
  assert.is(r.status, 400, JSON.stringify(r.body));
  assert.is(r.body.errors![0]!.extensions?.code, 'GRAPHQL_LIMIT_EXCEEDED');
  assert.match(r.body.errors![0]!.message, /expands to more fields than its cost is estimated for, over the limit of 10000/);
});

test('root fields past the limit are refused, naming it; one field asked twice counts once', async () => {
  const r = await post('{ me { login } apiTokens { id } systemSettings { licenseSeats } resourceClasses { name } }', { authorization: `Bearer ${user.token}` });
  assert.is(r.status, 400);
  assert.match(r.body.errors![0]!.message, /4 root fields, over the limit of 3 \(GYRE_GRAPHQL_MAX_ROOT_FIELDS\)/);
  assert.is((await post('{ me { login } me { login } apiTokens { id } }', { authorization: `Bearer ${user.token}` })).status, 200);
});

test('the cost counts page sizes: first as given, the largest page for a variable', async () => {
  const headers = { authorization: `Bearer ${g.adminToken}` };
  const r = await post('{ auditLog(first: 500) { edges { node { id action } } } }', headers);
  assert.is(r.status, 400);
  assert.match(r.body.errors![0]!.message, /estimated cost .* is \d+, over the limit of 2000 \(GYRE_GRAPHQL_MAX_COST\)/);
  assert.is((await post('{ auditLog(first: 100) { edges { node { id action } } } }', headers)).status, 200);
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: 'query($n: Int) { auditLog(first: $n) { edges { node { id action } } } }', variables: { n: 1 } }),
  });
  assert.is(res.status, 400, 'a variable page size counts as the largest page');
  assert.match(((await res.json()) as { errors: Array<{ message: string }> }).errors[0]!.message, /GYRE_GRAPHQL_MAX_COST/);
});

test('one anonymous request asking for many refused fields records one event', async () => {
  const before = await events();
  const r = await post('{ a: me { login } b: me { login } c: apiTokens { id } }');
  assert.is(r.status, 401);
  assert.is((await events()) - before, 1);
});

test('3,000 anonymous requests without a token: a bounded number of events, one summary with the count', async () => {
  const before = await events();
  let slowestHealth = 0;
  for (let round = 0; round < 300; round++) {
    const batch = Array.from({ length: 10 }, () => post('{ me { login } }'));
    const started = performance.now();
    assert.is((await fetch(`${base}/healthz`)).status, 200);
    slowestHealth = Math.max(slowestHealth, performance.now() - started);
    for (const r of await Promise.all(batch)) assert.is(r.status, 401);
  }
  await g.services.refusals.flush();
  const appended = (await events()) - before;
  assert.is(appended, 10 + 1, 'ten in full, then one summary');
  const data = (await loggedEvents(g)).filter((e) => e.type === 'api.refusals.summarize').at(-1)!.data as Record<string, unknown>;
  assert.is(data.refusals, 3000 - 10);
  assert.is(data.source, 'address');
  assert.equal(data.actions, ['user.read']);
  assert.ok(slowestHealth < healthMs, `/healthz took ${slowestHealth} ms`);
});

test.run();
