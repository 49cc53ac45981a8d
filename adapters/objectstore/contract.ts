import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ValidationError } from '../../domain/errors.ts';
import { ObjectKeyError, type ObjectStore } from './port.ts';

/** What an adapter gives the suite: a store, and the bytes the storage itself holds for a key (read past the adapter). */
export interface ObjectStoreHarness {
  readonly store: ObjectStore;
  stored(key: string): Promise<Buffer | null>;
}

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

export const bytesOf = async (body: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
};

/**
 * A body of `size` bytes made as it is read, never whole in memory; the same seed gives the same bytes.
 * `progress` is called with the bytes made so far, before each chunk.
 */
const generated = (size: number, progress = (_made: number) => {}, chunk = 64 * 1024) => {
  let sent = 0;
  return new Readable({
    read() {
      progress(sent);
      if (sent >= size) return void this.push(null);
      const n = Math.min(chunk, size - sent);
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (sent + i) % 251;
      sent += n;
      this.push(b);
    },
  });
};
/** The length of `body` if its bytes are `generated`'s, else -1; `progress` is called with the bytes checked so far, after each chunk. */
const generatedMatches = async (body: Readable, progress = (_checked: number) => {}) => {
  let at = 0;
  for await (const c of body) {
    const b = c as Buffer;
    for (let i = 0; i < b.length; i++) if (b[i] !== (at + i) % 251) return -1;
    at += b.length;
    progress(at);
  }
  return at;
};

export const objectStoreContract = (name: string, setup: () => Promise<ObjectStoreHarness>, teardown: () => Promise<void>) => {
  const test = suite(`object store contract: ${name}`);
  let h: ObjectStoreHarness;
  let base = '';
  test.before(async () => {
    h = await setup();
  });
  test.before.each(() => {
    base = `project/${randomUUID()}/jobs/1`;
  });
  test.after(teardown);

  test('text and binary bodies come back, and are stored, byte for byte', async () => {
    const text = Buffer.from('hello, wörld\n<html>☃</html>\n');
    const binary = Buffer.concat([randomBytes(70_000), Buffer.from([0, 0, 255, 13, 10])]);
    await h.store.put(`${base}/artifacts/site/a.html`, text, { contentType: 'text/html; charset=utf-8' });
    await h.store.put(`${base}/artifacts/blob.bin`, Readable.from([binary.subarray(0, 1000), binary.subarray(1000)]));
    const a = (await h.store.get(`${base}/artifacts/site/a.html`))!;
    assert.equal([a.size, a.contentType], [text.length, 'text/html; charset=utf-8']);
    assert.ok((await bytesOf(a.body)).equals(text));
    const b = (await h.store.get(`${base}/artifacts/blob.bin`))!;
    assert.equal([b.size, b.contentType], [binary.length, 'application/octet-stream']);
    assert.ok((await bytesOf(b.body)).equals(binary), 'binary read back');
    assert.ok((await h.stored(`${base}/artifacts/site/a.html`))?.equals(text), 'the storage holds the plain bytes');
    assert.ok((await h.stored(`${base}/artifacts/blob.bin`))?.equals(binary), 'the storage holds the plain bytes (a stream of unknown length)');
  });

  test('a put replaces the object', async () => {
    await h.store.put(`${base}/x`, Buffer.from('first, longer'));
    await h.store.put(`${base}/x`, Buffer.from('second'), { contentType: 'text/plain' });
    const x = (await h.store.get(`${base}/x`))!;
    assert.is((await bytesOf(x.body)).toString(), 'second');
    assert.equal([x.size, x.contentType], [6, 'text/plain']);
  });

  test('while a put streams in, readers see the old object whole, never part of the new one', async () => {
    const key = `${base}/atomic`;
    await h.store.put(key, Buffer.from('old'));
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const slow = Readable.from(
      (async function* () {
        yield Buffer.from('new, first half; ');
        await gate;
        yield Buffer.from('second half');
      })(),
    );
    const putting = h.store.put(key, slow);
    await new Promise((r) => setTimeout(r, 50));
    assert.is((await bytesOf((await h.store.get(key))!.body)).toString(), 'old');
    assert.is((await h.store.head(key))!.size, 3);
    release();
    await putting;
    assert.is((await bytesOf((await h.store.get(key))!.body)).toString(), 'new, first half; second half');
  });

  test('a 20 MB object streams in and out without the process holding it', async () => {
    const size = 20 * 1024 * 1024;
    const key = `${base}/artifacts/big.bin`;
    // RSS also counts garbage not yet collected (Node's young generation alone may hold 32 MB of
    // spent chunks), so each sample is taken after a full collection: what the process still holds.
    const live = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    collect();
    const before = { rss: process.memoryUsage().rss, live: live() };
    const peak = { ...before };
    let samples = 0;
    const measure = () => {
      samples++;
      collect();
      peak.rss = Math.max(peak.rss, process.memoryUsage().rss);
      peak.live = Math.max(peak.live, live());
    };
    // A sample at every megabyte the store takes in and gives out, and one 50 ms after the last sample
    // ended, for the stretches between (the S3 adapter's upload of its spool file). A full collection
    // of the whole test run's heap takes some 120 ms: a timer that fired every 50 ms came due again
    // before each collection ended, so one ran between every two chunks and the test took over a minute.
    let sampler: NodeJS.Timeout | undefined;
    const timed = () => {
      measure();
      sampler = setTimeout(timed, 50);
    };
    sampler = setTimeout(timed, 50);
    const everyMegabyte = () => {
      let next = 0;
      return (bytes: number) => {
        if (bytes < next) return;
        next = bytes + 1024 * 1024;
        clearTimeout(sampler);
        timed();
      };
    };
    try {
      const put = await h.store.put(key, generated(size, everyMegabyte()));
      assert.is(put.size, size);
      const got = (await h.store.get(key))!;
      assert.is(got.size, size);
      assert.is(await generatedMatches(got.body, everyMegabyte()), size, 'the bytes read back are the bytes put');
    } finally {
      clearTimeout(sampler);
    }
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    console.log(
      `  [${name}] 20 MB object: rss grew by ${mb(peak.rss - before.rss)} at most, live heap and buffers by ${mb(peak.live - before.live)} (${samples} samples)`,
    );
    // Loose bounds: samples run between chunks, and RSS also holds freed pages the allocator keeps (and, for
    // s3rver, the server side in this same process); a store that held the body whole would pass neither.
    assert.ok(peak.rss - before.rss < size, `rss grew by ${mb(peak.rss - before.rss)} for a 20 MB object`);
    assert.ok(peak.live - before.live < (size * 3) / 4, `live heap and buffers grew by ${mb(peak.live - before.live)} for a 20 MB object`);
    const stored = await h.stored(key);
    assert.ok(stored && stored.length === size && (await generatedMatches(Readable.from([stored]))) === size, 'the storage holds the plain bytes');
  });

  test('ranges: both ends included, an end past the object stops at its last byte', async () => {
    const body = Buffer.from('0123456789abcdef');
    await h.store.put(`${base}/r`, body);
    const mid = (await h.store.get(`${base}/r`, { range: { start: 2, end: 5 } }))!;
    assert.is((await bytesOf(mid.body)).toString(), '2345');
    assert.is(mid.size, 16, 'size is the whole object');
    assert.is((await bytesOf((await h.store.get(`${base}/r`, { range: { start: 10, end: 100 } }))!.body)).toString(), 'abcdef');
    assert.is((await bytesOf((await h.store.get(`${base}/r`, { range: { start: 0, end: 0 } }))!.body)).toString(), '0');
  });

  test('head answers size and type without the body; a missing key is null', async () => {
    await h.store.put(`${base}/h.json`, Buffer.from('{"a":1}'), { contentType: 'application/json' });
    assert.equal(await h.store.head(`${base}/h.json`), { key: `${base}/h.json`, size: 7, contentType: 'application/json' });
    assert.is(await h.store.head(`${base}/nothing`), null);
    assert.is(await h.store.get(`${base}/nothing`), null);
    assert.is(await h.store.get(`${base}/nothing`, { range: { start: 0, end: 3 } }), null);
    assert.is(await h.store.head(`${base}`), null, 'a folder is not an object');
  });

  test('list pages through the keys under a prefix in key order', async () => {
    // No key here is another's prefix followed by a byte below '.' (`a`, `a-z`): s3rver, which keeps
    // `a` as the file `a._S3rver_object`, lists those two the wrong way round; S3 and MinIO do not.
    const keys = ['b/2', 'a', 'b/10', 'b/1', 'c/d/e', 'B', 'a_z', 'ä'].map((k) => `${base}/l/${k}`);
    for (const k of keys) await h.store.put(k, Buffer.from(k));
    await h.store.put(`${base}/lx`, Buffer.from('outside the folder, inside the prefix'));
    const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await h.store.list(`${base}/l/`, { limit: 3, ...(after ? { after } : {}) });
      seen.push(...page.keys);
      pages++;
      if (!page.next) break;
      after = page.next;
    }
    assert.equal(seen, sorted);
    assert.is(pages, 3);
    assert.equal((await h.store.list(`${base}/l/b/`, { limit: 10 })).keys, [`${base}/l/b/1`, `${base}/l/b/10`, `${base}/l/b/2`]);
    assert.equal((await h.store.list(`${base}/l/b/1`, { limit: 10 })).keys, [`${base}/l/b/1`, `${base}/l/b/10`], 'a prefix is a string prefix');
    assert.equal((await h.store.list(`${base}/l`, { limit: 100 })).keys.length, keys.length + 1);
    assert.equal(await h.store.list(`${base}/none/`, { limit: 10 }), { keys: [], next: null });
  });

  test('delete removes one key, deleteMany every key under a prefix', async () => {
    for (const k of ['a/1', 'a/2', 'a/b/3', 'ab', 'c']) await h.store.put(`${base}/d/${k}`, Buffer.from(k));
    await h.store.delete(`${base}/d/c`);
    await h.store.delete(`${base}/d/c`);
    assert.is(await h.store.head(`${base}/d/c`), null);
    assert.is(await h.stored(`${base}/d/c`), null);
    assert.is(await h.store.deleteMany(`${base}/d/a/`), 3);
    assert.equal((await h.store.list(`${base}/d/`, { limit: 10 })).keys, [`${base}/d/ab`]);
    assert.is(await h.store.deleteMany(`${base}/d/a/`), 0);
  });

  test('bad keys are refused with a typed error, before anything is stored', async () => {
    const bad = ['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', 'a\0b', 'a\\..\\b', `${'k'.repeat(901)}`];
    for (const key of bad) {
      for (const attempt of [() => h.store.put(key, Buffer.from('x')), () => h.store.get(key), () => h.store.head(key), () => h.store.delete(key)]) {
        await attempt().then(
          () => assert.unreachable(`accepted ${JSON.stringify(key)}`),
          (e) => assert.ok(e instanceof ObjectKeyError && e instanceof ValidationError, String(e)),
        );
      }
    }
    for (const prefix of ['../', '/a', 'a//']) {
      await h.store.list(prefix, { limit: 1 }).then(
        () => assert.unreachable(`listed ${prefix}`),
        (e) => assert.instance(e, ObjectKeyError),
      );
    }
  });

  return test;
};
