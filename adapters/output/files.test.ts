import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createFileOutputStore } from './files.ts';

const test = suite('adapters/output: job output as files');
const key = { jobId: '6f1c2a4e-1111-4222-8333-444455556666', taskIndex: 0, stepIndex: 1 };
let dir = '';
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'gyre-output-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

test('chunks are kept in order with their offsets, and read back whole', async () => {
  const store = createFileOutputStore(dir, 1024);
  const writes = await Promise.all(['one ', 'two ', 'three'].map((t) => store.append(key, t)));
  assert.equal(writes.map((w) => w.offset), [0, 4, 8]);
  assert.equal(await store.seal(key), { bytes: 13, truncated: false });
  assert.is(await store.read(key), 'one two three');
  assert.is(await createFileOutputStore(dir, 1024).read(key), 'one two three', 'another store (a restart) reads what was sealed');
});

test('output past the limit is cut with a line that says so, and the rest is dropped', async () => {
  const store = createFileOutputStore(dir, 10);
  await store.append(key, '12345678');
  const cut = await store.append(key, 'abcdef');
  assert.match(cut.kept, /^ab\n\[output of this step cut at/);
  assert.equal(await store.append(key, 'more'), { kept: '', offset: (await store.seal(key)).bytes });
  const text = (await store.read(key))!;
  assert.ok(text.startsWith('12345678ab\n[output of this step cut at 0 MB]'), text);
  assert.not.match(text, 'more');
});

test('a key that is not a job id never becomes a path', async () => {
  const store = createFileOutputStore(dir, 10);
  try {
    await store.append({ ...key, jobId: '../../etc' }, 'x');
    assert.unreachable('accepted');
  } catch (e) {
    assert.match(String(e), 'not an output key');
  }
});

test.run();
