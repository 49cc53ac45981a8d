import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError } from '../../domain/errors.ts';
import type { RecordedEvent } from '../../domain/events/envelope.ts';
import { newEvent, sleep, uniqueName } from '../../test/support/events.ts';
import { START, WrongExpectedRevisionError, type AppendResult, type EventFilter, type EventStore, type ExpectedRevision } from './port.ts';
import type { NewEvent } from '../../domain/events/envelope.ts';

/** What an adapter gives the suite: a store, and a way to hold an append's transaction open. */
export interface ContractHarness {
  readonly store: EventStore;
  /** True when two transactions can be open at once (PostgreSQL), false on one connection (PGlite). */
  readonly concurrentTransactions: boolean;
  /** Appends in a transaction kept open for holdMs before it commits, or rolls back. */
  appendHeld(
    stream: string,
    events: ReadonlyArray<NewEvent>,
    expected: ExpectedRevision,
    hold: { ms: number; rollback?: boolean },
  ): Promise<AppendResult | null>;
}

const conflict = (e: unknown) => e instanceof WrongExpectedRevisionError && e instanceof ConflictError;

/** Resolves once `done` holds, looking every 20 ms; fails after `ms`. */
const until = async (done: () => boolean | Promise<boolean>, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not done within ${ms} ms`);
    await sleep(20);
  }
};

/** Collects a subscription's events until `until` says stop, or the deadline passes. */
const collect = async (store: EventStore, from: string | 'end', filter: EventFilter, until: (got: RecordedEvent[]) => boolean, ms = 20_000) => {
  const controller = new AbortController();
  const got: RecordedEvent[] = [];
  const timer = setTimeout(() => controller.abort(), ms);
  const started = (async () => {
    for await (const page of store.subscribe(from, { filter, signal: controller.signal, limit: 50 })) {
      got.push(...page.events);
      if (until(got)) break;
    }
  })();
  return {
    got,
    done: started.finally(() => clearTimeout(timer)),
    stop: () => controller.abort(),
  };
};

export const eventStoreContract = (name: string, setup: () => Promise<ContractHarness>, teardown: () => Promise<void>) => {
  const test = suite(`event store contract: ${name}`);
  let h: ContractHarness;
  test.before(async () => {
    h = await setup();
  });
  test.after(teardown);

  test('no_stream: appends to a new stream, refuses an existing one', async () => {
    const s = uniqueName('s-');
    const r = await h.store.append(s, [newEvent('c.first'), newEvent('c.second')], 'no_stream');
    assert.is(r.revision, 1);
    await h.store.append(s, [newEvent('c.x')], 'no_stream').then(
      () => assert.unreachable('appended twice with no_stream'),
      (e) => assert.ok(conflict(e), String(e)),
    );
  });

  test('exists: refuses a new stream, appends to an existing one', async () => {
    const s = uniqueName('s-');
    await h.store.append(s, [newEvent('c.x')], 'exists').then(
      () => assert.unreachable('appended to a missing stream with exists'),
      (e) => {
        assert.ok(conflict(e));
        assert.is((e as WrongExpectedRevisionError).actual, 'no_stream');
      },
    );
    await h.store.append(s, [newEvent('c.x')], 'no_stream');
    const r = await h.store.append(s, [newEvent('c.y')], 'exists');
    assert.is(r.revision, 1);
  });

  test('any: appends whatever the stream holds', async () => {
    const s = uniqueName('s-');
    assert.is((await h.store.append(s, [newEvent('c.x')], 'any')).revision, 0);
    assert.is((await h.store.append(s, [newEvent('c.x'), newEvent('c.y')], 'any')).revision, 2);
  });

  test('an exact revision must match the last revision', async () => {
    const s = uniqueName('s-');
    await h.store.append(s, [newEvent('c.x')], 'no_stream');
    assert.is((await h.store.append(s, [newEvent('c.y')], 0)).revision, 1);
    await h.store.append(s, [newEvent('c.z')], 0).then(
      () => assert.unreachable('stale revision accepted'),
      (e) => {
        assert.ok(conflict(e));
        assert.is((e as WrongExpectedRevisionError).actual, 1);
        assert.match((e as Error).message, /revision 1, not 0/);
      },
    );
    await h.store.append(uniqueName('s-'), [newEvent('c.z')], 3).then(
      () => assert.unreachable('revision on a missing stream accepted'),
      (e) => assert.ok(conflict(e)),
    );
    assert.is((await h.store.readStream(s)).length, 2);
  });

  test('of concurrent appends at one expected revision exactly one wins', async () => {
    for (const expected of ['no_stream', 0] as const) {
      const s = uniqueName('s-');
      if (expected === 0) await h.store.append(s, [newEvent('c.seed')], 'no_stream');
      const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => h.store.append(s, [newEvent('c.race', { i })], expected)));
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      assert.is(won.length, 1, `expected ${String(expected)}: ${won.length} winners`);
      assert.ok(
        lost.every((o) => conflict(o.reason)),
        String(lost.find((o) => !conflict(o.reason))?.reason),
      );
      assert.is((await h.store.readStream(s)).length, expected === 0 ? 2 : 1);
    }
  });

  test('readStream returns a stream in revision order, from a revision on', async () => {
    const s = uniqueName('s-');
    const twelve = Array.from({ length: 12 }, (_, i) => i);
    for (const i of twelve) await h.store.append(s, [newEvent('c.step', { i })], i === 0 ? 'no_stream' : i - 1);
    const all = await h.store.readStream(s);
    assert.equal(
      all.map((e) => e.data),
      twelve.map((i) => ({ i })),
    );
    assert.equal(
      all.map((e) => e.revision),
      twelve,
    );
    assert.equal(
      (await h.store.readStream(s, 9)).map((e) => e.revision),
      [9, 10, 11],
    );
    assert.equal(await h.store.readStream(uniqueName('none-')), []);
    assert.is((await h.store.readLast(s))?.revision, 11);
    assert.is(await h.store.readLast(uniqueName('none-')), undefined);
    const e = all[0]!;
    assert.match(e.occurredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$/);
    assert.equal(e.metadata.actor, { id: 'tester', type: 'user', name: 'tester' });
  });

  test('readAll pages through the log in position order', async () => {
    const t = uniqueName('r');
    const s = uniqueName('s-');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const e = newEvent(`${t}.step`, { i });
      ids.push(e.id);
      await h.store.append(s, [e], 'any');
    }
    const seen: RecordedEvent[] = [];
    let cursor = START;
    for (let guard = 0; guard < 100; guard++) {
      const page = await h.store.readAll(cursor, { limit: 3, filter: { types: [{ prefix: `${t}.` }] } });
      seen.push(...page.events);
      assert.ok(page.next >= cursor);
      if (page.next === cursor) break;
      cursor = page.next;
    }
    assert.equal(
      seen.map((e) => e.id),
      ids,
    );
    const positions = seen.map((e) => e.position);
    assert.equal([...positions].sort(), positions);
    assert.is(new Set(positions).size, positions.length);
  });

  test('filters take exact types and type prefixes, with no wildcard surprises', async () => {
    const t = uniqueName('f');
    const s = uniqueName('s-');
    await h.store.append(s, [newEvent(`${t}.a_b.create`), newEvent(`${t}.axb.create`), newEvent(`${t}.a_b.delete`), newEvent(`${t}.other`)], 'no_stream');
    const read = async (filter: EventFilter) => (await h.store.readAll(START, { filter, limit: 10_000 })).events.map((e) => e.type);
    assert.equal(await read({ types: [{ prefix: `${t}.a_b.` }] }), [`${t}.a_b.create`, `${t}.a_b.delete`]);
    assert.equal(await read({ types: [{ exact: `${t}.other` }, { prefix: `${t}.axb.` }] }), [`${t}.axb.create`, `${t}.other`]);
  });

  test('a filtered read moves a window at a time past events it does not match', async () => {
    const t = uniqueName('rare');
    const start = await h.store.head();
    await h.store.append(
      uniqueName('s-'),
      Array.from({ length: 25 }, () => newEvent(`${t}.common`)),
      'no_stream',
    );
    const rare = newEvent(`${t}.rare`);
    await h.store.append(uniqueName('s-'), [rare], 'no_stream');
    let cursor = start;
    const found: string[] = [];
    let reads = 0;
    for (;;) {
      const page = await h.store.readAll(cursor, { limit: 10, filter: { types: [{ exact: `${t}.rare` }] } });
      reads++;
      found.push(...page.events.map((e) => e.id));
      if (!page.atEnd) assert.ok(page.next > cursor, 'a full window moves the cursor');
      cursor = page.next;
      if (page.atEnd) break;
    }
    assert.equal(found, [rare.id]);
    assert.ok(reads >= 3, `read the 26 events in windows of 10 (${reads} reads)`);
  });

  test('a subscription catches up, then follows live appends', async () => {
    const t = uniqueName('l');
    const s = uniqueName('s-');
    const before = [newEvent(`${t}.old`), newEvent(`${t}.old`)];
    await h.store.append(s, before, 'no_stream');
    const live = [newEvent(`${t}.new`), newEvent(`${t}.new`), newEvent(`${t}.new`)];
    const sub = await collect(h.store, START, { types: [{ prefix: `${t}.` }] }, (got) => got.length >= 5);
    await until(() => sub.got.length >= 2);
    assert.is(sub.got.length, 2, 'caught up with the two old events');
    for (const e of live) await h.store.append(s, [e], 'any');
    await sub.done;
    assert.equal(
      sub.got.map((e) => e.id),
      [...before, ...live].map((e) => e.id),
    );
  });

  test('a subscription from the end sees only what comes after it', async () => {
    const t = uniqueName('e');
    const s = uniqueName('s-');
    await h.store.append(s, [newEvent(`${t}.old`)], 'no_stream');
    const fresh = newEvent(`${t}.new`);
    const sub = await collect(h.store, 'end', { types: [{ prefix: `${t}.` }] }, (got) => got.some((e) => e.id === fresh.id));
    // when the subscription has started is its own business: marks appended until one arrives show it has
    await until(async () => {
      await h.store.append(`${s}-marks`, [newEvent(`${t}.mark`)], 'any');
      return sub.got.length > 0;
    });
    await h.store.append(s, [fresh], 'any');
    await sub.done;
    assert.equal(
      sub.got.filter((e) => e.type !== `${t}.mark`).map((e) => e.id),
      [fresh.id],
    );
  });

  test('head() is at or after every committed event, even while an older transaction is still open', async () => {
    const t = uniqueName('h');
    const held = h.appendHeld(`${t}-held`, [newEvent(`${t}.held`)], 'any', { ms: 400 });
    // give the held transaction its id first, where two transactions can be open at once
    if (h.concurrentTransactions) await sleep(100);
    const later = await h.store.append(`${t}-later`, [newEvent(`${t}.later`)], 'any');
    const head = await h.store.head();
    assert.ok(head >= later.position, `head ${head} lies before a committed event at ${later.position}`);
    const first = await held;
    if (h.concurrentTransactions)
      assert.ok(first!.position < later.position, 'the held transaction did not take the older position: the test did not exercise the case');
    assert.ok((await h.store.head()) >= first!.position);
  });

  test('under 8 concurrent writers, with transactions held open and rolled back, a subscriber gets every committed event once, in order', async () => {
    const t = uniqueName('w');
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    const commitOrder: string[] = [];
    let inversions = 0;
    let lastCommittedPosition = START;
    const sub = await collect(h.store, START, { types: [{ prefix: `${t}.` }] }, () => false, 60_000);
    const writer = async (w: number) => {
      const stream = `${t}-writer-${w}`;
      for (let i = 0; i < 20; i++) {
        const events = [newEvent(`${t}.write`, { w, i }), newEvent(`${t}.write`, { w, i, second: true })];
        const rollback = (w + i) % 7 === 3;
        const hold = (w * 20 + i) % 5 === 0 ? 30 + ((w * 13 + i * 7) % 50) : 0;
        const result = hold || rollback ? await h.appendHeld(stream, events, 'any', { ms: hold || 5, rollback }) : await h.store.append(stream, events, 'any');
        for (const e of events) (rollback ? rolledBack : committed).add(e.id);
        if (result) {
          if (result.position < lastCommittedPosition) inversions++;
          lastCommittedPosition = result.position > lastCommittedPosition ? result.position : lastCommittedPosition;
          commitOrder.push(...result.events.map((e) => e.id));
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    const deadline = Date.now() + 20_000;
    while (sub.got.length < committed.size && Date.now() < deadline) await sleep(25);
    await sleep(200);
    sub.stop();
    await sub.done;
    const ids = sub.got.map((e) => e.id);
    assert.is(new Set(ids).size, ids.length, 'an event was delivered twice');
    assert.ok(
      ids.every((id) => !rolledBack.has(id)),
      'an event of a rolled-back transaction was delivered',
    );
    assert.is(ids.length, committed.size, `delivered ${ids.length} of ${committed.size} committed events`);
    assert.ok(
      [...committed].every((id) => ids.includes(id)),
      'a committed event was skipped',
    );
    const positions = sub.got.map((e) => e.position);
    const disorder = positions.findIndex((p, i) => i > 0 && p <= positions[i - 1]!);
    assert.is(disorder, -1, `events out of position order at ${disorder}: ${positions[disorder - 1]} then ${positions[disorder]}`);
    assert.ok(rolledBack.size > 0, 'the test rolled back some transactions');
    assert.is(commitOrder.length, committed.size);
    if (h.concurrentTransactions) assert.ok(inversions > 0, 'no transaction committed out of position order: the test did not exercise the case');
  });

  return test;
};
