import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { githubCloneUrl, githubRepoOf } from './github-repo.ts';
import { parseProjectSlug } from './slugs.ts';

const test = suite('domain/projects/github-repo: which projects are on the GitHub host');
const slug = parseProjectSlug('gh/acme/widget');
const ghe = 'https://ghe.example.com';

test('a URL on the GitHub host names its repository, in any of the forms git clones', () => {
  for (const url of [
    'https://ghe.example.com/Acme/Tool.git',
    'https://GHE.example.com/Acme/Tool',
    'ssh://git@ghe.example.com/Acme/Tool.git',
    'git@ghe.example.com:Acme/Tool.git',
  ]) {
    assert.equal(githubRepoOf(ghe, slug, url), { owner: 'Acme', name: 'Tool' }, url);
  }
});

test('no URL: the slug names the repository, cloned from the GitHub host', () => {
  assert.equal(githubRepoOf(ghe, slug, undefined), { owner: 'acme', name: 'widget' });
  assert.is(githubCloneUrl(`${ghe}/`, slug), 'https://ghe.example.com/acme/widget.git');
});

test('another host, a local path, a file URL or a deeper path is not GitHub: no webhook', () => {
  for (const url of [
    'https://github.com/acme/widget.git',
    '/srv/git/widget',
    'file:///srv/git/widget',
    'git@gitlab.com:acme/widget.git',
    'https://ghe.example.com/acme/widget/tree/main',
  ]) {
    assert.is(githubRepoOf(ghe, slug, url), null, url);
  }
});

test.run();
