import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cacheArch, checksumPaths, isCacheKeyProblem, pickCache, renderCacheKey, type CacheKeyContext } from './cache-keys.ts';

const test = suite('domain/files: cache key templates and the cache restore_cache picks');
const context: CacheKeyContext = {
  branch: 'feature/x',
  revision: '0123abcd',
  buildNum: 42,
  environment: { CACHE_VERSION: 'v3', EMPTY: '' },
  checksum: (p) => ({ 'package-lock.json': '+KlBeb_x=', 'dir with space/go.sum': 'c2Vj' })[p] ?? null,
  now: () => 1_700_000_000_999,
  arch: 'arch1-linux-amd64-6_85',
};
const problemOf = (v: ReturnType<typeof renderCacheKey>) => {
  if (!isCacheKeyProblem(v)) throw new Error(`expected a problem, got ${v}`);
  return v.message;
};

test('each template CircleCI documents renders from the context', () => {
  assert.is(renderCacheKey('deps-{{ .Branch }}-{{ checksum "package-lock.json" }}', context), 'deps-feature/x-+KlBeb_x=');
  assert.is(renderCacheKey('v1-{{.Revision}}-{{ .BuildNum }}', context), 'v1-0123abcd-42');
  assert.is(renderCacheKey('{{ .Environment.CACHE_VERSION }}-{{ epoch }}-{{ arch }}', context), 'v3-1700000000-arch1-linux-amd64-6_85');
  assert.is(renderCacheKey('{{ checksum "dir with space/go.sum" }}', context), 'c2Vj');
  assert.is(renderCacheKey('plain-key', context), 'plain-key');
});

test('an environment variable the job does not have renders as Go renders a missing key; an empty one as empty', () => {
  assert.is(renderCacheKey('x-{{ .Environment.NOPE }}', context), 'x-<no value>');
  assert.is(renderCacheKey('x-{{ .Environment.EMPTY }}', context), 'x-');
  assert.is(renderCacheKey('x-{{ .Environment.toString }}', context), 'x-<no value>');
});

test('unknown or broken templates are clear problems', () => {
  assert.match(problemOf(renderCacheKey('x-{{ .Tag }}', context)), '{{ .Tag }} is not a cache key template Gyre knows');
  assert.match(problemOf(renderCacheKey('x-{{ checksum package.json }}', context)), 'not a cache key template');
  assert.match(problemOf(renderCacheKey('x-{{ .Branch', context)), 'never closed');
  assert.match(problemOf(renderCacheKey('x-.Branch }}', context)), 'without a "{{"');
  assert.match(problemOf(renderCacheKey('{{ checksum "missing.lock" }}', context)), 'there is no file missing.lock');
  assert.match(problemOf(renderCacheKey('{{ .Environment.EMPTY }}', context)), 'empty once rendered');
  assert.is((renderCacheKey('a-{{ os }}', context) as { template: string }).template, 'a-{{ os }}');
});

test('the files a template checksums, for a caller to read first', () => {
  assert.equal(checksumPaths('{{ checksum "a" }}-{{ checksum "b" }}-{{ checksum "a" }}-{{ .Branch }}'), ['a', 'b']);
  assert.equal(checksumPaths('plain'), []);
  assert.ok(!Array.isArray(checksumPaths('{{ nope }}')));
});

const saved = [
  { key: 'v1-deps-main-aaa', createdAt: '2026-01-01T00:00:00Z' },
  { key: 'v1-deps-main-bbb', createdAt: '2026-01-03T00:00:00Z' },
  { key: 'v1-deps-feature-ccc', createdAt: '2026-01-05T00:00:00Z' },
  { key: 'v1-deps-main', createdAt: '2026-01-02T00:00:00Z' },
];

test('restore: an exact match wins over newer caches that only start with the key', () => {
  assert.is(pickCache(['v1-deps-main'], saved)?.key, 'v1-deps-main');
  assert.is(pickCache(['v1-deps-main-aaa'], saved)?.key, 'v1-deps-main-aaa');
});

test('restore: else the newest cache whose key starts with the key; keys are tried in order, the first that finds one decides', () => {
  assert.is(pickCache(['v1-deps-main-'], saved)?.key, 'v1-deps-main-bbb');
  assert.is(pickCache(['v1-deps-'], saved)?.key, 'v1-deps-feature-ccc');
  assert.is(pickCache(['v1-deps-main-zzz', 'v1-deps-feature', 'v1-deps-'], saved)?.key, 'v1-deps-feature-ccc');
  assert.is(pickCache(['v2-', 'v1-deps-main-'], saved)?.key, 'v1-deps-main-bbb');
});

test('restore: nothing found, empty keys passed over, and any time shape compared', () => {
  assert.is(pickCache(['v2-'], saved), null);
  assert.is(pickCache([], saved), null);
  assert.is(pickCache([''], saved), null);
  const mixed = [
    { key: 'k-1', createdAt: new Date('2026-02-01T00:00:00Z') },
    { key: 'k-2', createdAt: Date.parse('2026-03-01T00:00:00Z') },
  ];
  assert.is(pickCache(['k-'], mixed)?.key, 'k-2');
  const same = [
    { key: 'k', createdAt: 1 },
    { key: 'k', createdAt: 5 },
  ];
  assert.is(pickCache(['k'], same)?.createdAt, 5);
});

test('{{ arch }} as CircleCI gives it: OS, CPU as Go names it, x86 family and model', () => {
  const x86 = 'processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)\n';
  assert.is(cacheArch('linux', 'x64', x86), 'arch1-linux-amd64-6_85');
  assert.is(cacheArch('linux', 'arm64', 'processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n'), 'arch1-linux-arm64');
  assert.is(cacheArch('darwin', 'arm64', null), 'arch1-darwin-arm64');
});

test.run();
