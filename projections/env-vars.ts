import type { Knex } from 'knex';
import { isoTime } from './projection.ts';

/** An environment variable as every API shows it: masked; the value itself is never in a read model. */
export interface EnvVarRow {
  readonly name: string;
  readonly value: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A table of masked variables, one row per (owner, name): projects' and contexts' alike. */
export const envVarTable = (table: string, owner: string) => {
  const toRow = (r: Record<string, unknown>): EnvVarRow => ({
    name: r.name as string,
    value: r.masked as string,
    createdAt: isoTime(r.created_at),
    updatedAt: isoTime(r.updated_at),
  });
  return {
    create: (db: Knex) =>
      db.raw(`create table if not exists ${table} (
        ${owner} text not null, name text not null, masked text not null, created_at timestamptz not null, updated_at timestamptz not null,
        primary key (${owner}, name))`),
    /** Creates or replaces a variable; a replaced one keeps its created_at. */
    store: (trx: Knex.Transaction, ownerId: string, name: string, masked: string, at: string) =>
      trx(table)
        .insert({ [owner]: ownerId, name, masked, created_at: at, updated_at: at })
        .onConflict([owner, 'name'])
        .merge({ masked, updated_at: at }),
    remove: (trx: Knex.Transaction, ownerId: string, name?: string) =>
      trx(table)
        .where({ [owner]: ownerId, ...(name === undefined ? {} : { name }) })
        .delete(),
    one: async (db: Knex, ownerId: string, name: string): Promise<EnvVarRow | undefined> => {
      const row = await db(table)
        .where({ [owner]: ownerId, name })
        .first();
      return row ? toRow(row) : undefined;
    },
    /** An owner's variables by name, after a name (the cursor). */
    page: async (db: Knex, ownerId: string, first: number, after?: string): Promise<{ envVars: EnvVarRow[]; hasNextPage: boolean }> => {
      const q = db(table)
        .where({ [owner]: ownerId })
        .orderBy('name')
        .limit(first + 1);
      if (after) q.where('name', '>', after);
      const rows = (await q) as Array<Record<string, unknown>>;
      return { envVars: rows.slice(0, first).map(toRow), hasNextPage: rows.length > first };
    },
  };
};
