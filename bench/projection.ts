/** Projection catch-up in events per second: every read model, from an empty checkpoint, over 100k events. */
import { auditLogProjection } from '../projections/audit-log.ts';
import { withSchemaLock } from '../adapters/database/sql.ts';
import { allProjections } from '../projections/all.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { backendArg, freshDatabase, rate, report, seedEvents } from './support.ts';

const backend = backendArg();
const count = Number(process.env.BENCH_EVENTS ?? 100_000);
const db = await freshDatabase(backend);
const store = await seedEvents(db, count);
const head = await store.head();
const runner = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: allProjections, batchSize: 1000 });
const started = Date.now();
await runner.start();
if (!(await runner.waitFor(head, 30 * 60_000))) throw new Error('projections did not catch up');
const ms = Date.now() - started;
await runner.stop();
const [{ count: rows }] = (await db(auditLogProjection.tables.audit_events).count('* as count')) as [{ count: string }];
if (Number(rows) !== count) throw new Error(`audit read model holds ${rows} rows, not ${count}`);
report({ bench: 'projection', backend, events: count, seconds: ms / 1000, events_per_s: rate(count, ms) });
await store.close();
await db.destroy();
