import type { Knex } from 'knex';
import type { Position } from '../domain/events/envelope.ts';

/** Where each reactor (workers/reactors.ts) has got to in the log: one row per reactor. */
export const reactorCheckpoints = 'reactor_checkpoints';

export const ensureReactorCheckpointTable = async (db: Knex) => {
  await db.raw(`create table if not exists ${reactorCheckpoints} (
    name text primary key, position text not null, claimed_by text, claimed_at timestamptz, updated_at timestamptz not null default now())`);
};

export const reactorPositions = async (db: Knex): Promise<Record<string, Position>> => {
  await ensureReactorCheckpointTable(db);
  const rows = (await db(reactorCheckpoints).select('name', 'position')) as Array<{ name: string; position: Position }>;
  return Object.fromEntries(rows.map((r) => [r.name, r.position]));
};

/** Puts every reactor at the position given (the start of the log when none is), for a log it did not follow. */
export const placeReactors = async (trx: Knex, positions: Readonly<Record<string, Position>>) => {
  await ensureReactorCheckpointTable(trx);
  await trx(reactorCheckpoints).delete();
  const rows = Object.entries(positions).map(([name, position]) => ({ name, position }));
  if (rows.length) await trx(reactorCheckpoints).insert(rows);
};
