import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, waitForAudit, type TestGyre, loggedEvents } from '../../test/support/gyre.ts';

const test = suite('api: personal API tokens, me, and CircleCI GET /api/v2/me');
let g: TestGyre;
let frank: { id: string; token: string };

test.before(async () => {
  g = await startTestGyre();
  frank = await g.createUser('frank');
});
test.after(async () => g.stop());

const as = (token: string) => ({ authorization: `Bearer ${token}` });

test('me is the signed-in user', async () => {
  const r = await g.gql('{ me { id login name state isAdmin createdAt lastLoginAt } }', {}, as(frank.token));
  assert.equal(r.body.data?.me, {
    id: frank.id,
    login: 'frank',
    name: 'frank',
    state: 'ACTIVE',
    isAdmin: false,
    createdAt: r.body.data?.me.createdAt,
    lastLoginAt: null,
  });
  assert.match(r.body.data?.me.createdAt, /^\d{4}-\d\d-\d\dT/);
});

test('a token is shown once, listed without its value, works, records its last use, and stops working when revoked', async () => {
  const created = await g.gql('mutation { createApiToken(label: " laptop ") { token apiToken { id label createdAt lastUsedAt } } }', {}, as(frank.token));
  const { token, apiToken } = created.body.data!.createApiToken;
  assert.match(token, /^gyre_[A-Za-z0-9_-]{43}$/);
  assert.is(apiToken.label, 'laptop');
  assert.is(apiToken.lastUsedAt, null);
  const listed = await g.gql('{ apiTokens { id label lastUsedAt } }', {}, as(token));
  assert.ok(listed.body.data!.apiTokens.some((t: any) => t.id === apiToken.id));
  assert.not.ok(JSON.stringify(listed.body).includes(token), 'the token value was listed');
  const again = await g.gql('{ apiTokens { id lastUsedAt } }', {}, as(frank.token));
  assert.match(again.body.data!.apiTokens.find((t: any) => t.id === apiToken.id).lastUsedAt, /^\d{4}-/, 'last use recorded');
  const revoked = await g.gql('mutation($id: ID!) { revokeApiToken(id: $id) }', { id: apiToken.id }, as(frank.token));
  assert.equal(revoked.body.data, { revokeApiToken: true });
  const refused = await g.gql('{ me { login } }', {}, as(token));
  assert.is(refused.status, 401);
  const audit = await waitForAudit(g, (e) => e.action === 'user.api_token.revoke' && e.success);
  assert.equal(audit[0]!.payload, { userId: frank.id, tokenId: apiToken.id });
  const events = await loggedEvents(g);
  assert.not.ok(JSON.stringify(events).includes(token), 'the token in clear text in the event log');
});

test('no one revokes another user’s token, and bad labels are refused', async () => {
  const admin = await g.gql('{ apiTokens { id } }');
  const adminTokenId = admin.body.data!.apiTokens[0].id;
  const r = await g.gql('mutation($id: ID!) { revokeApiToken(id: $id) }', { id: adminTokenId }, as(frank.token));
  assert.is(r.body.errors?.[0]?.extensions?.code, 'TOKEN_NOT_FOUND');
  assert.is((await g.gql('{ me { login } }')).body.data?.me.login, 'admin', 'the admin token still works');
  for (const label of ['', '   ', 'x'.repeat(201)]) {
    const bad = await g.gql('mutation($l: String!) { createApiToken(label: $l) { token } }', { l: label }, as(frank.token));
    assert.is(bad.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  }
});

test('GET /api/v2/me answers CircleCI’s User shape, with Circle-Token or Bearer', async () => {
  const r = await g.app.inject({ method: 'GET', url: '/api/v2/me', headers: { 'circle-token': frank.token } });
  assert.is(r.statusCode, 200);
  assert.equal(r.json(), { id: frank.id, login: 'frank', name: 'frank' });
  const anonymous = await g.app.inject({ method: 'GET', url: '/api/v2/me' });
  assert.is(anonymous.statusCode, 401);
  assert.match(anonymous.json().message, /authentication required/);
});

test('token creation is rate-limited per user, with a clear error, and audited', async () => {
  const rate = await g.createUser('rachel');
  const codes: Array<string | undefined> = [];
  for (let i = 0; i < 11; i++) {
    const r = await g.gql('mutation { createApiToken(label: "burst") { token } }', {}, as(rate.token));
    codes.push(r.body.errors?.[0]?.extensions?.code);
  }
  assert.equal(codes.slice(0, 10), Array(10).fill(undefined));
  assert.is(codes[10], 'RATE_LIMITED');
  const refused = await waitForAudit(g, (e) => e.action === 'user.api_token.create' && e.success === false && e.payload.code === 'RATE_LIMITED');
  assert.is(refused.length, 1);
});

test.run();
