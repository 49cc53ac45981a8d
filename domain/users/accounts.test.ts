import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { eventRegistry } from '../events/catalog.ts';
import { accountDecider, rosterDelta, type AccountEvent, type UserState } from './accounts.ts';
import { githubIdentityDecider } from './github-identity.ts';
import { rosterDecider, type PendingChange, type RosterEvent } from './roster.ts';

const test = suite('domain/users/accounts');
const spec = deciderSpec(accountDecider, { registry: eventRegistry });
const roster = deciderSpec(rosterDecider, { registry: eventRegistry });
const { decide } = spec;
const created = (login: string, state: UserState = 'ACTIVE', isAdmin = false, githubId: number | null = null): AccountEvent => ({
  type: 'user.create',
  data: { userId: `id-${login}`, login, name: login, state, isAdmin, githubId },
});
const hash = 'a'.repeat(64);

test('an account is created once; a deleted login can be taken again', () => {
  spec
    .given([])
    .when({ type: 'create', userId: 'u', login: 'Ann', name: 'Ann', state: 'ACTIVE', isAdmin: false })
    .then([{ type: 'user.create', data: { userId: 'u', login: 'Ann', name: 'Ann', state: 'ACTIVE', isAdmin: false, githubId: null } }]);
  spec
    .given([created('Ann')])
    .when({ type: 'create', userId: 'u2', login: 'ann', name: 'x', state: 'ACTIVE', isAdmin: false })
    .thenThrows('USER_EXISTS');
  const deleted = [created('ann'), { type: 'user.delete', data: { userId: 'id-ann', login: 'ann' } } as AccountEvent];
  assert.equal(
    decide(deleted, { type: 'approve', userId: 'n', login: 'ann' }).map((e) => e.type),
    ['user.approve'],
  );
});

test('approve makes an INACTIVE account for a login that has none; only suspended accounts are activated', () => {
  const approved: AccountEvent[] = [{ type: 'user.approve', data: { userId: 'n', login: 'Newbie' } }];
  assert.is(spec.state(approved).account?.state, 'INACTIVE');
  spec
    .given([created('x')])
    .when({ type: 'approve', userId: 'n', login: 'X' })
    .thenThrows('USER_EXISTS');
  spec.given(approved).when({ type: 'activate', login: 'newbie' }).thenThrows('USER_NOT_SUSPENDED');
  spec
    .given([created('b', 'SUSPENDED')])
    .when({ type: 'activate', login: 'b' })
    .then([{ type: 'user.activate', data: { userId: 'id-b', login: 'b' } }]);
  spec
    .given([created('b')])
    .when({ type: 'activate', login: 'b' })
    .then([]);
});

test('no one suspends, deletes or demotes themselves', () => {
  const root = [created('root', 'ACTIVE', true)];
  spec.given(root).when({ type: 'suspend', login: 'root', by: 'id-root' }).thenThrows('SELF_SUSPEND');
  spec.given(root).when({ type: 'delete', login: 'root', by: 'id-root' }).thenThrows('SELF_DELETE');
  spec.given(root).when({ type: 'revokeAdmin', login: 'root', by: 'id-root' }).thenThrows('SELF_REVOKE');
  spec.given(root).when({ type: 'grantAdmin', login: 'root' }).then([], 'granting what is held changes nothing');
  spec
    .given([created('n', 'SUSPENDED_NEW')])
    .when({ type: 'suspend', login: 'n', by: 'x' })
    .then([]);
  spec
    .given([])
    .when({ type: 'suspend', login: 'ghost', by: 'x' })
    .thenThrows('USER_NOT_FOUND', /no user ghost/);
});

test('suspended accounts get no token; a token is revoked once, only by its owner; deleting forgets tokens', () => {
  const token = { tokenId: 't', label: 'l', tokenHash: hash };
  spec
    .given([created('s', 'SUSPENDED')])
    .when({ type: 'createApiToken', userId: 'id-s', token })
    .thenThrows('USER_SUSPENDED');
  spec
    .given([created('a')])
    .when({ type: 'createApiToken', userId: 'id-other', token })
    .thenThrows('USER_NOT_FOUND');
  const withToken = spec
    .given([created('a')])
    .when({ type: 'createApiToken', userId: 'id-a', token })
    .history();
  spec.given(withToken).when({ type: 'revokeApiToken', userId: 'id-b', tokenId: 't' }).thenThrows('TOKEN_NOT_FOUND');
  const revoked = spec.given(withToken).when({ type: 'revokeApiToken', userId: 'id-a', tokenId: 't' }).history();
  spec.given(revoked).when({ type: 'revokeApiToken', userId: 'id-a', tokenId: 't' }).thenThrows('TOKEN_NOT_FOUND');
  const deleted = spec.then(withToken, { type: 'delete', login: 'a', by: 'someone' });
  spec.given(deleted).when({ type: 'revokeApiToken', userId: 'id-a', tokenId: 't' }).thenThrows('TOKEN_NOT_FOUND');
});

test('suspending revokes every token of the account, for good: activating it again brings none back', () => {
  const withTokens = spec
    .given([created('a')])
    .when({ type: 'createApiToken', userId: 'id-a', token: { tokenId: 't1', label: 'l', tokenHash: hash } })
    .history();
  const both = spec.then(withTokens, { type: 'createApiToken', userId: 'id-a', token: { tokenId: 't2', label: 'l', tokenHash: hash } });
  assert.equal(
    decide(both, { type: 'suspend', login: 'a', by: 'x' }).map((e) => [e.type, (e.data as { tokenId?: string }).tokenId]),
    [
      ['user.suspend', undefined],
      ['user.api_token.revoke', 't1'],
      ['user.api_token.revoke', 't2'],
    ],
  );
  const reactivated = spec.then(spec.then(both, { type: 'suspend', login: 'a', by: 'x' }), { type: 'activate', login: 'a' });
  spec.given(reactivated).when({ type: 'revokeApiToken', userId: 'id-a', tokenId: 't1' }).thenThrows('TOKEN_NOT_FOUND');
});

const settings = { suspendNewUsers: false, requiredOrgMembership: [] as string[] };
const signIn = (login: string, githubId: number, s = settings) => ({
  type: 'signIn' as const,
  userId: 'new-id',
  githubId,
  login,
  name: login,
  orgs: [],
  settings: s,
});

test("sign-in follows GitHub ids: a local account or another person's login is never taken over", () => {
  spec
    .given([created('admin', 'ACTIVE', true)])
    .when(signIn('admin', 4242))
    .thenThrows('LOGIN_TAKEN');
  spec
    .given([created('pat', 'ACTIVE', false, 7)])
    .when(signIn('pat', 8))
    .thenThrows('LOGIN_TAKEN');
  spec
    .given([created('pat', 'ACTIVE', false, 7)])
    .when(signIn('pat-renamed', 7))
    .then([], 'a renamed GitHub user is still the same account');
  const approved: AccountEvent[] = [{ type: 'user.approve', data: { userId: 'a1', login: 'newbie' } }];
  spec
    .given(approved)
    .when(signIn('NewBie', 99))
    .then([{ type: 'user.activate', data: { userId: 'a1', login: 'newbie', githubId: 99 } }]);
  const bound = spec.then(approved, signIn('newbie', 99));
  spec.given(bound).when(signIn('newbie', 100)).thenThrows('LOGIN_TAKEN');
  spec
    .given([])
    .when(signIn('eve', 5, { suspendNewUsers: false, requiredOrgMembership: ['acme'] }))
    .thenThrows('ORG_MEMBERSHIP_REQUIRED', /acme/);
  assert.is((decide([], signIn('eve', 5, { suspendNewUsers: true, requiredOrgMembership: [] }))[0]!.data as { state: string }).state, 'SUSPENDED_NEW');
});

test('the roster delta of a change: seats, approvals and active admins, before against after', () => {
  const delta = (history: AccountEvent[], events: AccountEvent[]) => rosterDelta(spec.state(history), events);
  assert.equal(delta([], [created('a')]), { seats: 1, reserved: 0, admins: 0 });
  assert.equal(delta([], [created('a', 'SUSPENDED_NEW')]), { seats: 0, reserved: 0, admins: 0 });
  assert.equal(delta([], [{ type: 'user.approve', data: { userId: 'x', login: 'x' } }]), { seats: 0, reserved: 1, admins: 0 });
  const approved: AccountEvent[] = [{ type: 'user.approve', data: { userId: 'x', login: 'x' } }];
  assert.equal(delta(approved, decide(approved, signIn('x', 1))), { seats: 1, reserved: -1, admins: 0 });
  const admin = [created('r', 'ACTIVE', true)];
  assert.equal(delta(admin, decide(admin, { type: 'suspend', login: 'r', by: 'x' })), { seats: -1, reserved: 0, admins: -1 });
  assert.equal(delta(admin, decide(admin, { type: 'revokeAdmin', login: 'r', by: 'x' })), { seats: 0, reserved: 0, admins: -1 });
  assert.equal(delta([created('s', 'SUSPENDED', true)], decide([created('s', 'SUSPENDED', true)], { type: 'revokeAdmin', login: 's', by: 'x' })), {
    seats: 0,
    reserved: 0,
    admins: 0,
  });
});

const change = (id: string, delta: PendingChange['delta'], login = id): PendingChange => ({
  id,
  login,
  accountRevision: -1,
  delta,
  events: [{ id: `e-${id}`, type: 'user.create', data: {}, metadata: {} }],
});
const seat = { seats: 1, reserved: 0, admins: 0 };

test('the roster: a pending seat counts as taken; the last seat goes once, with the numbers in the refusal', () => {
  const one = roster
    .given([])
    .when({ type: 'reserve', change: change('a', seat), seats: 2 })
    .history();
  assert.is(roster.state(one).seatsUsed, 1);
  const two = roster.then(one, { type: 'reserve', change: change('b', seat), seats: 2 });
  roster
    .given(two)
    .when({ type: 'reserve', change: change('c', seat), seats: 2 })
    .thenThrows('SEATS_EXHAUSTED', /2 of 2 in use/);
  roster
    .given(two)
    .when({ type: 'reserve', change: change('c', seat), seats: null })
    .events();
  roster
    .given(two)
    .when({ type: 'reserve', change: change('c', { seats: 0, reserved: 1, admins: 0 }), seats: 2 })
    .thenThrows('SEATS_EXHAUSTED', /2 in use and 0 reserved by approvals, of 2/);
});

test('the roster: a change settled done keeps what it took and gives back what it frees; void gives back what it took', () => {
  const taken = roster.run({ type: 'reserve', change: change('a', seat), seats: 1 });
  const done = roster.then(taken.history, { type: 'settle', id: 'a', outcome: 'done' });
  assert.equal(roster.state(done), { seatsUsed: 1, reserved: 0, activeAdmins: 0, pending: [] });
  roster.given(done).when({ type: 'settle', id: 'a', outcome: 'void' }).then([], 'a change is settled once');
  const undone = roster.then(taken.history, { type: 'settle', id: 'a', outcome: 'void' });
  assert.equal(roster.state(undone), { seatsUsed: 0, reserved: 0, activeAdmins: 0, pending: [] });
  // a suspension frees its seat only once it is done: until then no one else can take it
  const suspension = roster.then(done, { type: 'reserve', change: change('s', { seats: -1, reserved: 0, admins: 0 }, 'a'), seats: 1 });
  assert.is(roster.state(suspension).seatsUsed, 1);
  roster
    .given(suspension)
    .when({ type: 'reserve', change: change('b', seat), seats: 1 })
    .thenThrows('SEATS_EXHAUSTED');
  assert.is(roster.state(roster.then(suspension, { type: 'settle', id: 's', outcome: 'done' })).seatsUsed, 0);
});

test('the roster: the last active admin stays, counting demotions still pending as done', () => {
  const admin = { seats: 1, reserved: 0, admins: 1 };
  const two = roster.run(
    { type: 'reserve', change: change('a', admin), seats: null },
    { type: 'settle', id: 'a', outcome: 'done' },
    { type: 'reserve', change: change('b', admin), seats: null },
    { type: 'settle', id: 'b', outcome: 'done' },
  );
  const demote = { seats: 0, reserved: 0, admins: -1 };
  const oneLeaving = roster.then(two.history, { type: 'reserve', change: change('x', demote, 'a'), seats: null });
  roster
    .given(oneLeaving)
    .when({ type: 'reserve', change: change('y', demote, 'b'), seats: null })
    .thenThrows('LAST_ADMIN', /b is the last active admin/);
});

test('the roster event carries the whole roster, so its last event alone decides', () => {
  const { history } = roster.run(
    { type: 'reserve', change: change('a', seat), seats: null },
    { type: 'reserve', change: change('b', seat), seats: null },
    { type: 'settle', id: 'a', outcome: 'done' },
  );
  assert.equal(roster.state(history.slice(-1) as RosterEvent[]), roster.state(history));
  roster.given(history).when({ type: 'import', seatsUsed: 1, reserved: 0, activeAdmins: 1 }).thenThrows('ROSTER_EXISTS');
});

test('a GitHub user claims an account once; a new claim replaces one that went nowhere', () => {
  const ids = deciderSpec(githubIdentityDecider, { registry: eventRegistry });
  const claimed = ids.given([]).when({ type: 'claim', githubId: 7, userId: 'u1', login: 'pat' }).history();
  ids.given(claimed).when({ type: 'claim', githubId: 7, userId: 'u1', login: 'Pat' }).then([]);
  ids
    .given(claimed)
    .when({ type: 'claim', githubId: 7, userId: 'u2', login: 'pat' })
    .then([{ type: 'github_user.claim', data: { githubId: 7, userId: 'u2', login: 'pat' } }]);
});

test('audit: the roster shows its counts and the change, never the pending envelopes', () => {
  const [e] = roster.decide([], { type: 'reserve', change: change('a', seat), seats: null });
  const shown = eventRegistry.publicPayload(e!.type, e!.data);
  assert.equal(Object.keys(shown).sort(), ['activeAdmins', 'change', 'reserved', 'seatsUsed']);
});

test.run();
