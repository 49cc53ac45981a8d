import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../domain/events/envelope.ts';
import { type EventStoreDbStandIn, startEventStoreDbStandIn } from '../../test/support/eventstoredb-standin.ts';
import { newEvent, sleep, uniqueName } from '../../test/support/events.ts';
import { type ContractHarness, eventStoreContract } from './contract.ts';
import { connectEventStoreDb, createEventStoreDbEventStore, type EventStoreDbEventStore, type EventStoreDbOptions } from './eventstoredb.ts';
import { START, type EventFilter, type Page } from './port.ts';

/** EventStoreDB has no transaction to hold open: a held append waits, then appends or appends nothing. */
const harness = (store: EventStoreDbEventStore): ContractHarness => ({
  store,
  concurrentTransactions: false,
  async appendHeld(stream, events, expected, hold) {
    await sleep(hold.ms);
    return hold.rollback ? null : store.append(stream, events, expected);
  },
});

let standIn: EventStoreDbStandIn;
let store: EventStoreDbEventStore;
eventStoreContract(
  'EventStoreDB (stand-in)',
  async () => {
    standIn = await startEventStoreDbStandIn();
    store = createEventStoreDbEventStore(standIn.url);
    return harness(store);
  },
  async () => {
    await store.close();
    await standIn.stop();
  },
).run();

// against a real server only when one is named: none can be installed on the machines that run the suite
const realUrl = process.env.GYRE_TEST_EVENTSTORE_URL;
if (realUrl) {
  let real: EventStoreDbEventStore;
  eventStoreContract(
    'EventStoreDB (GYRE_TEST_EVENTSTORE_URL)',
    async () => {
      real = await connectEventStoreDb(realUrl, { variable: 'GYRE_TEST_EVENTSTORE_URL' });
      return harness(real);
    },
    async () => {
      await real.close();
    },
  ).run();
}

/** Resolves once `done` holds, looking every 20 ms; fails after `ms`. */
const until = async (what: string, done: () => boolean | Promise<boolean>, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
};

/**
 * What a subscription delivered before a marker appended after everything asserted on: an event
 * delivered twice, or late, would be among them, without waiting for a time in which it might come.
 */
const beforeMarker = async (s: EventStoreDbEventStore, sub: { events(): RecordedEvent[] }, type: string) => {
  const marker = (await s.append(uniqueName('marker'), [newEvent(type)], 'no_stream')).events[0]!.id;
  await until('the marker comes through', () => sub.events().some((e) => e.id === marker));
  const events = sub.events();
  return events.slice(
    0,
    events.findIndex((e) => e.id === marker),
  );
};

/** Follows a subscription in the background, keeping its pages. */
const follow = (s: EventStoreDbEventStore, from: string, filter: EventFilter) => {
  const controller = new AbortController();
  const pages: Page[] = [];
  let failure: unknown;
  const done = (async () => {
    for await (const page of s.subscribe(from, { filter, signal: controller.signal, limit: 50 })) pages.push(page);
  })().catch((e) => {
    failure = e;
  });
  const events = () => {
    if (failure) throw failure;
    return pages.flatMap((p) => p.events);
  };
  return {
    pages,
    events,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
};

const adapter = suite('eventstore/eventstoredb: what is its own');
let own: EventStoreDbStandIn;
let stores: EventStoreDbEventStore[] = [];
const open = (options: EventStoreDbOptions = {}) => {
  const s = createEventStoreDbEventStore(own.url, options);
  stores.push(s);
  return s;
};
adapter.before.each(async () => {
  own = await startEventStoreDbStandIn();
});
adapter.after.each(async () => {
  for (const s of stores) await s.close();
  stores = [];
  await own.stop();
});

adapter('system events are in $all but never come out of a read, a subscription or head()', async () => {
  const s = open();
  const t = uniqueName('sys');
  const sub = follow(s, START, {});
  const mine = [newEvent(`${t}.one`), newEvent(`${t}.two`)];
  await s.append(`${t}-a`, [mine[0]!], 'no_stream');
  own.appendSystemEvent('$stats-127.0.0.1:2113', '$statsCollected');
  const second = await s.append(`${t}-b`, [mine[1]!], 'no_stream');
  own.appendSystemEvent('$stats-127.0.0.1:2113', '$statsCollected');
  const all = await s.readAll(START, { limit: 1000 });
  assert.equal(
    all.events.map((e) => e.id),
    mine.map((e) => e.id),
  );
  assert.ok(all.atEnd);
  assert.ok(all.next > second.position, 'the read moved past the system event at the end');
  assert.is(await s.head(), second.position, 'head() is the newest event of Gyre, not of the server');
  assert.equal(await s.readStream('$stats-127.0.0.1:2113'), []);
  await until('the subscription delivers both events', () => sub.events().length >= 2);
  assert.equal(
    (await beforeMarker(s, sub, `${t}.marker`)).map((e) => e.id),
    mine.map((e) => e.id),
  );
  await sub.stop();
});

adapter('the audit envelope is the event metadata, with $correlationId and $causationId at its top level', async () => {
  const s = open();
  const t = uniqueName('meta');
  const e = { ...newEvent(`${t}.x`, { n: 1 }), metadata: { ...newEvent('x').metadata, $correlationId: 'webhook-1', $causationId: 'event-0' } };
  await s.append(`${t}-s`, [e], 'no_stream');
  const raw: { data: unknown; metadata: unknown }[] = [];
  for await (const r of s.client.readStream(`${t}-s`)) raw.push({ data: r.event!.data, metadata: r.event!.metadata });
  assert.equal(raw, [{ data: { n: 1 }, metadata: e.metadata }]);
  assert.is((raw[0]!.metadata as Record<string, unknown>).$correlationId, 'webhook-1');
  assert.is((raw[0]!.metadata as Record<string, unknown>).$causationId, 'event-0');
});

adapter('under a filter that matches nothing, checkpoints still move next', async () => {
  const s = open({ checkpointEvery: 4 });
  const t = uniqueName('cp');
  const start = await s.head();
  const sub = follow(s, start, { types: [{ exact: `${t}.never` }] });
  const written = await s.append(
    `${t}-s`,
    Array.from({ length: 20 }, () => newEvent(`${t}.other`)),
    'no_stream',
  );
  const sixteenth = written.events[15]!.position;
  await until('a checkpoint past the sixteenth event', () => sub.pages.some((p) => p.next >= sixteenth));
  assert.equal(sub.events(), []);
  const nexts = sub.pages.map((p) => p.next);
  assert.equal([...nexts].sort(), nexts, 'next only moves forwards');
  assert.is(new Set(nexts).size, nexts.length, 'every page moves next');
  assert.ok(nexts[0]! > start);
  await sub.stop();
});

adapter("after this store's append, next reaches the head though no checkpoint is due, and skips no event", async () => {
  const s = open({ checkpointEvery: 1000 });
  const t = uniqueName('settle');
  const sub = follow(s, await s.head(), { types: [{ prefix: `${t}.wanted` }] });
  const first = await s.append(`${t}-s`, [newEvent(`${t}.other`), newEvent(`${t}.other`)], 'no_stream');
  await until('next at the skipped events', () => sub.pages.some((p) => p.next >= first.position), 5000);
  assert.equal(sub.events(), []);
  const second = await s.append(`${t}-s`, [newEvent(`${t}.other`), newEvent(`${t}.wanted`), newEvent(`${t}.other`)], 'exists');
  await until('next at the head', () => sub.pages.some((p) => p.next >= second.position), 5000);
  assert.equal(
    (await beforeMarker(s, sub, `${t}.wanted.marker`)).map((e) => e.id),
    [second.events[1]!.id],
    'the one wanted event, once',
  );
  const nexts = sub.pages.map((p) => p.next);
  assert.equal([...nexts].sort(), nexts, 'next only moves forwards');
  await sub.stop();
});

const resumes = async (name: string, cut: () => Promise<void>) => {
  const s = open({ maxRetryMs: 200 });
  const t = uniqueName(name);
  const sub = follow(s, START, { types: [{ prefix: `${t}.` }] });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(...(await s.append(`${t}-s`, [newEvent(`${t}.e`, { i })], 'any')).events.map((e) => e.id));
  await until('the first three events', () => sub.events().length >= 3);
  await cut();
  for (let i = 3; i < 6; i++) ids.push(...(await s.append(`${t}-s`, [newEvent(`${t}.e`, { i })], 'any')).events.map((e) => e.id));
  await until('the last three events, after the connection came back', () => sub.events().length >= 6);
  assert.equal(
    (await beforeMarker(s, sub, `${t}.marker`)).map((e: RecordedEvent) => e.id),
    ids,
    'every event once, in order',
  );
  await sub.stop();
};

adapter('a subscription whose call the server drops resumes where it was, without skipping or repeating', async () => {
  await resumes('drop', async () => own.dropSubscriptions());
});

adapter('a subscription resumes after the server stops and starts again on the same port', async () => {
  await resumes('restart', async () => {
    await own.stop();
    await own.start();
  });
});

adapter('reads that stop early end their calls, so close() returns', async () => {
  const s = open();
  const t = uniqueName('early');
  await s.append(
    `${t}-s`,
    Array.from({ length: 30 }, () => newEvent(`${t}.x`)),
    'no_stream',
  );
  await s.head();
  await s.readLast(`${t}-s`);
  await s.readAll(START, { limit: 5 });
  await until('every read call ended', () => own.openReads() === 0, 5000);
  const closed = s.close().then(() => 'closed');
  const timedOut = sleep(5000).then(() => 'timed out');
  assert.is(await Promise.race([closed, timedOut]), 'closed');
  stores = stores.filter((x) => x !== s);
});

adapter('an unreachable server stops start-up with a message naming the variable, and no password', async () => {
  const url = own.url.replace('esdb://', 'esdb://admin:hunter2@');
  await own.stop();
  const err = await connectEventStoreDb(url, { variable: 'GYRE_EVENTSTORE_URL' }).then(
    () => undefined,
    (e: Error) => e,
  );
  await own.start();
  assert.ok(err, 'connected to a stopped server');
  assert.match(err.message, /GYRE_EVENTSTORE_URL/);
  assert.not.match(err.message, /hunter2/);
});

adapter('a connection string that does not parse is refused without quoting it', async () => {
  const err = await connectEventStoreDb('esdb://admin:hunter2@127.0.0.1:hunter2?tls=false', { variable: 'GYRE_EVENTSTORE_URL' }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err, 'accepted a port that is not a number');
  assert.match(err.message, /GYRE_EVENTSTORE_URL is not a valid EventStoreDB connection string/);
  assert.not.match(err.message, /hunter2/);
});

adapter.run();
