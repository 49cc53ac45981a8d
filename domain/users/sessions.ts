import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { defineEvent } from '../events/registry.ts';
import type { Decider } from '../decider.ts';
import { SealedSecret } from '../secrets/secret-value.ts';

/** A person's browser sessions, on a stream of their own: logins are frequent, and touch no one else. */
export const sessionStream = (userId: string) => `user-${userId}`;

/** The session cookie's value never enters an event: only its SHA-256, which the audit log does not show. */
const session = z.object({ userId: z.string(), login: z.string(), sessionHash: z.string().regex(/^[0-9a-f]{64}$/) });
/**
 * `orgs` and `teams` (`org/team-slug`): what GitHub said of the person at this login, or for a sign-in
 * with an API token (`method`, `tokenId`), at their last GitHub login; their rights in organizations follow them.
 */
const login = session.extend({
  orgs: z.array(z.string()).default([]),
  teams: z.array(z.string()).default([]),
  method: z.enum(['github', 'api_token']).default('github'),
  tokenId: z.string().optional(),
  /** The OAuth token GitHub granted at this login, sealed under the person's own data key: following repositories and commit statuses use the latest. */
  githubToken: SealedSecret.optional(),
});
export const loggedIn = defineEvent('user.logged_in', login, { publicFields: ['userId', 'login', 'orgs', 'teams', 'method', 'tokenId'] });
export const loggedOut = defineEvent('user.logged_out', session, { publicFields: ['userId', 'login'] });
const memberships = z.object({ userId: z.string(), login: z.string(), orgs: z.array(z.string()), teams: z.array(z.string()) });
/** What GitHub says of the person's organizations and teams now, read again with their latest OAuth token (at most hourly). */
export const membershipsRefreshed = defineEvent('user.memberships.refresh', memberships, { publicFields: ['userId', 'login', 'orgs', 'teams'] });

export type SessionEvent =
  | { type: 'user.logged_in'; data: z.infer<typeof login> }
  | { type: 'user.logged_out'; data: z.infer<typeof session> }
  | { type: 'user.memberships.refresh'; data: z.infer<typeof memberships> };
export type SignInMethod = { method: 'github'; githubToken?: SealedSecret } | { method: 'api_token'; tokenId: string };
export type SessionCommand =
  | ({ type: 'login'; userId: string; login: string; sessionHash: string; orgs: ReadonlyArray<string>; teams: ReadonlyArray<string> } & SignInMethod)
  | { type: 'logout'; userId: string; login: string; sessionHash: string }
  | { type: 'refreshMemberships'; userId: string; login: string; orgs: ReadonlyArray<string>; teams: ReadonlyArray<string> };
export type Sessions = { readonly open: ReadonlySet<string> };

export const sessionsDecider: Decider<Sessions, SessionCommand, SessionEvent> = {
  initialState: () => ({ open: new Set() }),
  evolve: (s, e) => {
    const open = new Set(s.open);
    if (e.type === 'user.logged_in') open.add(e.data.sessionHash);
    else if (e.type === 'user.logged_out') open.delete(e.data.sessionHash);
    return { open };
  },
  decide: (c, s) => {
    if (c.type === 'refreshMemberships')
      return [{ type: 'user.memberships.refresh', data: { userId: c.userId, login: c.login, orgs: [...c.orgs], teams: [...c.teams] } }];
    const data = { userId: c.userId, login: c.login, sessionHash: c.sessionHash };
    if (c.type === 'login')
      return [
        {
          type: 'user.logged_in',
          data: {
            ...data,
            orgs: [...c.orgs],
            teams: [...c.teams],
            method: c.method,
            ...(c.method === 'api_token' ? { tokenId: c.tokenId } : c.githubToken ? { githubToken: c.githubToken } : {}),
          },
        },
      ];
    if (!s.open.has(c.sessionHash)) throw new DomainError('SESSION_NOT_FOUND', 'that session has already ended');
    return [{ type: 'user.logged_out', data }];
  },
};
