/**
 * A projection runner in a process of its own, for tests that kill it with SIGKILL.
 * It says `started`, then `batch N` as it begins applying each batch (batch N-1 has committed by then).
 * argv: <ledger name> <database url or PGlite dir> [--until-caught-up]
 */
import { openDatabase, withSchemaLock } from '../../adapters/database/sql.ts';
import { createPostgresEventStore } from '../../adapters/eventstore/postgres.ts';
import { createProjectionRunner } from '../../projections/runner.ts';
import { ledgerProjection } from './ledger.ts';

const [name, where, flag] = process.argv.slice(2) as [string, string, string | undefined];
const db = where.startsWith('postgres') ? openDatabase({ url: where }) : openDatabase({ dataDir: where });
const store = await createPostgresEventStore(db);
const runner = createProjectionRunner({
  store,
  db,
  migrate: withSchemaLock,
  projections: [ledgerProjection(name, { msPerEvent: 3, onBatch: (n) => process.stdout.write(`batch ${n}\n`) })],
  batchSize: 10,
});
await runner.start();
process.stdout.write('started\n');
if (flag === '--until-caught-up') {
  await runner.waitFor(await store.head(), 120_000);
  await runner.stop();
  await db.destroy();
  process.exit(0);
}
