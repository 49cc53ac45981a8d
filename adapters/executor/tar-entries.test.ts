import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { entriesOf } from './contract.ts';
import { splitEntries, symlinkCrossing, writeEntry, writeTar } from './tar-entries.ts';

const test = suite('tar entries');

test('an entry past a symlink the same archive made is named; a symlink replaced by a directory no longer counts', () => {
  const crossing = symlinkCrossing();
  const answers = [
    { name: 'x', type: 'symlink', linkname: '/etc' },
    { name: 'x/passwd', type: 'file' },
    { name: 'a/../x/deeper/y', type: 'file' },
    { name: 'h', type: 'link', linkname: 'x/shadow' },
    { name: 'xy/ok', type: 'file' },
    { name: 'x', type: 'directory' },
    { name: 'x/now-fine', type: 'file' },
  ].map((h) => crossing(h as Parameters<typeof crossing>[0]));
  assert.equal(answers, [
    null,
    'x/passwd lies beyond the symlink x of the same archive',
    'x/deeper/y lies beyond the symlink x of the same archive',
    'h lies beyond the symlink x of the same archive',
    null,
    null,
    null,
  ]);
});

test('a tar split in one reading: each part holds its entries, renamed, bodies whole', async () => {
  const source = writeTar(async (pack) => {
    for (const [name, body] of [
      ['~/a', 'home a'],
      ['usr/b', 'root b'],
      ['~/c', 'home c'],
      ['skip', 'left out'],
    ] as const) {
      await writeEntry(pack, { name, type: 'file', mode: 0o644, size: body.length }, [Buffer.from(body)]);
    }
  });
  const parts = splitEntries(source.tar, ['home', 'root'], (h) =>
    h.name === 'skip' ? null : h.name.startsWith('~/') ? { to: 'home', header: { ...h, name: h.name.slice(2) } } : { to: 'root', header: h },
  );
  const [home, root] = await Promise.all([entriesOf(parts.home.tar), entriesOf(parts.root.tar), parts.home.written, parts.root.written, source.written]);
  assert.equal(
    home.map((e) => [e.name, e.content]),
    [
      ['a', 'home a'],
      ['c', 'home c'],
    ],
  );
  assert.equal(
    root.map((e) => [e.name, e.content]),
    [['usr/b', 'root b']],
  );
});

test('a part closed early fails the reading, and the other part with it', async () => {
  const source = writeTar(async (pack) => {
    for (let i = 0; i < 50; i++) await writeEntry(pack, { name: `${i % 2 ? '~/' : ''}f${i}`, type: 'file', size: 65536 }, [Buffer.alloc(65536)]);
  });
  const sourceEnd = source.written.then(
    () => 'ended',
    () => 'failed',
  );
  const parts = splitEntries(source.tar, ['home', 'root'], (h) => ({ to: h.name.startsWith('~/') ? 'home' : 'root', header: h }));
  parts.home.tar.destroy();
  const root = entriesOf(parts.root.tar).then(
    () => 'ended',
    () => 'failed',
  );
  const [written] = await Promise.allSettled([parts.root.written, parts.home.written.catch(() => undefined)]);
  assert.is(written.status, 'rejected');
  assert.is(await root, 'failed');
  assert.is(await sourceEnd, 'failed', 'the source stops being read');
});

test.run();
