import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';

export type Database = Knex;

export interface DatabaseOptions {
  /** `postgres://…`; unset means embedded PGlite. */
  readonly url?: string | undefined;
  /** Where PGlite keeps its files; unset means in memory. */
  readonly dataDir?: string | undefined;
  readonly poolMax?: number;
}

/** One SQL dialect everywhere: PostgreSQL through `pg`, or PGlite (PostgreSQL in WASM) embedded. */
export const openDatabase = (options: DatabaseOptions): Database => {
  if (options.url) {
    return knexFactory({
      client: 'pg',
      connection: options.url,
      pool: { min: 0, max: options.poolMax ?? 10 },
    });
  }
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  // loaded only for the embedded mode: the modules alone cost some 30 MB of memory
  const require = createRequire(import.meta.url);
  const ClientPgLite = require('knex-pglite') as unknown;
  const { PGlite } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
  // The engine runs inside this process: a small buffer cache keeps its memory near the 128 MB floor
  // of PGlite's WebAssembly heap instead of growing by PostgreSQL's default 128 MB of shared buffers.
  const pglite = new PGlite(options.dataDir, { postgresqlconf: ['shared_buffers = 16MB', 'work_mem = 4MB', 'temp_buffers = 4MB'] } as never);
  return knexFactory({
    client: ClientPgLite as unknown as typeof knexFactory.Client,
    dialect: 'postgres',
    connection: () => ({ pglite }),
  } as unknown as Knex.Config);
};

export const isEmbedded = (db: Database): boolean => (db.client.config.client as unknown) !== 'pg';

/** knex's raw() answers `{rows}` on pg and PGlite alike. */
export const rows = async <T>(q: Knex.Raw | Promise<unknown>): Promise<T[]> => ((await q) as { rows: T[] }).rows;

/**
 * Runs schema changes in one transaction under an advisory lock, so that processes starting
 * together do not race on `create table if not exists` (which PostgreSQL does not make atomic).
 */
export const withSchemaLock = <T>(db: Database, change: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
  db.transaction(async (trx) => {
    await trx.raw(`select pg_advisory_xact_lock(hashtext('gyre.schema'))`);
    return change(trx);
  });
