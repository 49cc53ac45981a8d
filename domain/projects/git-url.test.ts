import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GitUrl } from './git-url.ts';

const test = suite('domain/projects/git-url');

const accepts = (v: string, expected = v.trim()) => {
  const r = GitUrl.safeParse(v);
  assert.ok(r.success, `${JSON.stringify(v)} should be accepted: ${r.error?.issues.map((i) => i.message).join('; ')}`);
  assert.is(r.data, expected);
};
/** The messages of the refusal, joined; fails the test if the value was accepted. */
const refusal = (v: unknown): string => {
  const r = GitUrl.safeParse(v);
  assert.not.ok(r.success, `${JSON.stringify(v)} should be refused`);
  return r.error!.issues.map((i) => i.message).join('; ');
};

test('URLs git can clone are accepted as given', () => {
  for (const url of [
    'https://github.com/acme/web.git',
    'https://github.com/acme/web',
    'http://git.internal:8080/acme/web.git',
    'ssh://git@github.com/acme/web.git',
    'ssh://git@git.internal:2222/acme/web.git',
    'git://git.kernel.org/pub/scm/git/git.git',
    'file:///srv/git/web.git',
  ])
    accepts(url);
});

test('the scp-like form is accepted', () => {
  accepts('git@github.com:acme/web.git');
  accepts('git@github.com:acme/web');
  accepts('deploy.bot@git.internal:repos/web.git');
});

test('absolute local paths are accepted, so the embedded default works without GitHub', () => {
  accepts('/srv/git/web.git');
  accepts('/tmp/repo');
  accepts('/');
});

test('surrounding whitespace is trimmed away', () => {
  accepts('  https://github.com/acme/web.git\n', 'https://github.com/acme/web.git');
  accepts('\t/srv/git/web.git ', '/srv/git/web.git');
});

test('relative paths are refused, saying what is accepted', () => {
  for (const rel of ['web.git', './web', '../web', 'repos/web.git', '~/web.git', 'web']) {
    assert.match(refusal(rel), /must be a URL git can clone \(https:\/\/, ssh:\/\/, git:\/\/, file:\/\/, git@host:path\) or an absolute path/, rel);
  }
});

test('other schemes are refused, naming the ones allowed', () => {
  for (const url of [
    'ftp://example.com/web.git',
    'ftps://example.com/web.git',
    'svn://example.com/web',
    'javascript:alert(1)',
    'data:text/plain,x',
    'mailto:a@example.com',
  ]) {
    const m = refusal(url);
    assert.match(m, /must use one of https, http, ssh, git, file/, url);
  }
});

test('a URL with a password is refused, telling to keep credentials elsewhere', () => {
  for (const url of [
    'https://user:hunter2@github.com/acme/web.git',
    'https://x-access-token:ghp_abcdef@github.com/acme/web.git',
    'ssh://git:secret@github.com/acme/web.git',
    'https://:secret@github.com/acme/web.git',
    'git://u:p@host/web.git',
    // over http(s) the user name alone can be a token
    'https://ghp_abcdef0123456789@github.com/acme/web.git',
    'https://github.com/acme/web.git?access_token=ghp_abcdef',
    'https://github.com/acme/web.git#token',
  ]) {
    const m = refusal(url);
    assert.match(m, /must not contain a password, token or query/, url);
    assert.match(m, /keep credentials in a context or project environment variable/, url);
  }
});

test('whitespace, control characters and backslashes inside are refused', () => {
  for (const v of [
    'https://github.com/acme/my web.git',
    'https://github.com/acme/web\t.git',
    '/srv/git/my repo',
    'git@github.com:acme/my web.git',
    'https://github.com/acme/web\n.git',
    'https://github.com/acme/\0web',
    '/srv/\x07bell',
    // a URL parser reads the host github.com; git reads the user `github.com\` at 127.0.0.1
    'https://github.com\\@127.0.0.1:22/x.git',
  ]) {
    assert.match(refusal(v), /must not contain spaces, backslashes or control characters/, JSON.stringify(v));
  }
});

test('empty, blank, too long and non-string values are refused', () => {
  assert.match(refusal(''), /must not be empty/);
  assert.match(refusal('   '), /must not be empty/);
  const long = `https://github.com/${'a'.repeat(2048)}`;
  assert.match(refusal(long), /at most 2048 characters/);
  accepts(`/${'a'.repeat(2047)}`);
  for (const v of [undefined, null, 42, { url: 'https://github.com/a/b' }]) refusal(v);
});

test.run();
