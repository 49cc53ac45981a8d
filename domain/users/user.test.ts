import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fold } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { userDecider, type UserCommand, type UserEvent } from './user.ts';

const test = suite('domain/users/user');
const decide = (history: UserEvent[], command: UserCommand) => userDecider.decide(command, fold(userDecider, history));
const created: UserEvent = { type: 'user.create', data: { userId: 'u1', login: 'admin', name: 'Admin', state: 'ACTIVE', isAdmin: true } };
const hash = 'a'.repeat(64);

test('creating a user yields user.create', () => {
  const events = decide([], { type: 'create', userId: 'u1', login: 'admin', name: 'Admin', state: 'ACTIVE', isAdmin: true });
  assert.equal(events, [created]);
});

test('a user cannot be created twice', () => {
  assert.throws(() => decide([created], { type: 'create', userId: 'u1', login: 'admin', name: 'A', state: 'ACTIVE', isAdmin: false }), (e: unknown) => e instanceof DomainError && e.code === 'USER_EXISTS');
});

test('a token is recorded by its hash and label only', () => {
  const [e] = decide([created], { type: 'createApiToken', tokenId: 't1', label: 'ci', tokenHash: hash });
  assert.equal(e, { type: 'user.api_token.create', data: { tokenId: 't1', label: 'ci', tokenHash: hash } });
  assert.equal(fold(userDecider, [created, e!]), { exists: true, userId: 'u1', login: 'admin', state: 'ACTIVE', isAdmin: true, tokenIds: ['t1'] });
});

test('no token for a missing or suspended user', () => {
  assert.throws(() => decide([], { type: 'createApiToken', tokenId: 't', label: 'x', tokenHash: hash }), /no such user/);
  const suspended: UserEvent = { type: 'user.create', data: { ...created.data, state: 'SUSPENDED' } };
  assert.throws(() => decide([suspended], { type: 'createApiToken', tokenId: 't', label: 'x', tokenHash: hash }), /suspended/);
});

test('a user can be created with its first token, in one decision', () => {
  const events = decide([], { type: 'create', userId: 'u1', login: 'admin', name: 'Admin', state: 'ACTIVE', isAdmin: true, token: { tokenId: 't1', label: 'first', tokenHash: hash } });
  assert.equal(events.map((e) => e.type), ['user.create', 'user.api_token.create']);
});

test('a token can be revoked once, and only by its owner', () => {
  const token: UserEvent = { type: 'user.api_token.create', data: { tokenId: 't1', label: 'ci', tokenHash: hash } };
  assert.equal(decide([created, token], { type: 'revokeApiToken', tokenId: 't1' }), [{ type: 'user.api_token.revoke', data: { tokenId: 't1' } }]);
  const revoked: UserEvent = { type: 'user.api_token.revoke', data: { tokenId: 't1' } };
  assert.throws(() => decide([created, token, revoked], { type: 'revokeApiToken', tokenId: 't1' }), (e: unknown) => e instanceof DomainError && e.code === 'TOKEN_NOT_FOUND');
  assert.throws(() => decide([created], { type: 'revokeApiToken', tokenId: 'someone-elses' }), /no active API token/);
});

test.run();
