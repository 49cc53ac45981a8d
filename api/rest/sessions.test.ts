import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loggedEvents, startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';

const test = suite('api: browser sessions — sign-in with an API token, same-origin checks, WebSocket by cookie (real HTTP)');
let g: TestGyre;
let gyre: string;
const logs: string[] = [];
const clients: Client[] = [];
const evil = 'https://evil.example';

/** How far the clock sessions age by runs ahead of the real one. */
let ahead = 0;
const hour = 3_600_000;

test.before(async () => {
  g = await startTestGyre(
    { GYRE_LOG_LEVEL: 'trace', GYRE_SESSION_MAX_AGE_HOURS: '1' },
    { logStream: { write: (line) => void logs.push(line) }, now: () => Date.now() + ahead },
  );
  gyre = await g.app.listen({ port: 0, host: '127.0.0.1' });
});
test.after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await g.stop();
});

const signIn = (body: unknown, headers: Record<string, string> = { origin: gyre }) =>
  fetch(`${gyre}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
/** Signs in and answers the `Cookie` header a browser would then send. */
const sessionOf = async (token: string) => {
  const res = await signIn({ token });
  assert.is(res.status, 200, await res.clone().text());
  const set = res.headers.getSetCookie().find((c) => c.startsWith('gyre_session='))!;
  return set.split(';')[0]!;
};
const gql = async (cookie: string, query: string, headers: Record<string, string> = { origin: gyre }) => {
  const res = await fetch(`${gyre}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const me = (cookie: string) => fetch(`${gyre}/graphql?query=${encodeURIComponent('{ me { login } }')}`, { headers: { cookie } });
/** What the web UI's session probe answers for the cookie. */
const probe = async (cookie: string) => (await (await fetch(`${gyre}/auth/session`, { headers: { cookie } })).json()) as { signedIn: boolean; login?: string };
/** The refusals and logins recorded after `position` (refusals have streams of their own). */
const recordedSince = async (position: string) =>
  (await loggedEvents(g, position)).filter((e) => e.stream.startsWith('refusal-') || e.type.startsWith('user.')).map((e) => ({ type: e.type }));
const head = () => g.services.store.head();

test('the admin signs in with its API token: a session cookie like GitHub sign-in sets, recorded as user.logged_in', async () => {
  const res = await signIn({ token: g.adminToken });
  assert.is(res.status, 200);
  assert.equal(await res.json(), { login: 'admin' });
  const set = res.headers.getSetCookie().find((c) => c.startsWith('gyre_session='))!;
  assert.match(set, /HttpOnly/i);
  assert.match(set, /SameSite=Lax/i);
  assert.match(set, /Path=\//);
  assert.match(set, /Max-Age=3600(;|$)/, 'the browser keeps it as long as the session lasts (GYRE_SESSION_MAX_AGE_HOURS=1)');
  assert.not.match(set, /Secure/i, 'no Secure flag on plain http');
  const [login] = await waitForAudit(g, (e) => e.action === 'user.logged_in' && e.success && e.payload.login === 'admin');
  assert.is(login!.payload.method, 'api_token');
  assert.type(login!.payload.tokenId, 'string');
  assert.is(login!.actor.name, 'admin');
});

test("the cookie works for GraphQL queries and mutations from Gyre's own pages, and for the CSV download", async () => {
  const cookie = await sessionOf(g.adminToken);
  const who = await gql(cookie, '{ me { login name isAdmin state } }');
  assert.equal(who.body.data.me, { login: 'admin', name: 'Administrator', isAdmin: true, state: 'ACTIVE' });
  const changed = await gql(cookie, 'mutation { updateSystemSettings(input: {licenseSeats: 41}) { licenseSeats } }');
  assert.is(changed.body.data?.updateSystemSettings.licenseSeats, 41, JSON.stringify(changed.body));
  const [update] = await waitForAudit(g, (e) => e.action === 'system.settings.update' && e.success);
  assert.is(update!.actor.name, 'admin');
  // a page that sends only a Referer, and a plain GET (a link, a query) that changes nothing
  assert.is((await gql(cookie, '{ me { login } }', { referer: `${gyre}/settings` })).status, 200);
  assert.is((await me(cookie)).status, 200);
  const csv = await fetch(`${gyre}/admin/audit-log.csv`, { headers: { cookie } });
  assert.is(csv.status, 200);
  assert.match(await csv.text(), /system\.settings\.update/);
});

test("a cookie request that changes something without Gyre's Origin is refused 403 and audited; tokens need no Origin", async () => {
  const cookie = await sessionOf(g.adminToken);
  await g.createUser('fay');
  const suspend = 'mutation { suspendUser(login: "fay") { state } }';
  for (const headers of [{}, { origin: evil }, { referer: `${evil}/page` }, { origin: 'null' }] as Array<Record<string, string>>) {
    const r = await gql(cookie, suspend, headers);
    assert.is(r.status, 403, JSON.stringify(headers));
    assert.is(r.body.errors[0].extensions.code, 'CROSS_SITE_REQUEST');
    assert.match(r.body.errors[0].message, new RegExp(`must come from a page of ${gyre}`));
  }
  assert.is((await gql(cookie, '{ me { login } }', { origin: evil })).status, 403, 'queries over POST too');
  assert.is((await g.gql('{ user(login: "fay") { state } }')).body.data!.user.state, 'ACTIVE');
  const refused = await waitForAudit(g, (e) => e.action === 'user.suspend' && e.success === false && e.payload.code === 'CROSS_SITE_REQUEST', 4);
  assert.is(refused.length, 4);
  assert.ok(refused.every((e) => e.actor.name === 'admin' && e.payload.status === 403 && e.payload.operation === 'POST /graphql'));
  await waitForAudit(g, (e) => e.action === 'user.read' && e.payload.code === 'CROSS_SITE_REQUEST');
  // signing out from another site's page is refused too: the session stays
  const out = await fetch(`${gyre}/auth/logout`, { method: 'POST', headers: { cookie, origin: evil } });
  assert.is(out.status, 403);
  assert.is(((await out.json()) as { code: string }).code, 'CROSS_SITE_REQUEST');
  assert.is((await me(cookie)).status, 200);
  await waitForAudit(g, (e) => e.action === 'user.logged_out' && e.success === false && e.payload.code === 'CROSS_SITE_REQUEST');
  // a script with a token sends no Origin, and another site's page cannot send the header
  const withToken = await fetch(`${gyre}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${g.adminToken}` },
    body: JSON.stringify({ query: '{ me { login } }' }),
  });
  assert.is(withToken.status, 200);
});

test("another site's page cannot sign a browser in, even to an account of its own", async () => {
  const before = await head();
  const r = await signIn({ token: g.adminToken }, { origin: evil });
  assert.is(r.status, 403);
  assert.equal(r.headers.getSetCookie(), []);
  await waitForAudit(g, (e) => e.action === 'user.logged_in' && e.success === false && e.payload.code === 'CROSS_SITE_REQUEST');
  const logins = (await loggedEvents(g, before)).filter((e) => e.type === 'user.logged_in' && !e.stream.startsWith('refusal-'));
  assert.equal(logins, [], 'no session started');
});

/** Subscribes to `events` and collects what arrives, or the error that ended it. */
const subscribe = (client: Client) => {
  const got: any[] = [];
  const errors: any[] = [];
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const dispose = client.subscribe(
    { query: 'subscription { events(filter: {actions: ["system.*"]}) { action actor { name } } }' },
    {
      next: (m) => (m.errors ? errors.push(...m.errors) : got.push(m.data?.events)),
      error: (e) => {
        errors.push(e);
        ended();
      },
      complete: () => ended(),
    },
  );
  return { got, errors, done, dispose };
};
/** A browser's WebSocket: the upgrade carries the page's Origin and the cookies. */
const browserSocket = (headers: Record<string, string>) =>
  class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers });
    }
  };
const connect = (headers: Record<string, string>, connectionParams: Record<string, string> = {}) => {
  const client = createClient({
    url: `${gyre.replace('http', 'ws')}/graphql`,
    webSocketImpl: browserSocket(headers),
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
  clients.push(client);
  return client;
};
let seats = 100;
const warmUp = () => g.gql('mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }', { s: seats++ });
const until = async (check: () => boolean, poke: () => Promise<unknown>, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) {
    await poke();
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
};
const ended = (s: { done: Promise<void> }) => Promise.race([s.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);

test("a WebSocket opened by Gyre's own page is signed in by the cookie; one from another site is refused and audited", async () => {
  const cookie = await sessionOf(g.adminToken);
  const live = subscribe(connect({ cookie, origin: gyre }));
  assert.ok(await until(() => live.got.length > 0, warmUp), 'events arrive on the cookie-signed-in WebSocket');
  assert.is(live.got[0].action, 'system.settings.update');
  live.dispose();
  const foreign = subscribe(connect({ cookie, origin: evil }));
  const noOrigin = subscribe(connect({ cookie }));
  assert.ok((await ended(foreign)) && (await ended(noOrigin)), 'both ended');
  assert.match(JSON.stringify(foreign.errors), /session cookie counts only on a WebSocket opened by a page of/);
  assert.match(JSON.stringify(noOrigin.errors), /session cookie counts only/);
  assert.is(foreign.got.length + noOrigin.got.length, 0);
  const refusals = await waitForAudit(g, (e) => e.action === 'audit_log.subscribe' && e.success === false, 2);
  assert.ok(refusals.every((e) => /session cookie counts only/.test(e.payload.reason)));
  // a token in connection_init works as before, whatever page opened the socket
  const scripted = subscribe(connect({ origin: evil }, { authorization: `Bearer ${g.adminToken}` }));
  assert.ok(await until(() => scripted.got.length > 0, warmUp), 'a token still signs a WebSocket in');
  scripted.dispose();
});

test('signing out ends the session: the cookie is refused afterwards, and the logout is audited', async () => {
  const cookie = await sessionOf(g.adminToken);
  const out = await fetch(`${gyre}/auth/logout`, { method: 'POST', headers: { cookie, origin: gyre } });
  assert.is(out.status, 204);
  assert.match(out.headers.getSetCookie().join(), /gyre_session=;/);
  assert.is((await me(cookie)).status, 401);
  assert.is((await gql(cookie, 'mutation { updateSystemSettings(input: {licenseSeats: 42}) { licenseSeats } }')).status, 401);
  assert.is((await fetch(`${gyre}/admin/audit-log.csv`, { headers: { cookie } })).status, 401);
  await waitForAudit(g, (e) => e.action === 'user.logged_out' && e.success && e.payload.login === 'admin');
});

test('revoking the API token a session was started with ends that session at once, and no other', async () => {
  const hal = await g.createUser('hal');
  const cookie = await sessionOf(hal.token);
  const created = await gql(cookie, 'mutation { createApiToken(label: "laptop") { token apiToken { id } } }');
  const other = await sessionOf(created.body.data.createApiToken.token);
  const tokens = (await gql(cookie, '{ apiTokens { id label } }')).body.data.apiTokens as Array<{ id: string; label: string }>;
  const first = tokens.find((t) => t.label === 'test')!;
  // from the tokens page of the very session the token started
  const revoked = await gql(cookie, `mutation { revokeApiToken(id: "${first.id}") }`);
  assert.is(revoked.body.data?.revokeApiToken, true, JSON.stringify(revoked.body));
  const refused = await me(cookie);
  assert.is(refused.status, 401);
  assert.match(await refused.text(), /the session has ended: sign in again/);
  assert.equal(await probe(cookie), { signedIn: false });
  assert.is((await signIn({ token: hal.token })).status, 401, 'the revoked token cannot start another');
  assert.is((await probe(other)).login, 'hal', 'the session of the other token stays');
  assert.is((await me(other)).status, 200);
});

test('a session ends when it is older than GYRE_SESSION_MAX_AGE_HOURS, whoever started it', async () => {
  const cookie = await sessionOf(g.adminToken);
  try {
    ahead = hour - 60_000;
    assert.is((await me(cookie)).status, 200, 'a minute before its end');
    assert.is((await probe(cookie)).login, 'admin');
    ahead = hour + 60_000;
    const refused = await me(cookie);
    assert.is(refused.status, 401);
    assert.match(await refused.text(), /the session has ended: sign in again/);
    assert.equal(await probe(cookie), { signedIn: false });
    assert.is((await gql(cookie, 'mutation { updateSystemSettings(input: {licenseSeats: 43}) { licenseSeats } }')).status, 401);
  } finally {
    ahead = 0;
  }
});

test('a WebSocket signed in by a session ends at the first event after the session reaches its age', async () => {
  const cookie = await sessionOf(g.adminToken);
  const live = subscribe(connect({ cookie, origin: gyre }));
  try {
    assert.ok(await until(() => live.got.length > 0, warmUp), 'events arrive while the session lasts');
    ahead = hour + 60_000;
    const before = live.got.length;
    let over = false;
    void live.done.then(() => (over = true));
    assert.ok(await until(() => over, warmUp), 'the subscription ended');
    assert.is(live.got.length, before, 'nothing delivered after the session ended');
    assert.match(JSON.stringify(live.errors), /the session has ended: sign in again/);
  } finally {
    ahead = 0;
  }
});

test("a suspended person's session stops working, and their tokens are revoked for good: activating the account again brings none back", async () => {
  const gus = await g.createUser('gus');
  const cookie = await sessionOf(gus.token);
  assert.is((await me(cookie)).status, 200);
  await g.gql('mutation { suspendUser(login: "gus") { state } }');
  assert.is((await me(cookie)).status, 401);
  const again = await signIn({ token: gus.token });
  assert.is(again.status, 401);
  assert.equal(again.headers.getSetCookie(), []);
  assert.is((await fetch(`${gyre}/api/v2/me`, { headers: { 'circle-token': gus.token } })).status, 401);
  const [revoked] = await waitForAudit(g, (e) => e.action === 'user.api_token.revoke' && e.target.name === 'gus');
  assert.ok(revoked, 'the revocation is audited');

  const activated = await g.gql('mutation { activateUser(login: "gus") { state } }');
  assert.is(activated.body.errors, undefined, JSON.stringify(activated.body.errors));
  assert.is((await fetch(`${gyre}/api/v2/me`, { headers: { 'circle-token': gus.token } })).status, 401, 'the token stays revoked');
  assert.is((await signIn({ token: gus.token })).status, 401);
  assert.is((await me(cookie)).status, 401, 'and so does the session it started');
});

test('bad input gets a typed 400, recorded as a refused sign-in that names no token; nothing else changes', async () => {
  const before = await head();
  const canary = `gyre_canary${randomBytes(16).toString('hex')}`;
  const bodies = [{}, { token: 5 }, { token: '' }, { token: `${canary}${'x'.repeat(201)}` }, [canary], `{"token": "${canary}"`, ''];
  for (const body of bodies) {
    const r = await signIn(body);
    const answer = (await r.json()) as { code: string; message: string };
    assert.is(r.status, 400, JSON.stringify(body));
    assert.is(answer.code, 'BAD_USER_INPUT', JSON.stringify(answer));
    assert.equal(r.headers.getSetCookie(), []);
  }
  const refusals = await waitForAudit(g, (e) => e.action === 'user.logged_in' && e.success === false && e.payload.code === 'BAD_USER_INPUT', bodies.length);
  assert.is(refusals.length, bodies.length);
  assert.ok(
    refusals.every((e) => e.actor.type === 'anonymous' && e.payload.status === 400 && e.payload.operation === 'POST /auth/token'),
    JSON.stringify(refusals),
  );
  assert.equal(
    await recordedSince(before),
    bodies.map(() => ({ type: 'user.logged_in' })),
    'refusals only: no session, no other change',
  );
  assert.ok((await loggedEvents(g, before)).every((e) => e.stream.startsWith('refusal-')));
  assert.not.ok(JSON.stringify(await loggedEvents(g, before)).includes(canary), 'the token is in the event log');
});

test("a wrong token, or a runner's, is refused 401 and never appears in the answer, the audit log, the event store or the log", async () => {
  const canary = `gyre_canary${randomBytes(16).toString('hex')}`;
  const wrong = await signIn({ token: canary });
  const answer = await wrong.text();
  assert.is(wrong.status, 401);
  assert.match(answer, /the API token is not valid/);
  const long = await signIn({ token: `${canary}${'y'.repeat(200)}` });
  assert.is(long.status, 400);
  const runner = (await g.gql('mutation { createRunnerResourceClass(input: {resourceClass: "acme/web"}) { id } } ')).body;
  assert.ok(runner.data, JSON.stringify(runner));
  const runnerToken = (await g.gql('mutation { createRunnerToken(input: {resourceClass: "acme/web", nickname: "box"}) { token } }')).body.data!
    .createRunnerToken.token as string;
  const byRunner = await signIn({ token: runnerToken });
  assert.is(byRunner.status, 401);
  assert.match(await byRunner.text(), /a runner token cannot sign in/);
  const refusals = await waitForAudit(g, (e) => e.action === 'user.logged_in' && e.success === false && e.payload.code === 'UNAUTHENTICATED', 2);
  assert.ok(refusals.every((e) => e.actor.type === 'anonymous' && e.payload.status === 401));
  const csv = await g.app.inject({ method: 'GET', url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${g.adminToken}` } });
  const events = JSON.stringify(await loggedEvents(g));
  for (const [where, text] of Object.entries({ answer: answer + (await long.text()), csv: csv.body, events, log: logs.join('') })) {
    assert.not.ok(text.includes(canary), `the canary token is in the ${where}`);
    assert.not.ok(text.includes(runnerToken), `the runner token is in the ${where}`);
  }
  assert.ok(
    logs.some((l) => l.includes('/auth/token')),
    'the log was captured',
  );
});

test('signing in with a token is rate-limited like the other login routes', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 31; i++) statuses.push((await signIn({})).status);
  // the earlier tests' sign-ins count in the same minute: at most 30 get through, then every one is refused
  const first = statuses.indexOf(429);
  assert.ok(first >= 0, statuses.join());
  assert.ok(
    statuses.slice(first).every((s) => s === 429),
    statuses.join(),
  );
});

test.run();
