import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluate } from './logic.ts';
import { truthy } from './values.ts';
import type { Fail } from './parameters.ts';
import { ProblemError, keyOf } from './problems.ts';

const test = suite('domain/config/logic');
const fail: Fail = (path, message) => {
  throw new ProblemError({ file: 'f.yml', line: null, key: keyOf(path), message });
};
const is = (condition: unknown) => evaluate(condition, ['when'], fail);
/** The key path a refused condition names. */
const refusedAt = (condition: unknown): string => {
  try {
    evaluate(condition, ['workflows', 'w', 'when'], fail);
  } catch (e) {
    if (e instanceof ProblemError) return e.problem.key;
    throw e;
  }
  throw new Error(`${JSON.stringify(condition)} was not refused`);
};

test('falsy are false, null, 0, NaN, the empty string and the empty list; every other value is truthy', () => {
  for (const v of [false, null, undefined, 0, Number.NaN, '', []]) assert.is(truthy(v), false, JSON.stringify(v));
  for (const v of [true, 1, -1, 0.5, 'false', '0', ' ', 'no', [0], [false], {}]) assert.is(truthy(v), true, JSON.stringify(v));
});

test('a literal condition is its truthiness', () => {
  assert.is(is(true), true);
  assert.is(is(false), false);
  assert.is(is('main'), true);
  assert.is(is(''), false);
  assert.is(is(0), false);
  assert.is(is(7), true);
  assert.is(is(null), false);
});

test('and, or and not', () => {
  assert.is(is({ and: [true, true, 'x'] }), true);
  assert.is(is({ and: [true, false, true] }), false);
  assert.is(is({ and: [true, ''] }), false);
  assert.is(is({ or: [false, '', 0] }), false);
  assert.is(is({ or: [false, true, false] }), true);
  assert.is(is({ not: true }), false);
  assert.is(is({ not: false }), true);
  assert.is(is({ not: '' }), true);
  assert.is(is({ not: { not: 'x' } }), true);
});

test('equal compares every value with the first, deeply and with their types', () => {
  assert.is(is({ equal: ['main', 'main'] }), true);
  assert.is(is({ equal: ['main', 'main', 'main'] }), true);
  assert.is(is({ equal: ['main', 'main', 'dev'] }), false);
  assert.is(is({ equal: [42, 42] }), true);
  assert.is(is({ equal: [42, '42'] }), false, 'a number is not the string of it');
  assert.is(is({ equal: [{ macos: { xcode: '12' } }, { macos: { xcode: '12' } }] }), true);
  assert.is(is({ equal: [{ macos: { xcode: '12' } }, { macos: { xcode: '13' } }] }), false);
  assert.is(
    is({
      equal: [
        ['a', 'b'],
        ['a', 'b'],
      ],
    }),
    true,
  );
});

test('matches is a full match of the pattern against the value', () => {
  assert.is(is({ matches: { pattern: '^feature-.+$', value: 'feature-x' } }), true);
  assert.is(is({ matches: { pattern: 'feature-.+', value: 'feature-x' } }), true);
  assert.is(is({ matches: { pattern: 'main', value: 'main2' } }), false, 'no prefix match');
  assert.is(is({ matches: { pattern: 'main', value: 'xmain' } }), false, 'no suffix match');
  assert.is(is({ matches: { pattern: 'main', value: 'main' } }), true);
  assert.is(is({ matches: { pattern: 'v[0-9]+', value: 'v12' } }), true);
  assert.is(is({ matches: { pattern: '^feature-.+$', value: '' } }), false);
  assert.is(is({ matches: { pattern: '.*', value: null } }), true, 'a missing value is the empty string');
});

test('nested statements, as the documented example', () => {
  const condition = (branch: string, tag: string, canary: boolean) => ({
    and: [{ not: { matches: { pattern: '^main$', value: branch } } }, { or: [{ equal: ['canary', tag] }, canary] }],
  });
  assert.is(is(condition('dev', 'canary', false)), true);
  assert.is(is(condition('dev', '', true)), true);
  assert.is(is(condition('dev', '', false)), false);
  assert.is(is(condition('main', 'canary', true)), false);
});

test('malformed statements are problems naming the key at fault', () => {
  assert.is(refusedAt({ and: true }), 'workflows.w.when.and');
  assert.is(refusedAt({ or: 'x' }), 'workflows.w.when.or');
  assert.is(refusedAt({ equal: 'main' }), 'workflows.w.when.equal');
  assert.is(refusedAt({ matches: 'main' }), 'workflows.w.when.matches');
  assert.is(refusedAt({ matches: { value: 'x' } }), 'workflows.w.when.matches');
  assert.is(refusedAt({ matches: { pattern: '(', value: 'x' } }), 'workflows.w.when.matches.pattern');
  assert.is(refusedAt({ xor: [true] }), 'workflows.w.when.xor');
  assert.is(refusedAt({ and: [true], or: [true] }), 'workflows.w.when');
  assert.is(refusedAt({}), 'workflows.w.when');
  assert.is(refusedAt({ and: [true, { or: [false, { nope: 1 }] }] }), 'workflows.w.when.and[1].or[1].nope');
});

test('logic with an empty list is a validation error, as CircleCI documents', () => {
  // "using logic with an empty list will cause a validation error" (configuration reference, Logic statements)
  assert.is(refusedAt({ and: [] }), 'workflows.w.when.and');
  assert.is(refusedAt({ or: [] }), 'workflows.w.when.or');
  assert.is(refusedAt({ equal: [] }), 'workflows.w.when.equal');
});

test('patterns match in linear time (RE2): nested repetition cannot stall the server', () => {
  const started = Date.now();
  const fail = (path: ReadonlyArray<string | number>, message: string): never => {
    throw new Error(`${path.join('.')}: ${message}`);
  };
  assert.is(evaluate({ matches: { pattern: '(a+)+b', value: 'a'.repeat(50_000) } }, [], fail), false);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.throws(() => evaluate({ matches: { pattern: '(?!x)y', value: 'y' } }, [], fail), /RE2 syntax/);
});

test.run();
