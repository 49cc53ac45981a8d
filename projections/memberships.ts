import type { Knex } from 'knex';
import { defineProjection } from './projection.ts';

/** Each user's GitHub organizations and teams as their last login, or the last hourly refresh, read them. */
export const membershipsProjection = defineProjection({
  name: 'memberships',
  version: 2,
  handles: [{ exact: 'user.logged_in' }, { exact: 'user.memberships.refresh' }, { exact: 'user.delete' }],
  tables: ['user_orgs', 'user_teams'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.user_orgs} (user_id text not null, org text not null, primary key (user_id, org))`);
    await db.raw(`create table if not exists ${t.user_teams} (user_id text not null, team text not null, primary key (user_id, team))`);
  },
  async apply(events, trx, t) {
    for (const e of events) {
      if (!e.metadata.success) continue;
      const d = e.data as { userId: string; orgs?: string[]; teams?: string[] };
      await trx(t.user_orgs).where({ user_id: d.userId }).delete();
      await trx(t.user_teams).where({ user_id: d.userId }).delete();
      if (e.type === 'user.delete') continue;
      const orgs = [...new Set((d.orgs ?? []).map((o) => o.toLowerCase()))];
      if (orgs.length) await trx(t.user_orgs).insert(orgs.map((org) => ({ user_id: d.userId, org })));
      if (d.teams?.length) await trx(t.user_teams).insert([...new Set(d.teams)].map((team) => ({ user_id: d.userId, team })));
    }
  },
});

const { user_orgs, user_teams } = membershipsProjection.tables;
export const teamsOf = async (db: Knex, userId: string): Promise<string[]> =>
  (await db(user_teams).where({ user_id: userId }).orderBy('team').pluck('team')) as string[];
/** A user's organizations and teams, in one statement. */
export const membershipsOf = async (db: Knex, userId: string): Promise<{ orgs: string[]; teams: string[] }> => {
  const rows = (
    await db.raw(
      `select 'org' as kind, org as name from ${user_orgs} where user_id = ? union all select 'team', team from ${user_teams} where user_id = ? order by 1, 2`,
      [userId, userId],
    )
  ).rows as Array<{ kind: string; name: string }>;
  return { orgs: rows.filter((r) => r.kind === 'org').map((r) => r.name), teams: rows.filter((r) => r.kind === 'team').map((r) => r.name) };
};
export const orgsOf = async (db: Knex, userId: string): Promise<string[]> =>
  (await db(user_orgs).where({ user_id: userId }).orderBy('org').pluck('org')) as string[];
