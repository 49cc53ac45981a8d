import type { Knex } from 'knex';
import { defineProjection } from './projection.ts';

/** Each user's GitHub teams as their last login read them: the groups restricted contexts check. */
export const membershipsProjection = defineProjection({
  name: 'memberships',
  version: 1,
  handles: [{ exact: 'user.logged_in' }, { exact: 'user.delete' }],
  tables: ['user_teams'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.user_teams} (user_id text not null, team text not null, primary key (user_id, team))`);
  },
  async apply(events, trx, t) {
    for (const e of events) {
      if (!e.metadata.success) continue;
      const d = e.data as { userId: string; teams?: string[] };
      await trx(t.user_teams).where({ user_id: d.userId }).delete();
      if (e.type === 'user.logged_in' && d.teams?.length) await trx(t.user_teams).insert([...new Set(d.teams)].map((team) => ({ user_id: d.userId, team })));
    }
  },
});

export const teamsOf = async (db: Knex, userId: string): Promise<string[]> =>
  ((await db(membershipsProjection.tables.user_teams).where({ user_id: userId }).orderBy('team').pluck('team')) as string[]);
