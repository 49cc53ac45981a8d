import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ValidationError } from '../errors.ts';
import { orgId, parseOrgSlug, parseProjectSlug } from './slugs.ts';

const test = suite('domain/projects/slugs');
const refused = (pattern: RegExp) => (e: unknown) => e instanceof ValidationError && e.code === 'BAD_USER_INPUT' && e.status === 400 && pattern.test(e.message);
const uuidV5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('an organization slug: gh and github both answer gh, the key is lower-cased', () => {
  assert.equal(parseOrgSlug('gh/Acme'), { slug: 'gh/Acme', org: 'Acme', key: 'gh/acme' });
  assert.equal(parseOrgSlug('github/Acme'), { slug: 'gh/Acme', org: 'Acme', key: 'gh/acme' });
  assert.equal(parseOrgSlug('gh/acme-corp-2'), { slug: 'gh/acme-corp-2', org: 'acme-corp-2', key: 'gh/acme-corp-2' });
  assert.equal(parseOrgSlug('  gh/Acme  '), { slug: 'gh/Acme', org: 'Acme', key: 'gh/acme' }, 'surrounding spaces are dropped');
  assert.is(parseOrgSlug('gh/ACME').key, parseOrgSlug('github/acme').key);
  assert.is.not(parseOrgSlug('gh/acme').key, parseOrgSlug('gh/acme2').key);
});

test('a project slug: gh and github both answer gh, the key is lower-cased, the spelling kept', () => {
  const expected = { slug: 'gh/Acme/Web.App', org: 'Acme', repo: 'Web.App', orgSlug: 'gh/Acme', key: 'gh/acme/web.app' };
  assert.equal(parseProjectSlug('gh/Acme/Web.App'), expected);
  assert.equal(parseProjectSlug('github/Acme/Web.App'), expected);
  assert.is(parseProjectSlug('github/ACME/web.app').key, 'gh/acme/web.app');
  assert.is(parseProjectSlug('gh/acme/.github').repo, '.github', 'a repository name may start with a dot');
  assert.is(parseProjectSlug('gh/acme/my_repo-1.x').repo, 'my_repo-1.x');
  assert.is(parseProjectSlug(`gh/acme/${'r'.repeat(100)}`).repo.length, 100);
});

test('the organization of a project slug parses as the same organization', () => {
  const p = parseProjectSlug('github/Acme/web');
  const o = parseOrgSlug(p.orgSlug);
  assert.is(o.slug, p.orgSlug);
  assert.is(o.org, p.org);
  assert.ok(p.key.startsWith(`${o.key}/`));
});

test('a slug with the wrong number of parts is refused, showing the shape it must have', () => {
  for (const bad of ['gh', 'acme', 'gh/acme/web', 'gh/acme/', '', 'gh//acme']) {
    assert.throws(() => parseOrgSlug(bad), refused(/^invalid organization slug: must look like gh\/<org>$/), `org slug ${JSON.stringify(bad)}`);
  }
  for (const bad of ['gh/acme', 'gh/acme/web/extra', 'acme/web', '', 'gh/acme/web/']) {
    assert.throws(() => parseProjectSlug(bad), refused(/^invalid project slug: must look like gh\/<org>\/<repo>$/), `project slug ${JSON.stringify(bad)}`);
  }
});

test('a slug that is not a string is refused as a ValidationError, not a crash', () => {
  for (const bad of [undefined, null, 42, {}, ['gh', 'acme']]) {
    assert.throws(() => parseOrgSlug(bad), refused(/invalid organization slug/));
    assert.throws(() => parseProjectSlug(bad), refused(/invalid project slug/));
  }
});

test('the provider compares case-insensitively, as GitHub names do', () => {
  assert.is(parseProjectSlug('GH/acme/web').slug, 'gh/acme/web');
  assert.is(parseOrgSlug('GitHub/acme').slug, 'gh/acme');
});

test('an unknown provider is refused, naming the ones Gyre takes', () => {
  for (const vcs of ['', 'bb', 'bitbucket', 'gitlab', 'circleci']) {
    assert.throws(() => parseOrgSlug(`${vcs}/acme`), refused(/^invalid organization slug provider \(gh or github\)/), vcs);
    assert.throws(() => parseProjectSlug(`${vcs}/acme/web`), refused(/^invalid project slug provider \(gh or github\)/), vcs);
  }
});

test('an organization name that GitHub would not take is refused, saying what a name may hold', () => {
  for (const org of ['-acme', 'acme-', 'ac--me', 'ac_me', 'ac.me', 'ac me', 'a'.repeat(40), 'ü']) {
    assert.throws(() => parseOrgSlug(`gh/${org}`), refused(/^invalid organization name: must be a GitHub name/), org);
    assert.throws(() => parseProjectSlug(`gh/${org}/web`), refused(/^invalid organization name: must be a GitHub name/), org);
  }
  assert.is(parseOrgSlug(`gh/${'a'.repeat(39)}`).org.length, 39, '39 characters is the longest GitHub name');
});

test('a repository name that GitHub would not take is refused', () => {
  for (const repo of ['.', '..', 'we b', 'we:b', 'we$b', 'r'.repeat(101), 'wéb']) {
    assert.throws(() => parseProjectSlug(`gh/acme/${repo}`), refused(/^invalid repository name: must be a GitHub repository name$/), repo);
  }
});

test('orgId is a UUID-shaped id, the same for the same key and different for another organization', () => {
  const acme = orgId('gh/acme');
  assert.match(acme, uuidV5);
  assert.is(orgId('gh/acme'), acme, 'stable from call to call');
  assert.is(acme, '44f91a47-601c-5b2d-9b91-81de3c2feaaa', 'stable across releases: ids already stored in events must not move');
  assert.is(orgId(parseOrgSlug('github/ACME').key), acme, 'every spelling of one organization has one id');
  const others = ['gh/acme2', 'gh/other', 'gh/acm', 'gh/acme/web'].map(orgId);
  for (const id of others) {
    assert.match(id, uuidV5);
    assert.is.not(id, acme);
  }
  assert.is(new Set(others).size, others.length);
});

test('orgId keeps the UUID shape for many keys (version and variant nibbles)', () => {
  for (let i = 0; i < 200; i++) assert.match(orgId(`gh/org-${i}`), uuidV5);
});

test.run();
