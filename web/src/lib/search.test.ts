import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findMatches, highlight, step } from './search.ts';

const test = suite('web: search in output');

test('every occurrence, case-insensitively, in line order; none for an empty query', () => {
  assert.equal(findMatches(['Error: x', 'ok', 'error error'], 'ERROR'), [
    { line: 0, start: 0, end: 5 },
    { line: 2, start: 0, end: 5 },
    { line: 2, start: 6, end: 11 },
  ]);
  assert.equal(findMatches(['abc'], ''), []);
  assert.equal(
    findMatches(['aaaa'], 'aa'),
    [
      { line: 0, start: 0, end: 2 },
      { line: 0, start: 2, end: 4 },
    ],
    'matches do not overlap',
  );
  assert.is(findMatches(['x x x'], 'x', 2).length, 2);
});

test('next and previous wrap around', () => {
  assert.is(step(-1, 3, 1), 0);
  assert.is(step(-1, 3, -1), 2);
  assert.is(step(2, 3, 1), 0);
  assert.is(step(0, 3, -1), 2);
  assert.is(step(0, 0, 1), -1);
});

test('matches split runs, across run boundaries, keeping their classes', () => {
  const line = [
    { text: 'hello ', cls: '' },
    { text: 'world', cls: 'ansi-fg-red' },
  ];
  assert.equal(highlight(line, [{ start: 4, end: 8, current: true }]), [
    { text: 'hell', cls: '', mark: null },
    { text: 'o ', cls: '', mark: 'current' },
    { text: 'wo', cls: 'ansi-fg-red', mark: 'current' },
    { text: 'rld', cls: 'ansi-fg-red', mark: null },
  ]);
  assert.equal(
    highlight(line, [
      { start: 0, end: 1, current: false },
      { start: 6, end: 11, current: false },
    ]),
    [
      { text: 'h', cls: '', mark: 'match' },
      { text: 'ello ', cls: '', mark: null },
      { text: 'world', cls: 'ansi-fg-red', mark: 'match' },
    ],
  );
  assert.equal(
    highlight(line, []),
    line.map((r) => ({ ...r, mark: null })),
  );
});

test.run();
