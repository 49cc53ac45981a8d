import { z } from 'zod';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * Which Gyre account a GitHub user has: one stream per GitHub user id (GitHub's permanent id; logins
 * can be renamed and reused). A sign-up claims the id before it creates the account, so two sign-ins
 * of one GitHub user racing make one account: the second claim meets the first's revision. A claim
 * whose account was never made (the process died between the two) or is no longer this user's (it
 * was deleted) is claimed again by the next sign-in.
 */
export const githubUserStream = (githubId: number) => `github-user-${githubId}`;
export const githubUserTarget = (githubId: number, login: string) => ({ id: `github:${githubId}`, type: 'github_user', name: login });

export const githubUserClaimed = defineEvent('github_user.claim', z.object({ githubId: z.number().int(), userId: z.string(), login: z.string().min(1) }), {
  publicFields: ['githubId', 'userId', 'login'],
});
export const githubIdentityEvents = [githubUserClaimed];
export type GithubIdentityEvent = EventOf<typeof githubUserClaimed>;

export interface GithubIdentity {
  /** The account this GitHub user claimed last: its id and login (the login names its stream). */
  readonly claim: { readonly userId: string; readonly login: string } | null;
}
export type GithubIdentityCommand = { type: 'claim'; githubId: number; userId: string; login: string };

export const githubIdentityDecider: Decider<GithubIdentity, GithubIdentityCommand, GithubIdentityEvent> = {
  initialState: () => ({ claim: null }),
  evolve: (_, e) => ({ claim: { userId: e.data.userId, login: e.data.login } }),
  decide: (c, s) =>
    s.claim?.userId === c.userId && s.claim.login.toLowerCase() === c.login.toLowerCase()
      ? []
      : [{ type: 'github_user.claim', data: { githubId: c.githubId, userId: c.userId, login: c.login } }],
};
