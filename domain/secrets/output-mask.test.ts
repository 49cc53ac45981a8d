import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createOutputMasker, createTextMasker, maskedOutput } from './output-mask.ts';

const test = suite('output masking');
const run = (secrets: string[], chunks: string[]) => {
  const m = createOutputMasker(secrets);
  return chunks.map((c) => m.push(c)).join('') + m.end();
};

test('a value in one chunk is masked', () => {
  assert.is(run(['hunter22'], ['pw=hunter22 ok\n']), `pw=${maskedOutput} ok\n`);
});

test('a value split over chunks is masked, at every split point', () => {
  const secret = 'S3cr3t-Value';
  const text = `before ${secret} after ${secret}`;
  for (let i = 0; i <= text.length; i++) {
    const out = run([secret], [text.slice(0, i), text.slice(i)]);
    assert.is(out, `before ${maskedOutput} after ${maskedOutput}`, `split at ${i}`);
  }
  assert.is(run([secret], [...text]), `before ${maskedOutput} after ${maskedOutput}`, 'one character a chunk');
});

test('values under four characters and booleans are left alone; the longest value wins', () => {
  assert.is(run(['abc', 'abcdef', 'abcd', 'false'], ['abc abcd abcdef false']), `abc ${maskedOutput} ${maskedOutput} false`);
});

test('text that only starts like a value is released when the output ends', () => {
  const m = createOutputMasker(['password1']);
  assert.is(m.push('pass'), '');
  assert.is(m.end(), 'pass');
});

test('no secrets: chunks pass through at once', () => {
  assert.is(run([], ['a', 'b']), 'ab');
});

test('whole texts masked one after another: a text that ends like the start of a value is not held into the next', () => {
  const mask = createTextMasker(['s3cr3t-value']);
  assert.equal([mask('key-s3cr3t-value-x'), mask('ends s3cr'), mask('et-value')], [`key-${maskedOutput}-x`, 'ends s3cr', 'et-value']);
});

test.run();
