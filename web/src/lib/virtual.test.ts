import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { scrollTopFor, visibleWindow } from './virtual.ts';

const test = suite('web: the window of a long output');

test('the lines in view and the overscan either side, within the output', () => {
  assert.equal(visibleWindow(0, 400, 20, 100_000, 10), { start: 0, end: 31 });
  assert.equal(visibleWindow(20_000, 400, 20, 100_000, 10), { start: 990, end: 1031 });
  assert.equal(visibleWindow(1_999_600, 400, 20, 100_000, 10), { start: 99_970, end: 100_000 });
  assert.equal(visibleWindow(0, 400, 20, 5, 10), { start: 0, end: 5 });
  assert.equal(visibleWindow(5000, 400, 20, 0), { start: 0, end: 0 });
});

test('a line is scrolled to the middle of the view, never above the top', () => {
  assert.is(scrollTopFor(1000, 400, 20), 20_000 - 200 + 20);
  assert.is(scrollTopFor(2, 400, 20), 0);
});

test.run();
