import type { Knex } from 'knex';
import type { EventStore } from '../adapters/eventstore/port.ts';
import { START } from '../adapters/eventstore/port.ts';
import { ValidationError } from '../domain/errors.ts';
import type { Position } from '../domain/events/envelope.ts';
import { eventLogCopied, eventLogStream } from '../domain/system/event-log.ts';
import type { Projection } from '../projections/projection.ts';
import { forgetReadModels } from '../projections/runner.ts';
import { placeReactors } from './reactor-checkpoints.ts';

/**
 * Which log the read models and reactors of a SQL database follow, named by the log's first event
 * (`id@position`): a copy of a log keeps its events' ids but not their positions, so it is another log.
 */
const table = 'followed_log';

/** The log's name, or null while it holds no event of Gyre's. */
export const logIdentity = async (store: Pick<EventStore, 'readAll'>): Promise<string | null> => {
  for (let from: Position = START; ; ) {
    // a small window: the first event is all it needs, though a server's own events may come before it
    const page = await store.readAll(from, { limit: 32 });
    const first = page.events[0];
    if (first) return `${first.id}@${first.position}`;
    if (page.atEnd) return null;
    from = page.next;
  }
};

const ensureTable = (db: Knex) => db.raw(`create table if not exists ${table} (one boolean primary key default true check (one), identity text not null)`);

/** The log the database follows; one it has never named (an earlier version's) is taken to be `identity`. */
export const adoptLog = async (db: Knex, identity: string): Promise<string> => {
  await ensureTable(db);
  await db(table).insert({ identity }).onConflict('one').ignore();
  return ((await db(table).first('identity')) as { identity: string }).identity;
};

export type Followed = { readonly changed: false } | { readonly changed: true; readonly from: string };

/** The database's read models and reactors followed another log, and this one is no copy of it. */
export class AnotherLogError extends ValidationError {}

/**
 * Before anything follows `store`: when the database's read models followed another log of which this one is a copy
 * (`gyre events copy`), they are emptied to be built again, and the reactors go on from where the copy put them. Any
 * other log is refused: its reactors would react to its whole history again, or skip it. `migrate` holds the schema
 * lock, so servers starting together do this once.
 */
export const followLog = async (options: {
  readonly db: Knex;
  readonly store: EventStore;
  readonly projections: ReadonlyArray<Projection>;
  readonly migrate: <T>(db: Knex, change: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;
  /** What else keeps positions of the log, told to forget them when the log is a copy (in the same transaction). */
  readonly forgetPositions?: ReadonlyArray<(trx: Knex.Transaction) => Promise<void>>;
}): Promise<Followed> => {
  const { db, store, projections, migrate } = options;
  const identity = await logIdentity(store);
  // read before the lock: on the embedded database the store shares the one connection the change holds
  const last = identity ? await store.readLast(eventLogStream) : undefined;
  const copy = last?.type === eventLogCopied.type ? eventLogCopied.schema.parse(last.data) : null;
  return migrate(db, async (trx): Promise<Followed> => {
    await ensureTable(trx);
    const followed = ((await trx(table).first('identity')) as { identity: string } | undefined)?.identity;
    if (!identity) {
      if (followed)
        throw new AnotherLogError(
          `the event log is empty, but this database's read models followed a log (first event ${followed}): copy that log into it first (gyre events copy), or start on an empty database`,
        );
      return { changed: false };
    }
    if (!followed || followed === identity) {
      await adoptLog(trx, identity);
      return { changed: false };
    }
    if (copy?.fromLog !== followed)
      throw new AnotherLogError(
        `this database's read models and reactors followed another event log (first event ${followed}), and this one is no copy of it: point Gyre at the log it followed, or start on an empty database`,
      );
    await forgetReadModels(trx, projections);
    await placeReactors(trx, copy.reactors);
    for (const forget of options.forgetPositions ?? []) await forget(trx);
    await trx(table).update({ identity });
    return { changed: true, from: followed };
  });
};
