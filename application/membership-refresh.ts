import { GitHubRefused, type GitHub } from '../adapters/github/port.ts';
import { GyreError } from '../domain/errors.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { accountsTarget } from '../domain/users/accounts.ts';
import { sessionStream, sessionsDecider } from '../domain/users/sessions.ts';
import { membershipsOf } from '../projections/memberships.ts';
import type { Logger, UseCases } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

export const membershipRefreshMs = 3_600_000;

/** Reads a person's organizations and teams from GitHub again when this server last did so over an hour ago. */
export type MembershipRefresh = (user: { readonly id: string; readonly login: string }) => Promise<void>;

/**
 * Membership decides access, so it is read again from GitHub (with the person's latest sealed OAuth
 * token) when it decides access and this server last read it over an hour ago; a change is recorded
 * as `user.memberships.refresh`. A token GitHub no longer takes leaves the person in no organization;
 * GitHub not answering keeps what is known until the next hour. People with no GitHub token (the
 * embedded admin) keep the memberships of their last GitHub sign-in.
 */
export const createMembershipRefresh = (
  s: UseCases & {
    readonly github: GitHub;
    readonly jobSecrets: { githubToken(userId: string): Promise<string | null> };
    readonly now: () => number;
    readonly log: Logger;
  },
): MembershipRefresh => {
  const checked = new Map<string, number>();
  const running = new Map<string, Promise<void>>();
  const refresh = async (user: { readonly id: string; readonly login: string }) => {
    const token = await s.jobSecrets.githubToken(user.id).catch((e: unknown) => {
      if (e instanceof GyreError && e.code === 'DATA_KEY_DESTROYED') return null;
      throw e;
    });
    if (!token) return;
    let now: { orgs: string[]; teams: string[] };
    try {
      const who = await s.github.identity(token);
      now = { orgs: who.orgs.map((o) => o.toLowerCase()), teams: [...who.teams] };
    } catch (err) {
      if (!(err instanceof GitHubRefused && err.status === 401)) {
        s.log.warn({ err, user: user.login }, 'GitHub did not answer for the memberships of a person; those known stay until the next hour');
        return;
      }
      now = { orgs: [], teams: [] };
    }
    const known = await membershipsOf(s.db, user.id);
    const same = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);
    if (same(known.orgs, [...new Set(now.orgs)]) && same(known.teams, [...new Set(now.teams)])) return;
    await executeAndWait(s, {
      stream: sessionStream(user.id),
      decider: sessionsDecider,
      command: { type: 'refreshMemberships', userId: user.id, login: user.login, orgs: [...new Set(now.orgs)], teams: [...new Set(now.teams)] },
      context: { actor: systemActor, request: null },
      target: accountsTarget({ userId: user.id, login: user.login }),
    });
  };
  return async (user) => {
    const at = s.now();
    if (at - (checked.get(user.id) ?? Number.NEGATIVE_INFINITY) < membershipRefreshMs) return running.get(user.id);
    checked.set(user.id, at);
    const work = refresh(user).finally(() => running.delete(user.id));
    running.set(user.id, work);
    return work;
  };
};
