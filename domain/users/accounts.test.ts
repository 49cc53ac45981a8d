import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec, refusedWith } from '../../test/support/decider-spec.ts';
import { eventRegistry } from '../events/catalog.ts';
import { accountsDecider, seatsUsed, type AccountEvent, type UserState } from './accounts.ts';

const test = suite('domain/users/accounts');
const spec = deciderSpec(accountsDecider, { registry: eventRegistry });
const { decide } = spec;
const created = (login: string, state: UserState = 'ACTIVE', isAdmin = false, githubId: number | null = null): AccountEvent => ({ type: 'user.create', data: { userId: `id-${login}`, login, name: login, state, isAdmin, githubId } });
const hash = 'a'.repeat(64);

test('a user is created once; logins compare case-insensitively', () => {
  assert.equal(decide([], { type: 'create', userId: 'u', login: 'Ann', name: 'Ann', state: 'ACTIVE', isAdmin: false, seats: null }).map((e) => e.type), ['user.create']);
  assert.throws(() => decide([created('Ann')], { type: 'create', userId: 'u2', login: 'ann', name: 'x', state: 'ACTIVE', isAdmin: false, seats: null }), refusedWith('USER_EXISTS'));
});

test('only ACTIVE accounts use seats; activating or approving past the licence is refused with the numbers', () => {
  const history = [created('a'), created('b', 'SUSPENDED'), created('c', 'INACTIVE'), created('d', 'SUSPENDED_NEW')];
  assert.is(seatsUsed(spec.state(history)), 1);
  assert.equal(decide(history, { type: 'activate', login: 'b', seats: 2 }), [{ type: 'user.activate', data: { userId: 'id-b', login: 'b' } }]);
  const full = [...history, { type: 'user.activate', data: { userId: 'id-b', login: 'b' } } as AccountEvent];
  assert.throws(() => decide(full, { type: 'activate', login: 'D', seats: 2 }), refusedWith('SEATS_EXHAUSTED', /2 of 2 in use/));
  assert.throws(() => decide(full, { type: 'approve', userId: 'n', login: 'newbie', seats: 2 }), refusedWith('SEATS_EXHAUSTED'));
  assert.equal(decide(full, { type: 'approve', userId: 'n', login: 'newbie', seats: null }), [{ type: 'user.approve', data: { userId: 'n', login: 'newbie' } }]);
});

test('approve creates an INACTIVE account for a login that has none', () => {
  const after = spec.state([{ type: 'user.approve', data: { userId: 'n', login: 'Newbie' } }]);
  assert.is(after.byLogin.get('newbie')?.state, 'INACTIVE');
  assert.throws(() => decide([created('x')], { type: 'approve', userId: 'n', login: 'X', seats: null }), refusedWith('USER_EXISTS'));
  assert.throws(() => decide([{ type: 'user.approve', data: { userId: 'n', login: 'n' } }], { type: 'activate', login: 'n', seats: null }), refusedWith('USER_NOT_SUSPENDED'));
});

test('admins cannot suspend, delete or demote themselves, and the last admin stays', () => {
  const history = [created('root', 'ACTIVE', true), created('bob')];
  assert.throws(() => decide(history, { type: 'suspend', login: 'root', by: 'id-root' }), refusedWith('SELF_SUSPEND'));
  assert.throws(() => decide(history, { type: 'delete', login: 'root', by: 'id-root' }), refusedWith('SELF_DELETE'));
  assert.throws(() => decide(history, { type: 'revokeAdmin', login: 'root', by: 'id-bob' }), refusedWith('LAST_ADMIN'));
  const two = [...history, { type: 'user.admin.grant', data: { userId: 'id-bob', login: 'bob' } } as AccountEvent];
  assert.equal(decide(two, { type: 'revokeAdmin', login: 'root', by: 'id-bob' }).map((e) => e.type), ['user.admin.revoke']);
  assert.equal(decide(history, { type: 'grantAdmin', login: 'root' }), [], 'granting what is held changes nothing');
});

test('suspended accounts get no token; deleting an account forgets its tokens', () => {
  const token = { tokenId: 't', label: 'l', tokenHash: hash };
  assert.throws(() => decide([created('s', 'SUSPENDED')], { type: 'createApiToken', userId: 'id-s', token }), refusedWith('USER_SUSPENDED'));
  const withToken = [created('a'), ...decide([created('a')], { type: 'createApiToken', userId: 'id-a', token })];
  const deleted = [...withToken, ...decide(withToken, { type: 'delete', login: 'a', by: 'someone' })];
  assert.throws(() => decide(deleted, { type: 'revokeApiToken', userId: 'id-a', tokenId: 't' }), refusedWith('TOKEN_NOT_FOUND'));
  assert.throws(() => decide(deleted, { type: 'suspend', login: 'a', by: 'x' }), refusedWith('USER_NOT_FOUND'));
});

test('a token is revoked once, and only by its owner', () => {
  const token = { tokenId: 't1', label: 'ci', tokenHash: hash };
  const history = [created('a'), created('b'), { type: 'user.api_token.create', data: { userId: 'id-a', ...token } } as AccountEvent];
  assert.throws(() => decide(history, { type: 'revokeApiToken', userId: 'id-b', tokenId: 't1' }), refusedWith('TOKEN_NOT_FOUND'));
  const revoked = [...history, ...decide(history, { type: 'revokeApiToken', userId: 'id-a', tokenId: 't1' })];
  assert.throws(() => decide(revoked, { type: 'revokeApiToken', userId: 'id-a', tokenId: 't1' }), refusedWith('TOKEN_NOT_FOUND'));
});

const signIn = (history: AccountEvent[], login: string, githubId: number, settings = { suspendNewUsers: false, requiredOrgMembership: [] as string[], licenseSeats: null as number | null }) =>
  decide(history, { type: 'signIn', userId: 'new-id', githubId, login, name: login, orgs: [], settings });

test('sign-in follows GitHub ids: a local account or another person\'s login is never taken over', () => {
  const local = [created('admin', 'ACTIVE', true)];
  assert.throws(() => signIn(local, 'admin', 4242), refusedWith('LOGIN_TAKEN'));
  const pat = [created('pat', 'ACTIVE', false, 7)];
  assert.throws(() => signIn(pat, 'pat', 8), refusedWith('LOGIN_TAKEN'));
  assert.equal(signIn(pat, 'pat-renamed', 7), [], 'a renamed GitHub user is still the same account');
  const approved: AccountEvent[] = [{ type: 'user.approve', data: { userId: 'a1', login: 'newbie' } }];
  assert.equal(signIn(approved, 'NewBie', 99), [{ type: 'user.activate', data: { userId: 'a1', login: 'newbie', githubId: 99 } }]);
  const bound = [...approved, ...signIn(approved, 'newbie', 99)];
  assert.throws(() => signIn(bound, 'newbie', 100), refusedWith('LOGIN_TAKEN'));
});

test('an approval reserves the seat its first login will take', () => {
  const history = [created('a'), { type: 'user.approve', data: { userId: 'b', login: 'b' } } as AccountEvent];
  assert.throws(() => decide(history, { type: 'approve', userId: 'c', login: 'c', seats: 2 }), refusedWith('SEATS_EXHAUSTED', /1 reserved/));
});

test('suspending a SUSPENDED_NEW account changes nothing', () => {
  assert.equal(decide([created('n', 'SUSPENDED_NEW')], { type: 'suspend', login: 'n', by: 'x' }), []);
});

test.run();
