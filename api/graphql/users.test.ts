import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';

const test = suite('api: accounts, states and seats');
let g: TestGyre;

test.before(async () => {
  g = await startTestGyre();
});
test.after(async () => g.stop());

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const userFields = 'id login name state isAdmin createdAt lastLoginAt';
const seatsUsed = async () => (await g.gql('{ systemSettings { seatsUsed licenseSeats } }')).body.data!.systemSettings.seatsUsed as number;

test('suspending an account revokes its tokens at once and for good: activating does not bring them back', async () => {
  const grace = await g.createUser('grace');
  assert.is((await g.gql('{ me { login } }', {}, as(grace.token))).status, 200);
  const suspended = await g.gql(`mutation { suspendUser(login: "Grace") { ${userFields} } }`);
  assert.is(suspended.body.data!.suspendUser.state, 'SUSPENDED');
  const refused = await g.gql('{ me { login } }', {}, as(grace.token));
  assert.is(refused.status, 401);
  assert.match(refused.body.errors![0]!.message, /not valid/);
  const active = await g.gql('mutation { activateUser(login: "grace") { state } }');
  assert.is(active.body.data!.activateUser.state, 'ACTIVE');
  assert.is((await g.gql('{ me { login } }', {}, as(grace.token))).status, 401, 'the token stays revoked');
  const audit = await waitForAudit(g, (e) => ['user.suspend', 'user.activate'].includes(e.action) && e.payload.login === 'grace', 2);
  assert.equal(
    audit.map((e) => e.action),
    ['user.suspend', 'user.activate'],
  );
  assert.equal(audit[0]!.target, { id: grace.id, type: 'user', name: 'grace' });
});

test('approve makes an INACTIVE account that uses no seat; seats are refused past the licence with a clear error', async () => {
  const approved = await g.gql('mutation { approveUser(login: "heidi") { state isAdmin } }');
  assert.equal(approved.body.data!.approveUser, { state: 'INACTIVE', isAdmin: false });
  const used = await seatsUsed();
  await g.gql('mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }', { s: used });
  await g.gql('mutation { suspendUser(login: "grace") { state } }');
  const back = await g.gql('mutation { activateUser(login: "grace") { state } }');
  assert.is(back.body.data!.activateUser.state, 'ACTIVE', 'the seat grace freed is hers to take back');
  const full = await g.gql('mutation { approveUser(login: "ivan") { state } }');
  assert.is(full.body.errors?.[0]?.extensions?.code, 'SEATS_EXHAUSTED');
  assert.match(full.body.errors![0]!.message, new RegExp(`${used} in use and 1 reserved by approvals, of ${used}`));
  assert.is((await g.gql('{ user(login: "ivan") { login } }')).body.data!.user, null, 'a refused approval changes nothing');
  await g.gql('mutation { updateSystemSettings(input: {licenseSeats: null}) { licenseSeats } }');
});

test('two activations racing for the last seat: exactly one wins', async () => {
  await g.createUser('judy');
  await g.createUser('karl');
  await g.gql('mutation { suspendUser(login: "judy") { state } }');
  await g.gql('mutation { suspendUser(login: "karl") { state } }');
  const used = await seatsUsed();
  await g.gql('mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }', { s: used + 1 });
  const [a, b] = await Promise.all(['judy', 'karl'].map((login) => g.gql(`mutation { activateUser(login: "${login}") { state } }`)));
  const won = [a, b].filter((r) => r!.body.data?.activateUser?.state === 'ACTIVE');
  const lost = [a, b].filter((r) => r!.body.errors?.[0]?.extensions?.code === 'SEATS_EXHAUSTED');
  assert.is(won.length, 1);
  assert.is(lost.length, 1);
  assert.is(await seatsUsed(), used + 1);
  await g.gql('mutation { updateSystemSettings(input: {licenseSeats: null}) { licenseSeats } }');
});

test('deleting a user removes it from every read model and revokes its tokens; the audit history stays', async () => {
  const mallory = await g.createUser('mallory');
  assert.equal((await g.gql('mutation { deleteUser(login: "mallory") }')).body.data, { deleteUser: true });
  assert.is((await g.gql('{ me { login } }', {}, as(mallory.token))).status, 401);
  assert.is((await g.gql('{ user(login: "mallory") { login } }')).body.data!.user, null);
  assert.is((await g.services.db('api_tokens_v2').where({ user_id: mallory.id })).length, 0);
  const history = await waitForAudit(g, (e) => e.target.id === mallory.id, 3);
  assert.equal(
    history.map((e) => e.action),
    ['user.create', 'user.api_token.create', 'user.delete'],
  );
});

test('admin rights are granted and revoked; no one demotes or suspends themselves, and the last admin stays', async () => {
  const niaj = await g.createUser('niaj');
  assert.is((await g.gql('{ users { edges { node { login } } } }', {}, as(niaj.token))).status, 403);
  assert.is((await g.gql('mutation { grantAdmin(login: "niaj") { isAdmin } }')).body.data!.grantAdmin.isAdmin, true);
  assert.is((await g.gql('{ users(first: 1) { edges { node { login } } } }', {}, as(niaj.token))).status, 200);
  const self = await g.gql('mutation { revokeAdmin(login: "niaj") { isAdmin } }', {}, as(niaj.token));
  assert.is(self.body.errors?.[0]?.extensions?.code, 'SELF_REVOKE');
  assert.is((await g.gql('mutation { suspendUser(login: "admin") { state } }')).body.errors?.[0]?.extensions?.code, 'SELF_SUSPEND');
  assert.is((await g.gql('mutation { revokeAdmin(login: "niaj") { isAdmin } }')).body.data!.revokeAdmin.isAdmin, false);
  const last = await g.gql('mutation { revokeAdmin(login: "admin") { isAdmin } }', {}, as(g.adminToken));
  assert.is(last.body.errors?.[0]?.extensions?.code, 'SELF_REVOKE');
});

test('users lists by login, filters by state, and pages with cursors; bad logins are refused', async () => {
  const all = (await g.gql(`{ users(first: 500) { edges { node { login state } } } }`)).body.data!.users.edges.map((e: any) => e.node);
  const logins = all.map((u: any) => u.login);
  assert.equal([...logins].sort(), logins);
  const inactive = (await g.gql('{ users(state: INACTIVE) { edges { node { login state } } } }')).body.data!.users.edges.map((e: any) => e.node);
  assert.ok(inactive.length >= 1 && inactive.every((u: any) => u.state === 'INACTIVE'));
  const page1 = (await g.gql('{ users(first: 2) { edges { node { login } } pageInfo { hasNextPage endCursor } } }')).body.data!.users;
  const page2 = (await g.gql(`{ users(first: 2, after: "${page1.pageInfo.endCursor}") { edges { node { login } } } }`)).body.data!.users;
  assert.ok(page1.pageInfo.hasNextPage);
  assert.equal(
    [...page1.edges, ...page2.edges].map((e: any) => e.node.login),
    logins.slice(0, 4),
  );
  const bad = await g.gql('mutation { suspendUser(login: "not a login!") { state } }');
  assert.is(bad.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  const missing = await g.gql('mutation { suspendUser(login: "nobody-here") { state } }');
  assert.is(missing.body.errors?.[0]?.extensions?.code, 'USER_NOT_FOUND');
});

test.run();
