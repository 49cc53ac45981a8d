import type { Knex } from 'knex';
import type { UserState } from '../domain/users/accounts.ts';
import { defineProjection, isoTime } from './projection.ts';

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
  // v2: sessions keep the API token they were started with
  version: 2,
  handles: [{ prefix: 'user.' }],
  tables: ['users', 'api_tokens', 'sessions'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.users} (
      id text primary key, login text not null unique, name text not null, state text not null,
      is_admin boolean not null, created_at timestamptz not null, last_login_at timestamptz, github_id bigint)`);
    await db.raw(`create table if not exists ${t.api_tokens} (
      id text primary key, user_id text not null, label text not null, token_hash text not null unique,
      created_at timestamptz not null, revoked_at timestamptz)`);
    await db.raw(`create table if not exists ${t.sessions} (
      session_hash text primary key, user_id text not null, started_at timestamptz not null, ended_at timestamptz, token_id text)`);
    await db.raw(`create index if not exists ${t.sessions}_token on ${t.sessions} (token_id) where token_id is not null`);
    await db.raw(`create index if not exists ${t.users}_github_id on ${t.users} (github_id) where github_id is not null`);
  },
  async apply(events, trx, t) {
    for (const e of events) {
      if (!e.metadata.success) continue;
      const d = e.data as {
        userId: string;
        login: string;
        name?: string;
        state?: UserState;
        isAdmin?: boolean;
        tokenId?: string;
        label?: string;
        tokenHash?: string;
      };
      const user = trx(t.users).where({ id: d.userId });
      switch (e.type) {
        case 'user.create':
          await trx(t.users).insert({
            id: d.userId,
            login: d.login,
            name: d.name,
            state: d.state,
            is_admin: d.isAdmin,
            created_at: e.occurredAt,
            github_id: (e.data as { githubId?: number | null }).githubId ?? null,
          });
          break;
        case 'user.approve':
          await trx(t.users).insert({ id: d.userId, login: d.login, name: d.login, state: 'INACTIVE', is_admin: false, created_at: e.occurredAt });
          break;
        case 'user.activate':
          await user.update({
            state: 'ACTIVE',
            ...((e.data as { githubId?: number }).githubId ? { github_id: (e.data as { githubId: number }).githubId } : {}),
          });
          break;
        case 'user.suspend':
          // suspension ends every session for good: activating the account later does not revive them
          await user.update({ state: 'SUSPENDED' });
          await trx(t.sessions).where({ user_id: d.userId }).whereNull('ended_at').update({ ended_at: e.occurredAt });
          break;
        case 'user.admin.grant':
        case 'user.admin.revoke':
          await user.update({ is_admin: e.type === 'user.admin.grant' });
          break;
        case 'user.logged_in':
          await trx(t.sessions).insert({
            session_hash: (e.data as { sessionHash: string }).sessionHash,
            user_id: d.userId,
            started_at: e.occurredAt,
            token_id: d.tokenId ?? null,
          });
          await user.update({ last_login_at: e.occurredAt });
          break;
        case 'user.logged_out':
          await trx(t.sessions)
            .where({ session_hash: (e.data as { sessionHash: string }).sessionHash })
            .update({ ended_at: e.occurredAt });
          break;
        case 'user.delete':
          // gone from every read model, tokens and sessions included; the audit history stays in the log
          await trx(t.api_tokens).where({ user_id: d.userId }).delete();
          await trx(t.sessions).where({ user_id: d.userId }).delete();
          await user.delete();
          break;
        case 'user.api_token.create':
          await trx(t.api_tokens).insert({ id: d.tokenId, user_id: d.userId, label: d.label, token_hash: d.tokenHash, created_at: e.occurredAt });
          break;
        case 'user.api_token.revoke':
          // the sessions signed in with the token end with it, as they do with suspension
          await trx(t.api_tokens).where({ id: d.tokenId }).update({ revoked_at: e.occurredAt });
          await trx(t.sessions).where({ token_id: d.tokenId }).whereNull('ended_at').update({ ended_at: e.occurredAt });
          break;
      }
    }
  },
});

const { users, api_tokens, sessions } = usersProjection.tables;
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
  (
    (await db(api_tokens).where({ user_id: userId }).whereNull('revoked_at').orderBy('created_at', 'desc').select('id', 'label', 'created_at')) as Array<
      Record<string, unknown>
    >
  ).map((r) => ({
    id: r.id as string,
    label: r.label as string,
    createdAt: new Date(r.created_at as string).toISOString(),
  }));

export const userById = async (db: Knex, id: string): Promise<UserRow | undefined> => {
  const row = await db(users).where({ id }).first();
  return row ? toUser(row) : undefined;
};

export const userByLogin = async (db: Knex, login: string): Promise<UserRow | undefined> => {
  const row = await db(users).whereRaw('lower(login) = lower(?)', [login]).first();
  return row ? toUser(row) : undefined;
};

/** The account a GitHub user signed in to (by GitHub's permanent user id, never the login, which can be renamed and reused). */
export const userByGithubId = async (db: Knex, githubId: number): Promise<UserRow | undefined> => {
  const row = await db(users).where({ github_id: githubId }).first();
  return row ? toUser(row) : undefined;
};

/** Users by login, after a login (the cursor), optionally in one state. */
export const usersPage = async (db: Knex, state: UserState | undefined, first: number, after?: string): Promise<{ users: UserRow[]; hasNextPage: boolean }> => {
  const q = db(users)
    .orderBy('login')
    .limit(first + 1);
  if (state) q.where({ state });
  if (after) q.where('login', '>', after);
  const rows = (await q) as Array<Record<string, unknown>>;
  return { users: rows.slice(0, first).map(toUser), hasNextPage: rows.length > first };
};

export const seatsInUse = async (db: Knex): Promise<number> => {
  const [{ count }] = (await db(users).where({ state: 'ACTIVE' }).count('* as count')) as [{ count: string | number }];
  return Number(count);
};

/** The owner of a session that is open and started after `startedAfter`, or undefined. */
export const userBySessionHash = async (db: Knex, sessionHash: string, startedAfter: Date): Promise<(UserRow & { sessionStartedAt: string }) | undefined> => {
  const row = await db(sessions)
    .join(users, `${users}.id`, `${sessions}.user_id`)
    .where(`${sessions}.session_hash`, sessionHash)
    .whereNull(`${sessions}.ended_at`)
    .where(`${sessions}.started_at`, '>', startedAfter.toISOString())
    .first(`${users}.*`, `${sessions}.started_at as session_started_at`);
  return row ? { ...toUser(row), sessionStartedAt: isoTime(row.session_started_at) } : undefined;
};

export const anyAdmin = async (db: Knex): Promise<boolean> => Boolean(await db(users).where({ is_admin: true }).first('id'));
