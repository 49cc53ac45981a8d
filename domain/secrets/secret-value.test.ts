import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EnvVarName, EnvVarValue, Sealed, SealedSecret, mask, sealedPrefix } from './secret-value.ts';

const test = suite('domain/secrets/secret-value');
const messages = (r: { success: boolean; error?: { issues: ReadonlyArray<{ message: string }> } }) => (r.error?.issues ?? []).map((i) => i.message).join('; ');

test('mask shows xxxx and the last four characters; values of four or fewer show xxxx alone, never themselves', () => {
  assert.is(mask(''), 'xxxx');
  assert.is(mask('a'), 'xxxx');
  assert.is(mask('abc'), 'xxxx');
  assert.is(mask('abcd'), 'xxxx');
  assert.is(mask('abcde'), 'xxxxbcde');
  assert.is(mask('supersecret'), 'xxxxcret');
  assert.not.match(mask('supersecret'), /super/, 'the start of the value never shows');
});

test('every mask fits the masked form an event may hold', () => {
  for (const v of ['', 'abc', 'abcd', 'supersecret', 'with\nnewline1234']) {
    assert.ok(SealedSecret.safeParse({ sealed: `${sealedPrefix}AAAA`, masked: mask(v) }).success, `mask of ${JSON.stringify(v)}`);
  }
});

test('EnvVarName takes shell variable names', () => {
  for (const ok of ['FOO', '_X', 'a1', '_', 'CIRCLE_TOKEN_2', 'x'.repeat(256)]) assert.ok(EnvVarName.safeParse(ok).success, `${ok} should be a name`);
});

test('EnvVarName refuses what a shell would not take, saying why', () => {
  for (const bad of ['1A', 'FOO-BAR', 'A B', '', ' FOO', 'FOO=1', 'ÄRGER', '$FOO']) {
    const r = EnvVarName.safeParse(bad);
    assert.not.ok(r.success, `${JSON.stringify(bad)} should be refused`);
    assert.match(messages(r), /shell variable name/);
  }
  const long = EnvVarName.safeParse('x'.repeat(257));
  assert.not.ok(long.success);
  assert.match(messages(long), /at most 256/);
  assert.not.ok(EnvVarName.safeParse(42).success);
});

test('EnvVarValue takes any text but NUL, up to 64 KiB', () => {
  assert.ok(EnvVarValue.safeParse('').success);
  assert.ok(EnvVarValue.safeParse('multi\nline\twith spaces and ünïcode').success);
  assert.ok(EnvVarValue.safeParse('x'.repeat(65_536)).success);
  assert.not.ok(EnvVarValue.safeParse('x'.repeat(65_537)).success);
  const nul = EnvVarValue.safeParse('a\0b');
  assert.not.ok(nul.success);
  assert.match(messages(nul), /NUL/);
});

test('Sealed takes only what the vault sealed, never a clear value', () => {
  assert.is(sealedPrefix, 'gyre:aes-256-gcm:');
  for (const ok of ['gyre:aes-256-gcm:AAAA', 'gyre:aes-256-gcm:q83v+/9=', 'gyre:aes-256-gcm:q83v/w==']) assert.ok(Sealed.safeParse(ok).success, ok);
  for (const clear of [
    'supersecret',
    'hunter2',
    '',
    'gyre:aes-256-gcm:',
    'gyre:aes-256-gcm:not base64!',
    'GYRE:AES-256-GCM:AAAA',
    'gyre:aes-128-gcm:AAAA',
    'xgyre:aes-256-gcm:AAAA',
    'gyre:aes-256-gcm:AAAA===',
  ]) {
    const r = Sealed.safeParse(clear);
    assert.not.ok(r.success, `${JSON.stringify(clear)} should be refused`);
    assert.match(messages(r), /sealed by the vault/);
  }
});

test('SealedSecret needs a sealed value and a masked form', () => {
  assert.ok(SealedSecret.safeParse({ sealed: 'gyre:aes-256-gcm:AAAA', masked: 'xxxx1234' }).success);
  assert.ok(SealedSecret.safeParse({ sealed: 'gyre:aes-256-gcm:AAAA', masked: 'xxxx' }).success);
  assert.not.ok(SealedSecret.safeParse({ sealed: 'supersecret', masked: 'xxxxcret' }).success, 'a clear value slipped into sealed');
  assert.not.ok(SealedSecret.safeParse({ sealed: 'gyre:aes-256-gcm:AAAA', masked: 'supersecret' }).success, 'a clear value slipped into masked');
  assert.not.ok(SealedSecret.safeParse({ sealed: 'gyre:aes-256-gcm:AAAA', masked: 'xxxx12345' }).success, 'masked shows at most four characters');
  assert.not.ok(SealedSecret.safeParse({ sealed: 'gyre:aes-256-gcm:AAAA' }).success);
});

test.run();
