import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { applySgr, OutputLines, parseLine, plainState } from './ansi.ts';

const test = suite('web: ANSI SGR output as runs with classes');
const E = '\x1b[';

test('plain text is one run without classes; an empty line none', () => {
  assert.equal(parseLine('hello', plainState).line, [{ text: 'hello', cls: '' }]);
  assert.equal(parseLine('', plainState).line, []);
});

test('colours, bright colours, backgrounds and bold become classes; reset ends them', () => {
  const { line, state } = parseLine(`a${E}31mred${E}1;92mbold green${E}44mon blue${E}0mplain${E}97m`, plainState);
  assert.equal(line, [
    { text: 'a', cls: '' },
    { text: 'red', cls: 'ansi-fg-red' },
    { text: 'bold green', cls: 'ansi-fg-bright-green ansi-bold' },
    { text: 'on blue', cls: 'ansi-fg-bright-green ansi-bg-blue ansi-bold' },
    { text: 'plain', cls: '' },
  ]);
  assert.equal(state, { fg: 'bright-white', bg: null, bold: false }, 'the state carries to the next line');
});

test('ESC[m resets; 22, 39 and 49 end bold, foreground and background alone', () => {
  let s = applySgr(plainState, '1;33;41');
  assert.equal(s, { fg: 'yellow', bg: 'red', bold: true });
  assert.equal(applySgr(s, '22'), { fg: 'yellow', bg: 'red', bold: false });
  assert.equal(applySgr(s, '39;49'), { fg: null, bg: null, bold: true });
  assert.equal(applySgr(s, ''), plainState);
  s = applySgr(plainState, '38;5;196;1');
  assert.equal(s, { fg: null, bg: null, bold: true }, '256-colour parameters are skipped, what follows applies');
  assert.equal(applySgr(plainState, '38;2;1;2;3;32'), { fg: 'green', bg: null, bold: false });
});

test('other escapes are dropped; a carriage return starts the line over; markup stays text', () => {
  assert.equal(parseLine(`${E}2K${E}1Gdone\x1b]0;title\x07!`, plainState).line, [{ text: 'done!', cls: '' }]);
  assert.equal(parseLine('10%\r50%\r100%', plainState).line, [{ text: '100%', cls: '' }]);
  assert.equal(parseLine('line\r', plainState).line, [{ text: 'line', cls: '' }]);
  assert.equal(parseLine('<b>&amp;</b>', plainState).line, [{ text: '<b>&amp;</b>', cls: '' }]);
});

test('output split anywhere, an escape included, reads the same as whole', () => {
  const text = `one\n${E}32mgreen\ntwo${E}0m\nthree`;
  const whole = new OutputLines();
  whole.append(text);
  for (let cut = 1; cut < text.length; cut++) {
    const parts = new OutputLines();
    parts.append(text.slice(0, cut));
    parts.append(text.slice(cut));
    assert.equal(parts.lines, whole.lines, `cut at ${cut}`);
  }
  assert.equal(whole.plain, ['one', 'green', 'two', 'three']);
  assert.equal(whole.lines[1], [{ text: 'green', cls: 'ansi-fg-green' }]);
  assert.equal(whole.lines[2], [{ text: 'two', cls: 'ansi-fg-green' }]);
});

test('a trailing newline ends the last line; lines keep their count as chunks arrive', () => {
  const o = new OutputLines();
  o.append('a\nb');
  assert.is(o.length, 2);
  o.append('c\n');
  assert.equal(o.plain, ['a', 'bc']);
  o.append('d');
  assert.equal(o.plain, ['a', 'bc', 'd']);
});

test.run();
