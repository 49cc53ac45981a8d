import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatOrbRef, parseOrbRef, pickVersion } from './orb-ref.ts';

const test = suite('domain/orbs/orb-ref');
const published = ['1.0.0', '1.2.0', '1.2.3', '1.10.0', '2.0.0', '0.9.1'];

test('a reference is namespace/orb@version; no version means volatile; names are compared lower-case', () => {
  assert.equal(parseOrbRef('circleci/node@5.1.0'), { namespace: 'circleci', name: 'node', version: '5.1.0' });
  assert.equal(parseOrbRef('circleci/node'), { namespace: 'circleci', name: 'node', version: 'volatile' });
  assert.equal(parseOrbRef('circleci/node@volatile'), { namespace: 'circleci', name: 'node', version: 'volatile' });
  assert.equal(parseOrbRef('CircleCI/Node@1'), { namespace: 'circleci', name: 'node', version: '1' });
  assert.equal(parseOrbRef('  my-ns/aws_cli@1.2  '), { namespace: 'my-ns', name: 'aws_cli', version: '1.2' });
  assert.equal(parseOrbRef('ns/orb@dev:alpha'), { namespace: 'ns', name: 'orb', version: 'dev:alpha' });
  assert.equal(parseOrbRef('ns/orb@dev:1.2-rc_x'), { namespace: 'ns', name: 'orb', version: 'dev:1.2-rc_x' });
  assert.is(formatOrbRef({ namespace: 'ns', name: 'orb', version: '1.2' }), 'ns/orb@1.2');
});

test('references with bad syntax are errors that say how to write one', () => {
  for (const raw of [
    'node',
    'node@1.0.0',
    'a/b/c@1',
    'ns/orb@',
    'ns/@1',
    '/orb@1',
    'ns/orb@1.2.3.4',
    'ns/orb@latest',
    'ns/orb@dev:',
    'ns/orb@dev:a b',
    'ns/orb 1',
    'ns/-orb@1',
    'n s/orb@1',
    '',
    'ns/orb@1.x',
  ]) {
    const r = parseOrbRef(raw);
    assert.ok('error' in r, `${JSON.stringify(raw)} parsed as ${JSON.stringify(r)}`);
  }
  const r = parseOrbRef('node@1.0.0') as { error: string };
  assert.match(r.error, /namespace\/orb@version/);
  const v = parseOrbRef('ns/orb@latest') as { error: string };
  assert.match(v.error, /volatile/);
});

test('a version written with a leading v or = is not a reference the parser takes', () => {
  // the parser's own rule: volatile, a release (1.2.3), a partial one (1, 1.2) or dev:<label>
  for (const raw of ['ns/orb@v1.0.0', 'ns/orb@=1.0.0']) {
    const r = parseOrbRef(raw);
    assert.ok('error' in r, `${raw} parsed as ${JSON.stringify(r)}`);
  }
});

test('an exact version matches only itself', () => {
  assert.is(pickVersion(published, '1.2.3'), '1.2.3');
  assert.is(pickVersion(published, '1.2.4'), undefined);
  assert.is(pickVersion(published, '3.0.0'), undefined);
});

test('a partial version means the newest release under it', () => {
  assert.is(pickVersion(published, '1'), '1.10.0', 'semver order, not string order');
  assert.is(pickVersion(published, '1.2'), '1.2.3');
  assert.is(pickVersion(published, '1.1'), undefined);
  assert.is(pickVersion(published, '2'), '2.0.0');
  assert.is(pickVersion(published, '0'), '0.9.1');
  assert.is(pickVersion(published, '3'), undefined);
  assert.is(pickVersion(published, '1.10'), '1.10.0');
});

test('volatile is the newest release; nothing published matches nothing', () => {
  assert.is(pickVersion(published, 'volatile'), '2.0.0');
  assert.is(pickVersion(['0.1.0', '0.10.0', '0.2.0'], 'volatile'), '0.10.0');
  assert.is(pickVersion([], 'volatile'), undefined);
  assert.is(pickVersion([], '1'), undefined);
  assert.is(pickVersion([], '1.0.0'), undefined);
});

test('dev:label references match only the dev version of that exact label, never a release', () => {
  assert.is(pickVersion(published, 'dev:alpha'), undefined);
  assert.is(pickVersion(published, 'dev:1.2.3'), undefined);
  assert.is(pickVersion([...published, 'dev:alpha'], 'dev:alph'), undefined);
  assert.is(pickVersion(['dev:alpha', ...published], 'volatile'), '2.0.0', 'volatile never means a dev version');
  assert.is(pickVersion(['dev:alpha', ...published], '1'), '1.10.0');
  assert.is(pickVersion([...published, 'dev:alpha'], 'dev:alpha'), 'dev:alpha');
});

test.run();
