import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fold } from '../decider.ts';
import { GyreError } from '../errors.ts';
import { eventRegistry } from '../events/catalog.ts';
import { ResourceClassName, resourceClassDecider, resourceClassStream, type RunnerCommand, type RunnerEvent } from './resource-class.ts';

const test = suite('domain/runners/resource-class');

const given = (history: RunnerEvent[]) => fold(resourceClassDecider, history);
const decide = (history: RunnerEvent[], c: RunnerCommand) => resourceClassDecider.decide(c, given(history));
const then = (history: RunnerEvent[], c: RunnerCommand) => [...history, ...decide(history, c)];
const refusedWith = (code: string) => (e: unknown) => e instanceof GyreError && e.code === code;
const valid = (events: RunnerEvent[]) => {
  for (const e of events) eventRegistry.parse(e.type, e.data);
  return events;
};
const hash = (c: string) => c.repeat(64);
const created: RunnerEvent = { type: 'runner.resource_class.create', data: { resourceClassId: 'rc1', resourceClass: 'acme/linux', namespace: 'acme', description: 'Linux amd64' } };
const withToken = () => then([created], { type: 'createToken', resourceClassId: 'rc1', tokenId: 't1', nickname: 'box-1', tokenHash: hash('a') });

test('a class is created in its namespace, with no tokens', () => {
  const events = valid(decide([], { type: 'create', resourceClassId: 'rc1', name: 'acme/linux', description: 'Linux amd64' }));
  assert.equal(events, [created]);
  assert.equal(given(events), { resourceClassId: 'rc1', name: 'acme/linux', description: 'Linux amd64', tokens: new Map() });
});

test('a name is taken once, whatever its case: one stream per lower-cased name', () => {
  assert.throws(() => decide([created], { type: 'create', resourceClassId: 'rc2', name: 'acme/linux', description: '' }), refusedWith('RESOURCE_CLASS_EXISTS'));
  assert.is(resourceClassStream('Acme/Linux'), resourceClassStream('acme/linux'));
});

test('names are namespace/name, or exactly docker or machine (the built-in fleets)', () => {
  for (const ok of ['acme/linux', 'my-org/macOS', 'a_b/c-d_1', 'docker', 'machine']) assert.ok(ResourceClassName.safeParse(ok).success, ok);
  for (const bad of ['linux', 'acme/', '/linux', 'acme/linux/x', 'acme/li nux', '-acme/linux', 'acme/lin@ux', 'medium', 'Docker', 'MACHINE', 'docker/', 'dockers', 'machine:medium', 'docker:small']) assert.not.ok(ResourceClassName.safeParse(bad).success, bad);
});

test('a token is recorded by its hash only; the audit payload shows neither hash nor token', () => {
  const [e] = valid(decide([created], { type: 'createToken', resourceClassId: 'rc1', tokenId: 't1', nickname: 'box-1', tokenHash: hash('a') }));
  assert.equal(e, { type: 'runner.token.create', data: { resourceClassId: 'rc1', resourceClass: 'acme/linux', tokenId: 't1', nickname: 'box-1', tokenHash: hash('a') } });
  assert.equal(eventRegistry.publicPayload(e!.type, e!.data), { resourceClassId: 'rc1', resourceClass: 'acme/linux', tokenId: 't1', nickname: 'box-1' });
  assert.throws(() => eventRegistry.parse('runner.token.create', { ...e!.data, tokenHash: 'gyre_clear-token' }), /does not match its schema/);
});

test('deleting a class that has tokens is refused, naming the way out', () => {
  assert.throws(
    () => decide(withToken(), { type: 'delete', resourceClassId: 'rc1', force: false }),
    (e: unknown) => refusedWith('RESOURCE_CLASS_HAS_TOKENS')(e) && /delete its tokens first/.test(String(e)) && /\/force/.test(String(e)),
  );
});

test('deleting the tokens, then the class, ends it', () => {
  let h = then(withToken(), { type: 'deleteToken', resourceClassId: 'rc1', tokenId: 't1' });
  assert.equal(valid(h.slice(-1)), [{ type: 'runner.token.delete', data: { resourceClassId: 'rc1', resourceClass: 'acme/linux', tokenId: 't1', nickname: 'box-1' } }]);
  h = then(h, { type: 'delete', resourceClassId: 'rc1', force: false });
  assert.is(given(h), null);
  assert.throws(() => decide(h, { type: 'createToken', resourceClassId: 'rc1', tokenId: 't2', nickname: 'x', tokenHash: hash('b') }), refusedWith('RESOURCE_CLASS_NOT_FOUND'));
});

test('a forced delete deletes the tokens with the class', () => {
  const events = valid(decide(withToken(), { type: 'delete', resourceClassId: 'rc1', force: true }));
  assert.equal(events.map((e) => e.type), ['runner.token.delete', 'runner.resource_class.delete']);
});

test('a stale id, or a token the class lacks, is not found', () => {
  const recreated = then(then([created], { type: 'delete', resourceClassId: 'rc1', force: false }), { type: 'create', resourceClassId: 'rc2', name: 'acme/linux', description: '' });
  assert.throws(() => decide(recreated, { type: 'delete', resourceClassId: 'rc1', force: true }), refusedWith('RESOURCE_CLASS_NOT_FOUND'));
  assert.throws(() => decide(withToken(), { type: 'deleteToken', resourceClassId: 'rc1', tokenId: 'nope' }), refusedWith('RUNNER_TOKEN_NOT_FOUND'));
});

test.run();
