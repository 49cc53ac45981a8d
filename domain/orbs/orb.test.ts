import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { checkOrbSource } from './orb-source.ts';
import { orbDecider, orbPublished, orbStream, type OrbCommand } from './orb.ts';

const test = suite('domain/orbs/orb');
const source = 'version: 2.1\ncommands:\n  hello:\n    steps:\n      - run: echo hello\n';
const publish = (version: string, src = source): OrbCommand => ({ type: 'publish', namespace: 'acme', orb: 'tools', version, source: src });
const spec = deciderSpec(orbDecider);

test('publishing a new version emits orb.publish with its source, and the event is one the store takes', () => {
  spec
    .given([])
    .when(publish('1.0.0'))
    .then([{ type: 'orb.publish', data: { namespace: 'acme', orb: 'tools', version: '1.0.0', source } }]);
  const events = spec.given([]).when(publish('1.0.0')).events();
  for (const e of events) orbPublished.schema.parse(e.data);
  assert.equal([...spec.given(events).state().versions], ['1.0.0']);
});

test('a published version is immutable: publishing it again is refused, even with the same source', () => {
  const history = spec.given([]).when(publish('1.0.0')).history();
  spec.given(history).when(publish('1.0.0')).thenThrows('ORB_VERSION_EXISTS');
  spec
    .given(history)
    .when(publish('1.0.0', 'version: 2.1\n'))
    .thenThrows('ORB_VERSION_EXISTS', /acme\/tools@1\.0\.0/);
  // other versions still publish
  const more = spec.then(spec.then(history, publish('1.0.1')), publish('2.0.0'));
  assert.equal([...spec.given(more).state().versions].sort(), ['1.0.0', '1.0.1', '2.0.0']);
  spec.given(more).when(publish('1.0.1')).thenThrows('ORB_VERSION_EXISTS');
});

test('a version that is not major.minor.patch is refused', () => {
  for (const v of ['1', '1.0', 'v1.0.0', '=1.0.0', ' 1.0.0', '1.0.0 ', '1.0.0+build.1', 'latest', 'volatile', 'dev:alpha', '', '01.0.0', '1.0.0.0']) {
    spec.given([]).when(publish(v)).thenThrows('ORB_VERSION_INVALID', undefined, JSON.stringify(v));
  }
});

test('orbs have one stream per namespace/orb, case-insensitively', () => {
  assert.is(orbStream('Acme', 'Tools'), orbStream('acme', 'tools'));
  assert.is.not(orbStream('acme', 'tools'), orbStream('acme', 'other'));
});

test('an orb source is YAML, a map, with only the keys an orb has', () => {
  assert.equal(checkOrbSource(source, 'acme/tools@1.0.0'), []);
  assert.equal(
    checkOrbSource('version: 2.1\ndescription: d\ndisplay: {home_url: x}\norbs: {}\ncommands: {}\njobs: {}\nexecutors: {}\nexamples: {}\n', 'acme/tools@1.0.0'),
    [],
  );
  assert.equal(checkOrbSource('version: 2.1\ncommands: {}\nworkflows:\n  w: {}\n', 'acme/tools@1.0.0'), [
    {
      file: 'orb acme/tools@1.0.0',
      line: 3,
      key: 'workflows',
      message: 'unknown key workflows: an orb has version, description, display, orbs, commands, jobs, executors, examples',
    },
  ]);
  const list = checkOrbSource('- a\n- b\n', 'acme/tools@1.0.0');
  assert.is(list.length, 1);
  assert.is(list[0]!.file, 'orb acme/tools@1.0.0');
  const broken = checkOrbSource('commands: {a: 1\n', 'acme/tools@1.0.0');
  assert.is(broken.length > 0, true);
  assert.match(broken[0]!.message, /^YAML: /);
});

test.run();
