import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { artifactNameSet, uploadedArtifactName } from './artifact-names.ts';

const test = suite('domain/files: uploaded artifact names');

test('a storage name is taken as it is, a leading ./ dropped', () => {
  assert.equal(uploadedArtifactName('site/a.html'), { name: 'site/a.html' });
  assert.equal(uploadedArtifactName('./site//a.html'), { name: 'site/a.html' });
});

test('names that would leave the job are refused, not mended', () => {
  for (const raw of ['../x', 'a/../../x', '..\\x', '/etc/passwd', '\\x', 'C:\\x', 'a\0b', '', './']) assert.ok('problem' in uploadedArtifactName(raw), raw);
});

test('a name is a file or a folder, never both', () => {
  const names = artifactNameSet(['a/b/c']);
  assert.match(names.clash('a/b')!, 'another artifact is under a/b/');
  assert.is(names.clash('a/b/d'), null);
  names.add('x');
  assert.match(names.clash('x/y')!, 'another artifact is named x');
  assert.is(names.clash('xy'), null);
  assert.ok(names.has('x'));
});

test.run();
