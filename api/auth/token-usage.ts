import type { Knex } from 'knex';

/**
 * When each API token was last used. Not an event (it would flood the log) and not a projection
 * (a rebuild would lose it): operational state, written at most once a minute per token.
 */
const table = 'api_token_usage';
const everyMs = 60_000;

export const ensureTokenUsageTable = (db: Knex) => db.raw(`create table if not exists ${table} (token_id text primary key, last_used_at timestamptz not null)`);

export interface TokenUsage {
  touch(tokenId: string): Promise<void>;
  lastUsed(tokenIds: ReadonlyArray<string>): Promise<Map<string, string>>;
}

export const createTokenUsage = (db: Knex): TokenUsage => {
  const touched = new Map<string, number>();
  return {
    async touch(tokenId) {
      const now = Date.now();
      if (now - (touched.get(tokenId) ?? 0) < everyMs) return;
      touched.set(tokenId, now);
      await db.raw(
        `insert into ${table} (token_id, last_used_at) values (?, now())
         on conflict (token_id) do update set last_used_at = excluded.last_used_at
         where ${table}.last_used_at < excluded.last_used_at - interval '60 seconds'`,
        [tokenId],
      );
    },
    async lastUsed(tokenIds) {
      if (tokenIds.length === 0) return new Map();
      const rows = (await db(table).whereIn('token_id', tokenIds).select('token_id', 'last_used_at')) as Array<{
        token_id: string;
        last_used_at: string | Date;
      }>;
      return new Map(rows.map((r) => [r.token_id, new Date(r.last_used_at).toISOString()]));
    },
  };
};
