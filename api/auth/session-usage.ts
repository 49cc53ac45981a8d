import type { Knex } from 'knex';

/**
 * When each browser session was last used, for its idle lifetime. Like API tokens' last use
 * (token-usage.ts): operational state, neither an event nor a projection, written at most once a
 * minute per session, by the session policy's clock.
 */
const table = 'session_usage';
const everyMs = 60_000;
/** Sessions whose last use is remembered in memory before those older than `everyMs` are forgotten (the table still has them). */
const remembered = 10_000;

export const ensureSessionUsageTable = (db: Knex) =>
  db.raw(`create table if not exists ${table} (session_hash text primary key, last_seen_at timestamptz not null)`);

export interface SessionUsage {
  /** Whether the session was used at or after `since` (ms); another server's use counts too. */
  seenSince(sessionHash: string, since: number): Promise<boolean>;
  touch(sessionHash: string, at: number): Promise<void>;
}

export const createSessionUsage = (db: Knex): SessionUsage => {
  const touched = new Map<string, number>();
  return {
    async seenSince(sessionHash, since) {
      if ((touched.get(sessionHash) ?? Number.NEGATIVE_INFINITY) >= since) return true;
      const row = (await db(table).where({ session_hash: sessionHash }).first('last_seen_at')) as { last_seen_at: string | Date } | undefined;
      return row !== undefined && new Date(row.last_seen_at).getTime() >= since;
    },
    async touch(sessionHash, at) {
      if (at - (touched.get(sessionHash) ?? Number.NEGATIVE_INFINITY) < everyMs) return;
      touched.set(sessionHash, at);
      if (touched.size > remembered) for (const [hash, seen] of touched) if (at - seen >= everyMs) touched.delete(hash);
      await db.raw(
        `insert into ${table} (session_hash, last_seen_at) values (?, ?)
         on conflict (session_hash) do update set last_seen_at = excluded.last_seen_at where ${table}.last_seen_at < excluded.last_seen_at`,
        [sessionHash, new Date(at).toISOString()],
      );
    },
  };
};
