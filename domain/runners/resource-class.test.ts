import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { eventRegistry } from '../events/catalog.ts';
import { ResourceClassName, resourceClassDecider, resourceClassStream, type RunnerEvent } from './resource-class.ts';

const test = suite('domain/runners/resource-class');

/** Every decided event is parsed by the registry: the store would take it. */
const spec = deciderSpec(resourceClassDecider, { registry: eventRegistry });
const { decide, then, state: given } = spec;
const hash = (c: string) => c.repeat(64);
const created: RunnerEvent = {
  type: 'runner.resource_class.create',
  data: { resourceClassId: 'rc1', resourceClass: 'acme/linux', namespace: 'acme', description: 'Linux amd64' },
};
const withToken = () =>
  spec
    .given([created])
    .when({ type: 'createToken', resourceClassId: 'rc1', tokenId: 't1', nickname: 'box-1', tokenHash: hash('a') })
    .history();

test('a class is created in its namespace, with no tokens', () => {
  spec.given([]).when({ type: 'create', resourceClassId: 'rc1', name: 'acme/linux', description: 'Linux amd64' }).then([created]);
  const events = decide([], { type: 'create', resourceClassId: 'rc1', name: 'acme/linux', description: 'Linux amd64' });
  assert.equal(given(events), { resourceClassId: 'rc1', name: 'acme/linux', description: 'Linux amd64', tokens: new Map() });
});

test('a name is taken once, whatever its case: one stream per lower-cased name', () => {
  spec.given([created]).when({ type: 'create', resourceClassId: 'rc2', name: 'acme/linux', description: '' }).thenThrows('RESOURCE_CLASS_EXISTS');
  assert.is(resourceClassStream('Acme/Linux'), resourceClassStream('acme/linux'));
});

test('names are namespace/name, or exactly docker or machine (the built-in fleets)', () => {
  for (const ok of ['acme/linux', 'my-org/macOS', 'a_b/c-d_1', 'docker', 'machine']) assert.ok(ResourceClassName.safeParse(ok).success, ok);
  for (const bad of [
    'linux',
    'acme/',
    '/linux',
    'acme/linux/x',
    'acme/li nux',
    '-acme/linux',
    'acme/lin@ux',
    'medium',
    'Docker',
    'MACHINE',
    'docker/',
    'dockers',
    'machine:medium',
    'docker:small',
  ])
    assert.not.ok(ResourceClassName.safeParse(bad).success, bad);
});

test('a token is recorded by its hash only; the audit payload shows neither hash nor token', () => {
  const [e] = decide([created], { type: 'createToken', resourceClassId: 'rc1', tokenId: 't1', nickname: 'box-1', tokenHash: hash('a') });
  assert.equal(e, {
    type: 'runner.token.create',
    data: { resourceClassId: 'rc1', resourceClass: 'acme/linux', tokenId: 't1', nickname: 'box-1', tokenHash: hash('a') },
  });
  assert.equal(eventRegistry.publicPayload(e!.type, e!.data), { resourceClassId: 'rc1', resourceClass: 'acme/linux', tokenId: 't1', nickname: 'box-1' });
  assert.throws(() => eventRegistry.parse('runner.token.create', { ...e!.data, tokenHash: 'gyre_clear-token' }), /does not match its schema/);
});

test('deleting a class that has tokens is refused, naming the way out', () => {
  const refusal = spec.given(withToken()).when({ type: 'delete', resourceClassId: 'rc1', force: false });
  refusal.thenThrows('RESOURCE_CLASS_HAS_TOKENS', /delete its tokens first/);
  refusal.thenThrows('RESOURCE_CLASS_HAS_TOKENS', /\/force/);
});

test('deleting the tokens, then the class, ends it', () => {
  let h = then(withToken(), { type: 'deleteToken', resourceClassId: 'rc1', tokenId: 't1' });
  assert.equal(h.slice(-1), [{ type: 'runner.token.delete', data: { resourceClassId: 'rc1', resourceClass: 'acme/linux', tokenId: 't1', nickname: 'box-1' } }]);
  h = then(h, { type: 'delete', resourceClassId: 'rc1', force: false });
  assert.is(given(h), null);
  spec
    .given(h)
    .when({ type: 'createToken', resourceClassId: 'rc1', tokenId: 't2', nickname: 'x', tokenHash: hash('b') })
    .thenThrows('RESOURCE_CLASS_NOT_FOUND');
});

test('a forced delete deletes the tokens with the class', () => {
  const events = decide(withToken(), { type: 'delete', resourceClassId: 'rc1', force: true });
  assert.equal(
    events.map((e) => e.type),
    ['runner.token.delete', 'runner.resource_class.delete'],
  );
});

test('a stale id, or a token the class lacks, is not found', () => {
  const recreated = then(then([created], { type: 'delete', resourceClassId: 'rc1', force: false }), {
    type: 'create',
    resourceClassId: 'rc2',
    name: 'acme/linux',
    description: '',
  });
  spec.given(recreated).when({ type: 'delete', resourceClassId: 'rc1', force: true }).thenThrows('RESOURCE_CLASS_NOT_FOUND');
  spec.given(withToken()).when({ type: 'deleteToken', resourceClassId: 'rc1', tokenId: 'nope' }).thenThrows('RUNNER_TOKEN_NOT_FOUND');
});

test.run();
