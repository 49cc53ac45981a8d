import type { Member } from '../domain/organizations.ts';
import { membershipsOf } from '../projections/memberships.ts';
import { userByLogin } from '../projections/users.ts';
import type { Reads } from './dependencies.ts';

interface MemberUser {
  readonly id: string;
  readonly login: string;
  readonly isAdmin: boolean;
}

/** People as organizations and contexts see them: their GitHub organizations and teams from their last sign-in. */
const asMember = async (s: Reads, user: MemberUser): Promise<Member> => {
  return { login: user.login, isAdmin: user.isAdmin, ...(await membershipsOf(s.db, user.id)) };
};

/** The signed-in caller. */
export const memberOf = (s: Reads, auth: { readonly kind: string; readonly user?: MemberUser }): Promise<Member> => {
  if (auth.kind !== 'user' || !auth.user) throw new Error('memberOf needs a signed-in user');
  return asMember(s, auth.user);
};

/** The person a pipeline runs for; someone GitHub names who has no Gyre account belongs to nothing. */
export const memberByLogin = async (s: Reads, login: string): Promise<Member> => {
  const user = await userByLogin(s.db, login);
  return user ? asMember(s, user) : { login, isAdmin: false, orgs: [], teams: [] };
};
