import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { match, returnPath } from './addresses.ts';

const test = suite('web: addresses');

test('patterns match segments, name parameters, and take the rest with *', () => {
  assert.equal(match('/projects/:vcs/:org/:repo', '/projects/gh/acme/app'), { vcs: 'gh', org: 'acme', repo: 'app' });
  assert.is(match('/projects/:vcs/:org/:repo', '/projects/gh/acme'), null);
  assert.is(match('/projects', '/projects/gh'), null);
  assert.equal(match('/admin/*', '/admin/users/x'), { '*': 'users/x' });
});

test('after signing in, only a path of this app is followed', () => {
  assert.is(returnPath('/pipelines/gh/acme/app/3/workflows/w/jobs/7'), '/pipelines/gh/acme/app/3/workflows/w/jobs/7');
  for (const other of [null, '', 'https://evil.example', '//evil.example/x', '/sign-in?next=/x', 'javascript:alert(1)'])
    assert.is(returnPath(other), '/projects', String(other));
});

test.run();
