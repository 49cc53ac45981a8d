import type { Knex } from 'knex';
import type { Reference } from '../../domain/events/envelope.ts';
import { userByTokenHash, type UserRow } from '../../projections/users.ts';
import { hashToken } from './tokens.ts';

export type Auth =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'user'; readonly user: UserRow; readonly tokenId: string };

type Headers = Record<string, string | string[] | undefined>;

const header = (headers: Headers, name: string): string | undefined => {
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** The token of `Authorization: Bearer <t>` or CircleCI's `Circle-Token: <t>`. */
export const presentedToken = (headers: Headers): string | null | 'malformed' => {
  const circle = header(headers, 'circle-token');
  if (circle) return circle.trim();
  const authorization = header(headers, 'authorization');
  if (!authorization) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m ? m[1]! : 'malformed';
};

/** Suspended accounts count as not signed in: their tokens stop working at once. */
export const authenticate = async (db: Knex, headers: Headers): Promise<Auth> => {
  const token = presentedToken(headers);
  if (token === null) return { kind: 'anonymous' };
  if (token === 'malformed') return { kind: 'invalid', reason: 'the Authorization header must be "Bearer <token>"' };
  const user = await userByTokenHash(db, hashToken(token));
  if (!user) return { kind: 'invalid', reason: 'the API token is not valid' };
  if (user.state !== 'ACTIVE' && user.state !== 'INACTIVE') return { kind: 'invalid', reason: 'the account is suspended' };
  return { kind: 'user', user, tokenId: user.tokenId };
};

export const actorOf = (auth: Auth): Reference =>
  auth.kind === 'user' ? { id: auth.user.id, type: 'user', name: auth.user.login } : { id: 'anonymous', type: 'anonymous' };
