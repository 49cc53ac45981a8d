import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import { GyreError } from '../../domain/errors.ts';
import { withNamedStatements } from './pglite-statements.ts';

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
  const require = createRequire(import.meta.url);
  if (options.url) {
    return knexFactory({
      client: withTypedErrors(require('knex/lib/dialects/postgres/index.js')),
      connection: options.url,
      pool: { min: 0, max: options.poolMax ?? 10 },
    });
  }
  if (options.dataDir) createFromSeed(options.dataDir, require);
  // loaded only for the embedded mode: the modules alone cost some 30 MB of memory
  const ClientPgLite = require('knex-pglite') as KnexClientClass;
  const pgliteModule = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
  const { PGlite } = pgliteModule;
  // The engine runs inside this process: a small buffer cache keeps its memory near the 128 MB floor
  // of PGlite's WebAssembly heap instead of growing by PostgreSQL's default 128 MB of shared buffers.
  const pglite = new PGlite(options.dataDir, { postgresqlconf: ['shared_buffers = 16MB', 'work_mem = 4MB', 'temp_buffers = 4MB'] } as never);
  return knexFactory({
    client: withTypedErrors(withNamedStatements(ClientPgLite, pgliteModule)),
    dialect: 'postgres',
    connection: () => ({ pglite }),
  } as unknown as Knex.Config);
};

/**
 * A new embedded database is a copy of the fresh data directory scripts/pglite-seed.mjs made for this
 * PGlite version (setup makes it): initdb inside this process would take its memory to some 700 MB
 * for good. The copy lands beside and is renamed in, so a crash leaves no half database. Without a
 * seed, PGlite runs initdb here.
 */
const createFromSeed = (dataDir: string, require: NodeJS.Require) => {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const entry = require.resolve('@electric-sql/pglite');
  const packageDir = entry.slice(0, entry.lastIndexOf('/dist/'));
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const seed = join(packageDir, '..', '..', '.cache', 'gyre', `pglite-${version}-seed`);
  const empty = !existsSync(dataDir) || readdirSync(dataDir).length === 0;
  if (!existsSync(seed) || !empty) return void mkdirSync(dataDir, { recursive: true });
  const copy = `${dataDir}.seeding`;
  rmSync(copy, { recursive: true, force: true });
  cpSync(seed, copy, { recursive: true });
  rmSync(dataDir, { recursive: true, force: true });
  renameSync(copy, dataDir);
};

/** A database server that does not answer (stopped, restarting, unreachable): the caller may retry shortly. */
export const databaseUnavailable = () =>
  new GyreError('the database does not answer: Gyre reconnects by itself, retry in a moment', 'DATABASE_UNAVAILABLE', 503);

/** The database cannot write (SQLSTATE 53100): nothing was changed. */
export const databaseDiskFull = () =>
  new GyreError('the database is out of disk space and changed nothing: free space where its data lives, then retry', 'DATABASE_DISK_FULL', 507);

const connectionErrors = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The typed error a driver's error stands for, when it is the database's state rather than the query's
 * fault: connection failures and SQLSTATE classes 08 (connection exception) and 57P0x (the server shuts
 * down or is starting up) are DATABASE_UNAVAILABLE, 53100 is DATABASE_DISK_FULL; any other error is
 * returned as it is. The driver's error stays as `cause`, for the server log.
 */
export const typedDatabaseError = (e: unknown): unknown => {
  if (!(e instanceof Error) || e instanceof GyreError) return e;
  const code = String((e as { code?: unknown }).code ?? '');
  const unavailable =
    connectionErrors.has(code) ||
    code.startsWith('08') ||
    /^57P0[123]$/.test(code) ||
    e.name === 'KnexTimeoutError' ||
    // knex puts the statement before the driver's message: `select … - Connection terminated unexpectedly`
    /(^|- )Connection terminated|is not queryable|Timeout acquiring a connection/.test(e.message);
  if (unavailable) return Object.assign(databaseUnavailable(), { cause: e });
  if (code === '53100') return Object.assign(databaseDiskFull(), { cause: e });
  return e;
};

type KnexClientClass = typeof knexFactory.Client;

/** knex's client with every query's and connection's failure passed through typedDatabaseError; transactions' clients derive from it too. */
const withTypedErrors = (Base: KnexClientClass): KnexClientClass => {
  const base = Base as unknown as new (config: unknown) => { query(...args: unknown[]): Promise<unknown>; acquireConnection(): Promise<unknown> };
  class Typed extends base {
    override query(...args: unknown[]) {
      return super.query(...args).catch((e: unknown) => Promise.reject(typedDatabaseError(e)));
    }
    override acquireConnection() {
      return super.acquireConnection().catch((e: unknown) => Promise.reject(typedDatabaseError(e)));
    }
  }
  return Typed as unknown as KnexClientClass;
};

/** knex-pglite's client holds its PGlite instance. */
export const isEmbedded = (db: Database): boolean => (db.client as { pglite?: unknown }).pglite !== undefined;

/** knex's raw() answers `{rows}` on pg and PGlite alike. */
export const rows = async <T>(q: Knex.Raw | Promise<unknown>): Promise<T[]> => ((await q) as { rows: T[] }).rows;

/**
 * Runs schema changes in one transaction under an advisory lock, so that processes starting
 * together do not race on `create table if not exists` (which PostgreSQL does not make atomic).
 */
export const withSchemaLock = async <T>(db: Database, change: (trx: Knex.Transaction) => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async (trx) => {
        await trx.raw(`select pg_advisory_xact_lock(hashtext('gyre.schema'))`);
        return change(trx);
      });
    } catch (e) {
      // an index made on a table another server writes to meanwhile can deadlock with that write: PostgreSQL undid
      // this change, which only ever makes what is missing, so it is made again
      if ((e as { code?: string }).code !== '40P01' || attempt >= 5) throw e;
    }
  }
};
