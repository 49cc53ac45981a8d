import type { Knex } from 'knex';
import { isEmbedded } from '../database/sql.ts';
import { resetDatabase, testDatabase, testDatabaseKind } from '../../test/support/database.ts';
import { sleep } from '../../test/support/events.ts';
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
