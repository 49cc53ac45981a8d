import type { Knex } from 'knex';
import type { UserState } from '../domain/users/user.ts';
import { defineProjection } from './projection.ts';

export interface UserRow {
  readonly id: string;
  readonly login: string;
  readonly name: string;
  readonly state: UserState;
  readonly isAdmin: boolean;
  readonly createdAt: string;
  readonly lastLoginAt: string | null;
}

export const usersProjection = defineProjection({
  name: 'users',
  version: 1,
  handles: [{ prefix: 'user.' }],
  tables: ['users', 'api_tokens'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.users} (
      id text primary key, login text not null unique, name text not null, state text not null,
      is_admin boolean not null, created_at timestamptz not null, last_login_at timestamptz)`);
    await db.raw(`create table if not exists ${t.api_tokens} (
      id text primary key, user_id text not null, label text not null, token_hash text not null unique,
      created_at timestamptz not null, revoked_at timestamptz)`);
  },
  async apply(events, trx, t) {
    for (const e of events) {
      if (!e.metadata.success) continue;
      if (e.type === 'user.create') {
        const d = e.data as { userId: string; login: string; name: string; state: UserState; isAdmin: boolean };
        await trx(t.users).insert({ id: d.userId, login: d.login, name: d.name, state: d.state, is_admin: d.isAdmin, created_at: e.occurredAt });
      } else if (e.type === 'user.api_token.create') {
        const d = e.data as { tokenId: string; label: string; tokenHash: string };
        await trx(t.api_tokens).insert({ id: d.tokenId, user_id: e.metadata.target.id, label: d.label, token_hash: d.tokenHash, created_at: e.occurredAt });
      } else if (e.type === 'user.api_token.revoke') {
        await trx(t.api_tokens).where({ id: (e.data as { tokenId: string }).tokenId }).update({ revoked_at: e.occurredAt });
      }
    }
  },
});

const { users, api_tokens } = usersProjection.tables;
const toUser = (r: Record<string, unknown>): UserRow => ({
  id: r.id as string,
  login: r.login as string,
  name: r.name as string,
  state: r.state as UserState,
  isAdmin: r.is_admin as boolean,
  createdAt: new Date(r.created_at as string).toISOString(),
  lastLoginAt: r.last_login_at ? new Date(r.last_login_at as string).toISOString() : null,
});

/** The active, unrevoked owner of a token hash, or undefined. */
export const userByTokenHash = async (db: Knex, tokenHash: string): Promise<(UserRow & { tokenId: string }) | undefined> => {
  const row = await db(api_tokens)
    .join(users, `${users}.id`, `${api_tokens}.user_id`)
    .where(`${api_tokens}.token_hash`, tokenHash)
    .whereNull(`${api_tokens}.revoked_at`)
    .first(`${users}.*`, `${api_tokens}.id as token_id`);
  return row ? { ...toUser(row), tokenId: row.token_id as string } : undefined;
};

export interface ApiTokenRow {
  readonly id: string;
  readonly label: string;
  readonly createdAt: string;
}

/** A user's tokens that still work, newest first (never their hashes). */
export const activeTokens = async (db: Knex, userId: string): Promise<ApiTokenRow[]> =>
  ((await db(api_tokens).where({ user_id: userId }).whereNull('revoked_at').orderBy('created_at', 'desc').select('id', 'label', 'created_at')) as Array<Record<string, unknown>>).map((r) => ({
    id: r.id as string,
    label: r.label as string,
    createdAt: new Date(r.created_at as string).toISOString(),
  }));

export const userById = async (db: Knex, id: string): Promise<UserRow | undefined> => {
  const row = await db(users).where({ id }).first();
  return row ? toUser(row) : undefined;
};

export const anyAdmin = async (db: Knex): Promise<boolean> => Boolean(await db(users).where({ is_admin: true }).first('id'));
