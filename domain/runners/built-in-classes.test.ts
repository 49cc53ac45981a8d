import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { refusedWith } from '../../test/support/decider-spec.ts';
import { defaultDockerClass, defaultMachineClass, dockerClasses, machineClasses, resourceClassOf } from './built-in-classes.ts';

const test = suite('domain/runners/built-in-classes');
const docker = [{ image: 'cimg/base:current' }];

test("CircleCI's Docker and Linux VM sizes, medium by default", () => {
  assert.equal(
    Object.entries(dockerClasses).map(([n, s]) => `${n} ${s.cpus}/${s.memoryMb / 1024}`),
    ['small 1/2', 'medium 2/4', 'medium+ 3/6', 'large 4/8', 'xlarge 8/16', '2xlarge 16/32'],
  );
  assert.equal(
    Object.entries(machineClasses).map(([n, s]) => `${n} ${s.cpus}/${s.memoryMb / 1024}`),
    ['medium 2/7.5', 'large 4/15', 'xlarge 8/32', '2xlarge 16/64'],
  );
  assert.is(defaultDockerClass, 'medium');
  assert.is(defaultMachineClass, 'medium');
});

test('a docker job: its class, or medium', () => {
  assert.equal(resourceClassOf({ docker, steps: [] }), { kind: 'docker', name: 'medium', cpus: 2, memoryMb: 4096 });
  assert.equal(resourceClassOf({ docker, resource_class: 'medium+', steps: [] }), { kind: 'docker', name: 'medium+', cpus: 3, memoryMb: 6144 });
  assert.equal(resourceClassOf({ docker, resource_class: '2xlarge', steps: [] }), { kind: 'docker', name: '2xlarge', cpus: 16, memoryMb: 32768 });
});

test('machine: true and machine: {image} are machine jobs', () => {
  assert.equal(resourceClassOf({ machine: true, steps: [] }), { kind: 'machine', name: 'medium', cpus: 2, memoryMb: 7680 });
  assert.equal(resourceClassOf({ machine: { image: 'ubuntu-2204:current' }, resource_class: 'large', steps: [] }), {
    kind: 'machine',
    name: 'large',
    cpus: 4,
    memoryMb: 15360,
  });
});

test('a name with a slash is a self-hosted class, whatever the executor: size unknown', () => {
  for (const job of [{ machine: true }, { docker }, { machine: { image: 'x' } }]) {
    assert.equal(resourceClassOf({ ...job, resource_class: 'acme/linux', steps: [] }), { kind: 'self-hosted', name: 'acme/linux', cpus: null, memoryMb: null });
  }
});

test('a class the executor lacks, or an executor Gyre lacks, is refused by name', () => {
  assert.throws(
    () => resourceClassOf({ docker, resource_class: 'huge', steps: [] }),
    (e: unknown) => refusedWith('UNKNOWN_RESOURCE_CLASS')(e) && /small, medium/.test(String(e)),
  );
  assert.throws(() => resourceClassOf({ machine: true, resource_class: 'small', steps: [] }), refusedWith('UNKNOWN_RESOURCE_CLASS'));
  assert.throws(() => resourceClassOf({ docker, resource_class: 'toString', steps: [] }), refusedWith('UNKNOWN_RESOURCE_CLASS'));
  assert.throws(
    () => resourceClassOf({ macos: { xcode: '15.0' }, steps: [] }),
    (e: unknown) => refusedWith('UNSUPPORTED_EXECUTOR')(e) && /not macos/.test(String(e)),
  );
});

test.run();
