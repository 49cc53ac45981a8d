import { openDatabase, type Database } from '../../adapters/database/sql.ts';

/**
 * One database per test process: real PostgreSQL when GYRE_TEST_DATABASE_URL is set,
 * else embedded PGlite in memory. Suites isolate themselves with resetDatabase().
 */
let shared: Database | undefined;

export const testDatabaseUrl = (): string | undefined => process.env.GYRE_TEST_DATABASE_URL || undefined;
export const testDatabaseKind = (): 'postgres' | 'pglite' => (testDatabaseUrl() ? 'postgres' : 'pglite');

export const testDatabase = (): Database => {
  // test/run.ts closes the database only if a test opened one: pure suites never load this module
  (globalThis as { closeGyreTestDatabase?: () => Promise<void> }).closeGyreTestDatabase = closeTestDatabase;
  return (shared ??= openDatabase({ url: testDatabaseUrl(), poolMax: 20 }));
};

/** Drops every table Gyre made, so each suite starts from an empty database. */
export const resetDatabase = async (db: Database = testDatabase()): Promise<void> => {
  await db.raw('drop schema if exists public cascade');
  await db.raw('create schema public');
};

export const closeTestDatabase = async (): Promise<void> => {
  await shared?.destroy();
  shared = undefined;
};
