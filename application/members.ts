import type { Member } from '../domain/organizations.ts';
import { membershipsOf } from '../projections/memberships.ts';
import { userByGithubId, userByLogin } from '../projections/users.ts';
import type { Reads } from './dependencies.ts';
import type { MembershipRefresh } from './membership-refresh.ts';

/** Reads that decide access: with `refreshMemberships`, a person's memberships are read from GitHub again when over an hour old. */
type MemberReads = Reads & { readonly refreshMemberships?: MembershipRefresh };

interface MemberUser {
  readonly id: string;
  readonly login: string;
  readonly isAdmin: boolean;
}

/** People as organizations and contexts see them: their GitHub organizations and teams from their last sign-in or hourly refresh. */
const asMember = async (s: MemberReads, user: MemberUser): Promise<Member> => {
  await s.refreshMemberships?.(user);
  return { login: user.login, isAdmin: user.isAdmin, ...(await membershipsOf(s.db, user.id)) };
};

/** The signed-in caller. */
export const memberOf = (s: MemberReads, auth: { readonly kind: string; readonly user?: MemberUser }): Promise<Member> => {
  if (auth.kind !== 'user' || !auth.user) throw new Error('memberOf needs a signed-in user');
  return asMember(s, auth.user);
};

/** The person a pipeline runs for; someone GitHub names who has no Gyre account belongs to nothing. */
export const memberByLogin = async (s: MemberReads, login: string): Promise<Member> => {
  const user = await userByLogin(s.db, login);
  return user ? asMember(s, user) : { login, isAdmin: false, orgs: [], teams: [] };
};

/**
 * The person GitHub names as a delivery's sender, matched by GitHub's permanent user id: a login can
 * be renamed and then taken by someone else, who must not act as the account that had it. A sender
 * with no Gyre account belongs to nothing, and is named so that no account stands for them later
 * (pipelines and jobs look their actor up by login): by their GitHub login where no account holds
 * it, else as `github:<id>`.
 */
export const memberOfGitHubSender = async (s: Reads, sender: { readonly id?: number; readonly login?: string } | null | undefined): Promise<Member> => {
  const user = sender?.id === undefined ? undefined : await userByGithubId(s.db, sender.id);
  if (user) return asMember(s, user);
  const login = sender?.login ?? 'unknown';
  const named = (await userByLogin(s.db, login)) ? `github:${sender?.id ?? 'unknown'}` : login;
  return { login: named, isAdmin: false, orgs: [], teams: [] };
};
