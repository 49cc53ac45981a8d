import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { browser, startGitHubStandIn } from '../../test/support/github-standin.ts';
import { startTestGyre, waitForAudit, type TestGyre, loggedEvents } from '../../test/support/gyre.ts';

const test = suite('api: sign-in with GitHub Enterprise (real HTTP, a stand-in GitHub on 127.0.0.1)');
const client = { id: 'gyre-client', secret: 'canary-client-secret-77' };
let github: Awaited<ReturnType<typeof startGitHubStandIn>>;
let g: TestGyre;
let gyre: string;

test.before(async () => {
  github = await startGitHubStandIn(client);
  g = await startTestGyre({ GYRE_GITHUB_URL: github.url, GYRE_GITHUB_CLIENT_ID: client.id, GYRE_GITHUB_CLIENT_SECRET: client.secret });
  gyre = await g.app.listen({ port: 0, host: '127.0.0.1' });
});
test.after(async () => {
  await g.stop();
  await github.close();
});

const signIn = async (user: { id: number; login: string; name?: string; orgs?: string[] }) => {
  github.state.signingIn = { name: user.login, orgs: [], ...user };
  const b = browser();
  const end = await b.visit(`${gyre}/auth/github`);
  return { b, end, text: await end.res.text() };
};
/** Who the browser is signed in as, as the web UI asks: `login (state)`, or null. */
const signedInAs = async (b: ReturnType<typeof browser>) => {
  const s = (await (await b.visit(`${gyre}/auth/session`)).res.json()) as { signedIn: boolean; login?: string; state?: string };
  return s.signedIn ? `${s.login} (${s.state!.toLowerCase()})` : null;
};
const settings = (input: string) => g.gql(`mutation { updateSystemSettings(input: {${input}}) { suspendNewUsers } }`);
const me = (b: ReturnType<typeof browser>) => b.visit(`${gyre}/api/v2/me`).then(async (r) => ({ status: r.res.status, body: await r.res.json() }));

test('a new person signs up through the whole OAuth flow and gets a session cookie', async () => {
  const { b, end } = await signIn({ id: 101, login: 'Pat', name: 'Pat Doe' });
  assert.is(end.url, `${gyre}/`);
  assert.is(await signedInAs(b), 'Pat (active)');
  const session = b.setCookies.find((c) => c.startsWith('gyre_session='))!;
  assert.match(session, /HttpOnly/i);
  assert.match(session, /SameSite=Lax/i);
  assert.match(session, /Max-Age=604800(;|$)/, 'kept as long as the session lasts: a week by default');
  assert.not.match(session, /Secure/i, 'no Secure flag on plain http');
  const who = await me(b);
  assert.is(who.status, 200);
  assert.is(who.body.login, 'Pat');
  assert.is(who.body.name, 'Pat Doe');
  const audit = await waitForAudit(g, (e) => ['user.create', 'user.logged_in'].includes(e.action) && e.payload.login === 'Pat', 2);
  assert.equal(
    audit.map((e) => e.action),
    ['user.create', 'user.logged_in'],
  );
  assert.is(audit[1]!.request.ip_address, '127.0.0.1');
  const lastLogin = (await g.gql('{ user(login: "pat") { lastLoginAt } }')).body.data!.user.lastLoginAt;
  assert.match(lastLogin, /^\d{4}-/);
});

test('a callback whose state was not issued to this browser is refused', async () => {
  github.state.signingIn = { id: 102, login: 'eve', name: 'Eve', orgs: [] };
  const attacker = browser();
  const first = await fetch(`${gyre}/auth/github`, { redirect: 'manual' });
  const authorize = new URL(first.headers.get('location')!);
  const callback = await fetch(authorize, { redirect: 'manual' });
  // the victim's browser follows the attacker's callback link without the state cookie
  const r = await attacker.visit(callback.headers.get('location')!);
  assert.is(r.res.status, 401);
  assert.not.ok(attacker.cookies(new URL(gyre).host).has('gyre_session'));
});

test('with required org membership, only members (any case) sign up; others see a page and an audit event names them', async () => {
  await settings('requiredOrgMembership: ["Acme"]');
  const outsider = await signIn({ id: 103, login: 'quinn', orgs: ['other'] });
  assert.is(outsider.end.res.status, 403);
  assert.match(outsider.text, /quinn is not a member of any organization allowed to sign up/);
  const refused = await waitForAudit(g, (e) => e.action === 'user.create' && e.success === false);
  assert.match(refused[0]!.payload.reason, /quinn/);
  assert.is(refused[0]!.actor.name, 'quinn');
  assert.is((await g.gql('{ user(login: "quinn") { login } }')).body.data!.user, null);
  const member = await signIn({ id: 104, login: 'rita', orgs: ['ACME'] });
  assert.is(await signedInAs(member.b), 'rita (active)');
  await settings('requiredOrgMembership: []');
});

test('while new users are suspended, a sign-up waits as SUSPENDED_NEW; a pre-approved login becomes ACTIVE at once', async () => {
  await settings('suspendNewUsers: true');
  const waiting = await signIn({ id: 105, login: 'sam' });
  assert.is(waiting.end.res.status, 403);
  assert.match(waiting.text, /waits for an admin/);
  assert.not.ok(waiting.b.cookies(new URL(gyre).host).has('gyre_session'));
  assert.is((await g.gql('{ user(login: "sam") { state } }')).body.data!.user.state, 'SUSPENDED_NEW');
  await g.gql('mutation { approveUser(login: "tess") { state } }');
  const approved = await signIn({ id: 106, login: 'tess' });
  assert.is(await signedInAs(approved.b), 'tess (active)');
  assert.is((await g.gql('{ user(login: "tess") { state } }')).body.data!.user.state, 'ACTIVE');
  await g.gql('mutation { activateUser(login: "sam") { state } }');
  assert.match((await signedInAs((await signIn({ id: 105, login: 'sam' })).b))!, /^sam /);
  await settings('suspendNewUsers: false');
});

test('suspending a signed-in person ends their session at once; a suspended person cannot sign in', async () => {
  const { b } = await signIn({ id: 107, login: 'uma' });
  assert.is((await me(b)).status, 200);
  await g.gql('mutation { suspendUser(login: "uma") { state } }');
  assert.is((await me(b)).status, 401);
  const again = await signIn({ id: 107, login: 'uma' });
  assert.is(again.end.res.status, 403);
  assert.match(again.text, /suspended/);
  const refused = await waitForAudit(g, (e) => e.action === 'user.logged_in' && e.success === false);
  assert.is(refused[0]!.actor.name, 'uma');
});

test('logout ends the session and is audited', async () => {
  const { b } = await signIn({ id: 108, login: 'vic' });
  const out = await b.visit(`${gyre}/auth/logout`, { method: 'POST', headers: { origin: gyre } });
  assert.is(out.res.status, 204);
  assert.is((await me(b)).status, 401);
  const audit = await waitForAudit(g, (e) => e.action === 'user.logged_out' && e.payload.login === 'vic');
  assert.is(audit.length, 1);
});

test('the client secret and session cookies never reach the audit log or the event log', async () => {
  const { b } = await signIn({ id: 109, login: 'wes' });
  const session = b.cookies(new URL(gyre).host).get('gyre_session')!;
  const csv = await g.app.inject({ method: 'GET', url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${g.adminToken}` } });
  const events = JSON.stringify(await loggedEvents(g));
  for (const secret of [client.secret, session]) {
    assert.not.ok(csv.body.includes(secret));
    assert.not.ok(events.includes(secret));
  }
});

test("a GitHub user called admin, or one who took over a renamed login, gets no one else's account", async () => {
  const admin = await signIn({ id: 4242, login: 'admin' });
  assert.is(admin.end.res.status, 403);
  assert.match(admin.text, /belongs to someone else/);
  assert.not.ok(admin.b.cookies(new URL(gyre).host).has('gyre_session'));
  const impostor = await signIn({ id: 999, login: 'pat' });
  assert.is(impostor.end.res.status, 403);
  const refused = await waitForAudit(g, (e) => e.success === false && e.payload.code === 'LOGIN_TAKEN', 2);
  assert.equal(refused.map((e) => e.actor.id).sort(), ['github:4242', 'github:999']);
  const renamed = await signIn({ id: 101, login: 'pat-renamed' });
  assert.match((await signedInAs(renamed.b))!, /^Pat /, 'the same GitHub user keeps the account after a rename');
});

test('sessions ended by suspension stay ended after activation; deletion ends them too', async () => {
  const { b } = await signIn({ id: 110, login: 'xena' });
  await g.gql('mutation { suspendUser(login: "xena") { state } }');
  await g.gql('mutation { activateUser(login: "xena") { state } }');
  assert.is((await me(b)).status, 401, 'an old session came back to life');
  const fresh = await signIn({ id: 110, login: 'xena' });
  assert.is((await me(fresh.b)).status, 200);
  await g.gql('mutation { deleteUser(login: "xena") }');
  assert.is((await me(fresh.b)).status, 401);
});

test("revoking an API token ends the sessions signed in with it, not the person's GitHub session", async () => {
  const { b } = await signIn({ id: 111, login: 'yara' });
  const graphql = async (query: string) =>
    (await (
      await b.visit(`${gyre}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', origin: gyre }, body: JSON.stringify({ query }) })
    ).res.json()) as Record<string, any>;
  const created = (await graphql('mutation { createApiToken(label: "cli") { token apiToken { id } } }')).data.createApiToken;
  const byToken = browser();
  assert.is(
    (
      await byToken.visit(`${gyre}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: gyre },
        body: JSON.stringify({ token: created.token }),
      })
    ).res.status,
    200,
  );
  assert.is(await signedInAs(byToken), 'yara (active)');
  assert.is((await graphql(`mutation { revokeApiToken(id: "${created.apiToken.id}") }`)).data.revokeApiToken, true);
  assert.is(await signedInAs(byToken), null, 'the session the token started ended with it');
  assert.is(await signedInAs(b), 'yara (active)', 'the GitHub session stays');
  assert.is((await me(b)).status, 200);
  // the admin's token, revoked, touches no one else's session either
  const admin = (await g.gql('mutation { createApiToken(label: "spare") { apiToken { id } } }')).body.data!.createApiToken.apiToken.id as string;
  await g.gql(`mutation { revokeApiToken(id: "${admin}") }`);
  assert.is(await signedInAs(b), 'yara (active)');
});

test('the login endpoints are rate-limited', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 32; i++) statuses.push((await fetch(`${gyre}/auth/github`, { redirect: 'manual' })).status);
  // the earlier tests' sign-ins count in the same minute: at most 30 get through, then every one is refused
  const first = statuses.indexOf(429);
  assert.ok(statuses[0] === 302 && first > 0 && first <= 30, statuses.join());
  assert.ok(
    statuses.slice(first).every((s) => s === 429),
    statuses.join(),
  );
});

test('without GYRE_PUBLIC_URL the callback is the address Gyre listens on, whatever Host the request names', async () => {
  // from an address of its own: the sign-ins above used up 127.0.0.1's login rate
  const r = await g.app.inject({ method: 'GET', url: '/auth/github', headers: { host: 'evil.example:8080' }, remoteAddress: '10.9.9.9' });
  assert.is(r.statusCode, 302, r.body);
  assert.is(new URL(r.headers.location as string).searchParams.get('redirect_uri'), `${gyre}/auth/github/callback`);
});

test('GYRE_PUBLIC_URL sets the callback address behind a proxy, whatever Host the request names, and the cookie is __Host- prefixed under https', async () => {
  const { createGyre } = await import('../app.ts');
  const { loadConfig } = await import('../config.ts');
  const { testDatabase } = await import('../../test/support/database.ts');
  const proxied = await createGyre(
    loadConfig({
      GYRE_DATA_DIR: g.dataDir,
      GYRE_LOG_LEVEL: 'silent',
      GYRE_PUBLIC_URL: 'https://ci.example.com',
      GYRE_GITHUB_URL: github.url,
      GYRE_GITHUB_CLIENT_ID: client.id,
      GYRE_GITHUB_CLIENT_SECRET: client.secret,
      // a second server of the same installation: the same log
      ...(g.services.config.GYRE_EVENTSTORE_URL ? { GYRE_EVENTSTORE_URL: g.services.config.GYRE_EVENTSTORE_URL } : {}),
    }),
    { db: testDatabase(), logger: false },
  );
  try {
    for (const headers of [{}, { host: 'evil.example' }, { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' }]) {
      const r = await proxied.app.inject({ method: 'GET', url: '/auth/github', headers });
      const location = new URL(r.headers.location as string);
      assert.is(location.origin, github.url);
      assert.is(location.searchParams.get('redirect_uri'), 'https://ci.example.com/auth/github/callback', JSON.stringify(headers));
    }
    // under https the session cookie is __Host- prefixed: Secure, Path=/, no Domain
    const token = await proxied.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { origin: 'https://ci.example.com', 'content-type': 'application/json' },
      payload: { token: g.adminToken },
    });
    assert.is(token.statusCode, 200, token.body);
    const set = String(token.headers['set-cookie']);
    assert.match(set, /^__Host-gyre_session=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    const cookie = set.split(';')[0]!;
    const session = await proxied.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie } });
    assert.is(session.json().signedIn, true);
    // the same session under the unprefixed name (a sibling host could set that one) does not count
    const tossed = await proxied.app.inject({ method: 'GET', url: '/auth/session', headers: { cookie: cookie.replace('__Host-', '') } });
    assert.is(tossed.json().signedIn, false);
  } finally {
    await proxied.close();
  }
});

test.run();
