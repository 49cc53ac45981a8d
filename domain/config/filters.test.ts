import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFilters, runsFor, type Filters } from './filters.ts';
import type { Fail } from './parameters.ts';
import { ProblemError, keyOf } from './problems.ts';

const test = suite('domain/config/filters');
const fail: Fail = (path, message) => {
  throw new ProblemError({ file: 'f.yml', line: null, key: keyOf(path), message });
};
const read = (raw: unknown) => readFilters(raw, ['workflows', 'w', 'jobs', 0, 'build', 'filters'], fail);
const refused = (raw: unknown): { key: string; message: string } => {
  try {
    read(raw);
  } catch (e) {
    if (e instanceof ProblemError) return e.problem;
    throw e;
  }
  throw new Error(`${JSON.stringify(raw)} was not refused`);
};
const branch = (f: Filters | undefined, name: string) => runsFor(f, { branch: name });
const tag = (f: Filters | undefined, name: string) => runsFor(f, { tag: name });

test('no filters: every branch, never a tag', () => {
  assert.is(read(undefined), undefined);
  assert.is(read(null), undefined);
  for (const b of ['main', 'feature/x', 'v1.0', '']) assert.is(branch(undefined, b), true, b);
  for (const t of ['v1.0', 'release', 'x']) assert.is(tag(undefined, t), false, t);
  // a branches filter alone does not let tags through either
  assert.is(tag(read({ branches: { only: '/.*/' } }), 'v1.0'), false);
  assert.is(tag(read({ branches: { ignore: 'main' } }), 'v1.0'), false);
});

test('a plain string names one branch exactly', () => {
  const f = read({ branches: { only: 'main' } });
  assert.is(branch(f, 'main'), true);
  assert.is(branch(f, 'main2'), false);
  assert.is(branch(f, 'xmain'), false);
  assert.is(branch(f, 'Main'), false);
  // not a regex: its dot is a dot
  const dotted = read({ branches: { only: 'release.1' } });
  assert.is(branch(dotted, 'release.1'), true);
  assert.is(branch(dotted, 'releasex1'), false);
});

test('a /regex/ must match the whole name', () => {
  const f = read({ branches: { only: '/main/' } });
  assert.is(branch(f, 'main'), true);
  assert.is(branch(f, 'main2'), false);
  assert.is(branch(f, 'my-main'), false);
  const feature = read({ branches: { only: '/feature-.*/' } });
  assert.is(branch(feature, 'feature-login'), true);
  assert.is(branch(feature, 'feature-'), true);
  assert.is(branch(feature, 'my-feature-login'), false);
  const alternatives = read({ branches: { only: '/main|release/' } });
  assert.is(branch(alternatives, 'release'), true);
  assert.is(branch(alternatives, 'main'), true);
  assert.is(branch(alternatives, 'mainrelease'), false);
  assert.is(branch(alternatives, 'main-release'), false, 'the alternation is anchored as a whole');
});

test('lists mix names and regexes; a match of any entry counts', () => {
  const f = read({ branches: { only: ['main', '/release\\/.*/'] } });
  assert.equal(f, { branches: { only: ['main', '/release\\/.*/'] } });
  assert.is(branch(f, 'main'), true);
  assert.is(branch(f, 'release/1.2'), true);
  assert.is(branch(f, 'develop'), false);
  const ignore = read({ branches: { ignore: ['develop', '/feature-.*/'] } });
  assert.is(branch(ignore, 'main'), true);
  assert.is(branch(ignore, 'develop'), false);
  assert.is(branch(ignore, 'feature-x'), false);
  assert.is(branch(ignore, 'my-feature-x'), true);
});

test('only is checked before ignore: a branch runs when only lets it through and ignore does not stop it', () => {
  const f = read({ branches: { only: '/feature-.*/', ignore: 'feature-skip' } });
  assert.is(branch(f, 'feature-a'), true);
  assert.is(branch(f, 'feature-skip'), false);
  assert.is(branch(f, 'main'), false);
  assert.is(branch(read({ branches: { ignore: '/.*/' } }), 'main'), false);
});

test('tags run only with a tags filter that lets them through', () => {
  const only = read({ tags: { only: '/^v.*/' } });
  assert.is(tag(only, 'v1.0'), true);
  assert.is(tag(only, 'release-1'), false);
  const all = read({ tags: { only: '/.*/' } });
  assert.is(tag(all, 'anything'), true);
  const ignore = read({ tags: { ignore: '/.*-rc/' } });
  assert.is(tag(ignore, 'v1.0'), true);
  assert.is(tag(ignore, 'v1.0-rc'), false);
  const exact = read({ tags: { only: ['v1.0', 'v2.0'] } });
  assert.is(tag(exact, 'v2.0'), true);
  assert.is(tag(exact, 'v2.0.1'), false);
});

test('the tag-only pattern: branches ignore /.*/ and tags only /^v.*/ runs for v1.0 and for no branch', () => {
  const f = read({ branches: { ignore: '/.*/' }, tags: { only: '/^v.*/' } });
  assert.is(tag(f, 'v1.0'), true);
  assert.is(tag(f, 'x1.0'), false);
  for (const b of ['main', 'v1.0', 'develop']) assert.is(branch(f, b), false, b);
  // a tags filter does not restrict branches
  const both = read({ tags: { only: '/^v.*/' } });
  assert.is(branch(both, 'main'), true);
});

test('readFilters refuses unknown keys and bad regexes, naming the key', () => {
  let p = refused({ branch: { only: 'main' } });
  assert.is(p.key, 'workflows.w.jobs[0].build.filters.branch');
  assert.match(p.message, /branches and tags/);
  p = refused({ branches: { only: 'main', except: 'dev' } });
  assert.is(p.key, 'workflows.w.jobs[0].build.filters.branches.except');
  p = refused({ tags: { only: '/(unclosed/' } });
  assert.is(p.key, 'workflows.w.jobs[0].build.filters.tags.only');
  assert.match(p.message, /is not a regular expression CircleCI takes \(RE2 syntax\)/);
  p = refused({ branches: { ignore: ['ok', '/[z-a]/'] } });
  assert.is(p.key, 'workflows.w.jobs[0].build.filters.branches.ignore');
  p = refused('main');
  assert.is(p.key, 'workflows.w.jobs[0].build.filters');
  p = refused({ branches: 'main' });
  assert.is(p.key, 'workflows.w.jobs[0].build.filters.branches');
});

test.run();
