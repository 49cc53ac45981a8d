import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { artifactName, storageName, workspacePathProblem, workspacePrefix, workspaceRootProblem, workspaceSelects } from './artifact-paths.ts';

const test = suite('domain/files: artifact names and workspace paths');

test("a directory's destination replaces its path", () => {
  assert.is(artifactName({ path: 'out', destination: 'site' }, { kind: 'directory', relative: 'a.html' }), 'site/a.html');
  assert.is(artifactName({ path: '/tmp/artifacts', destination: 'reports' }, { kind: 'directory', relative: 'deep/x.log' }), 'reports/deep/x.log');
  assert.is(artifactName({ path: 'out', destination: 'site/' }, { kind: 'directory', relative: './a.html' }), 'site/a.html');
});

test("a file's destination is its name in storage", () => {
  assert.is(artifactName({ path: '/tmp/artifact-1', destination: 'artifact-file' }, { kind: 'file' }), 'artifact-file');
  assert.is(artifactName({ path: 'build/app.jar', destination: 'dist/app-1.0.jar' }, { kind: 'file' }), 'dist/app-1.0.jar');
});

test('without a destination, the path as given, less a leading ~/, ./ or /', () => {
  assert.is(artifactName({ path: '~/out', destination: null }, { kind: 'directory', relative: 'a.html' }), 'out/a.html');
  assert.is(artifactName({ path: './out/', destination: null }, { kind: 'directory', relative: 'a.html' }), 'out/a.html');
  assert.is(artifactName({ path: '/tmp/artifacts', destination: null }, { kind: 'directory', relative: 'artifact-2' }), 'tmp/artifacts/artifact-2');
  assert.is(artifactName({ path: '~/project/coverage.xml', destination: null }, { kind: 'file' }), 'project/coverage.xml');
  assert.is(artifactName({ path: '.', destination: null }, { kind: 'directory', relative: 'a/b.txt' }), 'a/b.txt');
});

test('names never climb: .. and . segments are dropped; an empty destination falls back to the path', () => {
  assert.is(artifactName({ path: '../secrets', destination: null }, { kind: 'directory', relative: '../../etc/passwd' }), 'secrets/etc/passwd');
  assert.is(artifactName({ path: 'out', destination: '../..' }, { kind: 'directory', relative: 'a' }), 'out/a');
  assert.is(artifactName({ path: 'out/a.txt', destination: '' }, { kind: 'file' }), 'out/a.txt');
  assert.is(artifactName({ path: '~', destination: null }, { kind: 'file' }), 'artifact');
});

test('storage names: backslashes, doubled slashes, a bare ~', () => {
  assert.is(storageName('out\\win\\x.txt'), 'out/win/x.txt');
  assert.is(storageName('a//b/./c/'), 'a/b/c');
  assert.is(storageName('~'), '');
  assert.is(storageName('~user/x'), '~user/x');
});

test('workspace paths: files, directories and globs under root are fine', () => {
  for (const p of ['.', 'dist', 'dist/*.tar.gz', 'bin/app-?', 'build/[a-z]*', 'a\\*literal', 'node_modules/**']) assert.is(workspacePathProblem(p), null, p);
});

test('workspace paths: absolute, climbing, empty or broken globs are refused with the reason', () => {
  assert.match(workspacePathProblem('/etc')!, 'absolute');
  assert.match(workspacePathProblem('~/x')!, 'absolute');
  assert.match(workspacePathProblem('C:\\x')!, 'absolute');
  assert.match(workspacePathProblem('../x')!, 'climbs out of root');
  assert.match(workspacePathProblem('a/../../x')!, 'climbs out of root');
  assert.match(workspacePathProblem('a\\..\\x')!, 'climbs out of root');
  assert.match(workspacePathProblem('')!, 'empty');
  assert.match(workspacePathProblem('build/[a-z')!, 'never closed');
  assert.match(workspacePathProblem('x\\')!, 'lone');
  assert.is(workspacePathProblem('a..b/c'), null);
});

test('workspace root: any directory, not nothing', () => {
  assert.is(workspaceRootProblem('.'), null);
  assert.is(workspaceRootProblem('/tmp/ws'), null);
  assert.match(workspaceRootProblem(' ')!, 'needs a root');
});

test('a workspace path takes what it names and everything under it', () => {
  assert.ok(workspaceSelects('dist', 'dist'));
  assert.ok(workspaceSelects('dist', 'dist/a/b.js'));
  assert.ok(workspaceSelects('./dist/', 'dist/a.js'));
  assert.ok(workspaceSelects('dist/a', 'dist/a/b.js'));
  assert.not.ok(workspaceSelects('dist', 'distribution/a.js'));
  assert.not.ok(workspaceSelects('dist/a', 'dist'));
  assert.not.ok(workspaceSelects('dist', 'src/dist'));
});

test('`.` takes all of root', () => {
  for (const name of ['a', 'a/b/c', '.hidden']) assert.ok(workspaceSelects('.', name), name);
});

test("globs are Go's filepath.Match, one segment at a time: * and ? stop at /, classes, ranges, negation, escapes", () => {
  assert.ok(workspaceSelects('dist/*.js', 'dist/app.js'));
  assert.ok(workspaceSelects('dist/*.js', 'dist/.hidden.js'), 'unlike a shell, * takes a leading dot');
  assert.not.ok(workspaceSelects('dist/*.js', 'dist/app.css'));
  assert.ok(workspaceSelects('*/bin', 'cmd/bin/tool'), 'a matched directory brings what is under it');
  assert.not.ok(workspaceSelects('*.js', 'sub/app.js'), '* does not cross a /');
  assert.ok(workspaceSelects('file?.txt', 'file1.txt'));
  assert.not.ok(workspaceSelects('file?.txt', 'file10.txt'));
  assert.ok(workspaceSelects('v[0-9]', 'v7'));
  assert.not.ok(workspaceSelects('v[0-9]', 'vx'));
  assert.ok(workspaceSelects('v[^0-9]', 'vx'));
  assert.not.ok(workspaceSelects('v[^0-9]', 'v7'));
  assert.ok(workspaceSelects('[]x]', ']'), 'a ] first in a class is one of its characters');
  assert.ok(workspaceSelects('a\\*b', 'a*b'));
  assert.not.ok(workspaceSelects('a\\*b', 'axb'));
  assert.ok(workspaceSelects('(x)+.js', '(x)+.js'), 'regular expression characters are themselves');
  assert.not.ok(workspaceSelects('[z-a]', 'm'), 'a backwards range matches nothing');
});

test('the directory a workspace path cannot reach outside of: its segments before the first glob', () => {
  assert.is(workspacePrefix('dist'), 'dist');
  assert.is(workspacePrefix('./dist/js/'), 'dist/js');
  assert.is(workspacePrefix('dist/*.js'), 'dist');
  assert.is(workspacePrefix('a/b/c?/d'), 'a/b');
  assert.is(workspacePrefix('*/bin'), '');
  assert.is(workspacePrefix('.'), '');
  assert.is(workspacePrefix('a\\b/c'), '');
});

test.run();
