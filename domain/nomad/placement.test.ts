import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { eventRegistry } from '../events/catalog.ts';
import { classMatches, servedByNomad } from './classes.ts';
import { type PlacementCommand, placementDecider } from './placement.ts';

const test = suite('domain/nomad');
const spec = deciderSpec(placementDecider, { registry: eventRegistry });
const submit: PlacementCommand = {
  type: 'submit',
  jobId: 'j1',
  taskIndex: 0,
  name: 'build',
  resourceClass: 'docker:medium',
  tokenHash: 'h1',
  sealedToken: 's1',
};
const ids = { jobId: 'j1', taskIndex: 0, name: 'build', nomadJobId: 'gyre-j1-0' };

test('a placement: submitted once, its Nomad job named after the task; a second submit (another token) changes nothing', () => {
  spec
    .given([])
    .when(submit)
    .then([{ type: 'nomad.job.submit', data: { ...ids, resourceClass: 'docker:medium', tokenHash: 'h1', sealedToken: 's1' } }]);
  const { history } = spec.run(submit);
  spec
    .given(history)
    .when({ ...submit, tokenHash: 'h2', sealedToken: 's2' })
    .then([]);
  // nothing but a submit starts a placement
  spec.given([]).when({ type: 'register', evalId: 'e1' }).then([]);
});

test('what Nomad says is recorded once: the same evaluation, reason or allocation again decides nothing', () => {
  const { history, state } = spec.run(
    submit,
    { type: 'wait', reason: 'Nomad cannot place it: resources exhausted' },
    { type: 'wait', reason: 'Nomad cannot place it: resources exhausted' },
    { type: 'register', evalId: 'e1' },
    { type: 'register', evalId: 'e1' },
    { type: 'allocate', allocationId: 'a1', nodeId: 'n1', nodeName: 'build-a' },
    { type: 'allocate', allocationId: 'a1', nodeId: 'n1', nodeName: 'build-a' },
  );
  assert.equal(
    history.map((e) => e.type),
    ['nomad.job.submit', 'nomad.job.wait', 'nomad.job.register', 'nomad.job.allocate'],
  );
  assert.equal([state!.evalId, state!.reason, state!.allocations], ['e1', null, ['a1']]);
});

test('a failure is recorded once, and after it no wait or replacement allocation; a stop ends the placement', () => {
  const { history } = spec.run(submit, { type: 'register', evalId: 'e1' }, { type: 'allocate', allocationId: 'a1', nodeId: 'n1', nodeName: 'build-a' });
  const failed = spec.then(history, { type: 'fail', allocationId: 'a1', reason: 'lost' });
  assert.is(failed.length, 4);
  spec.given(failed).when({ type: 'fail', allocationId: 'a1', reason: 'lost' }).then([]);
  spec.given(failed).when({ type: 'allocate', allocationId: 'a2', nodeId: 'n2', nodeName: 'build-b' }).then([]);
  spec.given(failed).when({ type: 'wait', reason: 'x' }).then([]);
  const stopped = spec.then(failed, { type: 'stop' });
  assert.equal(stopped.at(-1), { type: 'nomad.job.stop', data: ids });
  spec.given(stopped).when({ type: 'stop' }).then([]);
  assert.ok(spec.state(stopped)!.stopped);
});

test('the token never reaches the public fields of its events', () => {
  const [submitted] = spec.given([]).when(submit).events();
  assert.equal(eventRegistry.publicPayload(submitted!.type, submitted!.data), { ...ids, resourceClass: 'docker:medium' });
});

test('resource class patterns: exact, a kind with *, or everything', () => {
  assert.ok(classMatches('docker:*', 'docker:large'));
  assert.not.ok(classMatches('docker:*', 'machine:large'));
  assert.ok(classMatches('machine:large', 'machine:large'));
  assert.not.ok(classMatches('machine:large', 'machine:medium'));
  assert.ok(classMatches('*', 'acme/linux'));
  const serves = servedByNomad(['docker:*', 'machine:large']);
  assert.equal(['docker:small', 'machine:large', 'machine:medium', 'acme/linux'].map(serves), [true, true, false, false]);
});

test.run();
