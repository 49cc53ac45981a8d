import type { Knex } from 'knex';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../domain/events/envelope.ts';
import { isEmbedded } from '../database/sql.ts';
import { resetDatabase, testDatabase, testDatabaseKind } from '../../test/support/database.ts';
import { newEvent, sleep, uniqueName } from '../../test/support/events.ts';
import { eventStoreContract } from './contract.ts';
import { createPostgresEventStore } from './postgres.ts';

class Rollback extends Error {}

eventStoreContract(
  testDatabaseKind(),
  async () => {
    const db = testDatabase();
    await resetDatabase(db);
    const store = await createPostgresEventStore(db);
    return {
      store,
      concurrentTransactions: !isEmbedded(db),
      async appendHeld(stream, events, expected, hold) {
        try {
          return await db.transaction(async (trx: Knex.Transaction) => {
            const result = await store.appendWithin(trx, stream, events, expected);
            await sleep(hold.ms);
            if (hold.rollback) throw new Rollback();
            return result;
          });
        } catch (e) {
          if (e instanceof Rollback) return null;
          throw e;
        }
      },
    };
  },
  async () => {},
).run();

/** Only PostgreSQL holds two transactions open at once. */
const horizon = suite('eventstore/postgres: the horizon');
horizon('an event held back by an older open transaction that appends nothing arrives when it ends, with no append to wake the tail', async () => {
  const db = testDatabase();
  if (isEmbedded(db)) return;
  const store = await createPostgresEventStore(db);
  const t = uniqueName('held');
  const controller = new AbortController();
  const got: RecordedEvent[] = [];
  let arrived!: () => void;
  const delivered = new Promise<void>((r) => (arrived = r));
  const subscribed = (async () => {
    for await (const page of store.subscribe('end', { filter: { types: [{ prefix: `${t}.` }] }, signal: controller.signal })) {
      got.push(...page.events);
      if (got.length) arrived();
    }
  })();
  const blocker = await db.transaction();
  try {
    // an id of its own, older than the append's: the append's event lies above the horizon until it ends
    await blocker.raw('select pg_current_xact_id()');
    // a look of the tail's at the log begun after the append committed, which must find the event held back
    type Query = { sql?: string; __knexQueryUid?: string };
    const looked = new Promise<void>((resolve) => {
      let committed = false;
      const after = new Set<string | undefined>();
      const started = (query: Query) => {
        if (committed && query.sql?.includes('held_back')) after.add(query.__knexQueryUid);
      };
      const answered = (_response: unknown, query: Query) => {
        if (query.sql?.includes('insert into events')) committed = true;
        if (!after.has(query.__knexQueryUid)) return;
        db.off('query', started);
        db.off('query-response', answered);
        resolve();
      };
      db.on('query', started);
      db.on('query-response', answered);
    });
    await store.append(`${t}-s`, [newEvent(`${t}.late`)], 'no_stream');
    await looked;
    assert.is(got.length, 0, 'delivered past an open older transaction');
  } finally {
    await blocker.commit();
  }
  const timer = setTimeout(() => controller.abort(), 5000);
  await Promise.race([delivered, subscribed]);
  clearTimeout(timer);
  controller.abort();
  await subscribed;
  assert.is(got.length, 1, 'the held-back event never arrived');
  await store.close();
});
horizon.run();
