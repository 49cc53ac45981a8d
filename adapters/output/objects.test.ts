import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createFileObjectStore } from '../objectstore/filesystem.ts';
import S3rver from 's3rver';
import { createS3ObjectStore, parseS3Url } from '../objectstore/s3.ts';
import { createObjectOutputStore, outputObjectKey } from './objects.ts';

const test = suite('adapters/output: job output in the object store');
const key = { jobId: '6f1c2a4e-1111-4222-8333-444455556666', taskIndex: 0, stepIndex: 1 };
let dir = '';
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'gyre-output-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));
const storeOf = (limit: number) => createObjectOutputStore(createFileObjectStore(join(dir, 'objects')), join(dir, 'spool'), limit);
const spool = () => join(dir, 'spool', key.jobId, '0', '1.log');

test('chunks are kept in order with their offsets, and read back whole', async () => {
  const store = storeOf(1024);
  const writes = await Promise.all(['one ', 'two ', 'three'].map((t) => store.append(key, t)));
  assert.equal(
    writes.map((w) => w.offset),
    [0, 4, 8],
  );
  assert.is(await store.read(key), 'one two three', 'an open step reads from its spool');
  assert.ok(existsSync(spool()));
  assert.equal(await store.seal(key), { bytes: 13, truncated: false });
  assert.is(await store.read(key), 'one two three');
  assert.is(await storeOf(1024).read(key), 'one two three', 'another store (a restart) reads what was sealed');
});

test('a sealed step is one object under jobs/<job>/output/<task>/<step>.log, and its spool is gone', async () => {
  const store = storeOf(1024);
  await store.append(key, 'line 1\n');
  await store.seal(key);
  assert.is(outputObjectKey(key), `jobs/${key.jobId}/output/0/1.log`);
  assert.is(readFileSync(join(dir, 'objects', 'jobs', key.jobId, 'output', '0', '1.log'), 'utf8'), 'line 1\n');
  assert.not.ok(existsSync(spool()), 'the spool is removed');
  assert.is(await store.read({ ...key, stepIndex: 2 }), null, 'a step with no output reads null');
});

test('output that arrives after the seal (a resent report) continues the step at its offset', async () => {
  await storeOf(1024).append(key, 'before ');
  await storeOf(1024).seal(key);
  const later = storeOf(1024);
  assert.equal(await later.append(key, 'after'), { kept: 'after', offset: 7 });
  assert.is(await later.read(key), 'before after');
  assert.equal(await later.seal(key), { bytes: 12, truncated: false });
  assert.is(await storeOf(1024).read(key), 'before after');
});

test('output past the limit is cut with a line that says so, and the rest is dropped', async () => {
  const store = storeOf(10);
  await store.append(key, '12345678');
  const cut = await store.append(key, 'abcdef');
  assert.match(cut.kept, /^ab\n\[output of this step cut at/);
  assert.equal(await store.append(key, 'more'), { kept: '', offset: (await store.seal(key)).bytes });
  const text = (await store.read(key))!;
  assert.ok(text.startsWith('12345678ab\n[output of this step cut at 0 MB]'), text);
  assert.not.match(text, 'more');
  assert.equal(await storeOf(10).append(key, 'after a restart'), { kept: '', offset: Buffer.byteLength(text) }, 'a cut output stays cut after a restart');
});

test('output kept as files before the object store still reads', async () => {
  const legacy = join(dir, 'output', key.jobId, '0');
  mkdirSync(legacy, { recursive: true });
  writeFileSync(join(legacy, '1.log'), 'from an older Gyre');
  assert.is(
    await createObjectOutputStore(createFileObjectStore(join(dir, 'objects')), join(dir, 'spool'), 1024, join(dir, 'output')).read(key),
    'from an older Gyre',
  );
});

test('a key that is not a job id never becomes a path', async () => {
  const store = storeOf(10);
  try {
    await store.append({ ...key, jobId: '../../etc' }, 'x');
    assert.unreachable('accepted');
  } catch (e) {
    assert.match(String(e), 'not an output key');
  }
});

test.run();

const s3 = suite('adapters/output: job output in an S3 bucket (s3rver)');
let server: S3rver | undefined;
let s3dir = '';
let endpoint = '';
const savedEnv = { ...process.env };
s3.before(async () => {
  s3dir = mkdtempSync(join(tmpdir(), 'gyre-output-s3-'));
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(s3dir, 's3rver'), configureBuckets: [{ name: 'gyre' }] });
  endpoint = `http://127.0.0.1:${(await server.run()).port}`;
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
});
s3.after(async () => {
  await server?.close();
  process.env = savedEnv;
  rmSync(s3dir, { recursive: true, force: true });
});

s3('a sealed step is the object <prefix>/jobs/<job>/output/<task>/<step>.log in the bucket, and reads back after a restart', async () => {
  const make = () =>
    createObjectOutputStore(
      createS3ObjectStore({ ...parseS3Url('s3://gyre/ci'), endpoint, forcePathStyle: true, spoolDir: join(s3dir, 'uploads') }),
      join(s3dir, 'spool'),
      1024,
    );
  const store = make();
  await store.append(key, 'one ');
  await store.append(key, 'two');
  assert.equal(await store.seal(key), { bytes: 7, truncated: false });
  assert.not.ok(existsSync(join(s3dir, 'spool', key.jobId, '0', '1.log')), 'the spool is removed');
  assert.is(
    readFileSync(join(s3dir, 's3rver', 'gyre', 'ci', 'jobs', key.jobId, 'output', '0', '1.log._S3rver_object'), 'utf8'),
    'one two',
    'the bucket holds the plain text',
  );
  assert.is(await make().read(key), 'one two');
});

s3.run();
