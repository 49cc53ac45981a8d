import type { Knex } from 'knex';
import type { Reference } from '../../domain/events/envelope.ts';
import { runnerTokenByHash } from '../../projections/runners.ts';
import { taskByRef } from '../../projections/jobs.ts';
import { placementByTokenHash } from '../../projections/nomad.ts';
import { vmInstanceByTokenHash } from '../../projections/vm.ts';
import { userBySessionHash, userByTokenHash, type UserRow } from '../../projections/users.ts';
import { hashToken } from '../../application/tokens.ts';
import type { SessionUsage } from './session-usage.ts';

export type Auth =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | {
      readonly kind: 'user';
      readonly user: UserRow;
      readonly tokenId: string | null;
      readonly sessionHash: string | null;
      /** When a session stops counting by its age (by the policy's clock); null for a token. */
      readonly endsAt: number | null;
    }
  /**
   * A runner agent, by a token of its resource class, or a one-shot agent by the single-use token of
   * the one `task` Nomad placed it for: it may do only what rules with role `agent` allow.
   */
  | {
      readonly kind: 'agent';
      readonly resourceClass: string;
      readonly tokenId: string;
      readonly task?: { readonly jobId: string; readonly taskIndex: number };
      /** A one-shot agent on a VM the VM service started, by the VM's single-use token. */
      readonly vm?: { readonly instanceId: string };
    };

export const sessionCookie = 'gyre_session';
/** Under https the cookie is `__Host-` prefixed: browsers then take it only Secure, for Path=/ and from this host (no Domain), so no sibling host can set it. */
export const secureSessionCookie = `__Host-${sessionCookie}`;
export const sessionCookieName = (origin: string) => (origin.startsWith('https:') ? secureSessionCookie : sessionCookie);

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

/**
 * How long a browser session lasts from sign-in (GYRE_SESSION_MAX_AGE_HOURS) and unused
 * (GYRE_SESSION_IDLE_HOURS), where its last use is kept, and the clock it ages by (tests move it).
 */
export interface SessionPolicy {
  readonly maxAgeMs: number;
  readonly idleMs: number;
  readonly usage: SessionUsage;
  readonly now: () => number;
  /** Gyre's public URL is https: only the `__Host-` cookie counts, so a sibling host cannot plant a session. */
  readonly prefixedCookieOnly: boolean;
}

const usable = (user: UserRow) => user.state === 'ACTIVE' || user.state === 'INACTIVE';

/**
 * An API token in the headers, else the session cookie. Suspended accounts count as not signed in:
 * their tokens and sessions stop working at once. A session older than the policy's maximum age, or
 * unused for longer than its idle lifetime, has ended.
 */
export const authenticate = async (db: Knex, sessions: SessionPolicy, headers: Headers, cookies: Record<string, string | undefined> = {}): Promise<Auth> => {
  const token = presentedToken(headers);
  if (token === 'malformed') return { kind: 'invalid', reason: 'the Authorization header must be "Bearer <token>"' };
  if (token !== null) {
    const hash = hashToken(token);
    const user = await userByTokenHash(db, hash);
    if (!user) {
      const agent = await runnerTokenByHash(db, hash);
      if (agent) return { kind: 'agent', resourceClass: agent.resourceClass, tokenId: agent.id };
      const placed = await placementByTokenHash(db, hash);
      // a task's token works while its task waits or runs, and never after
      const task = placed && (await taskByRef(db, placed.jobId, placed.taskIndex));
      if (placed && (task?.status === 'queued' || task?.status === 'running'))
        return { kind: 'agent', resourceClass: placed.resourceClass, tokenId: placed.nomadJobId, task: { jobId: placed.jobId, taskIndex: placed.taskIndex } };
      // a VM's token works until the VM ends
      const vm = await vmInstanceByTokenHash(db, hash);
      if (vm) return { kind: 'agent', resourceClass: `vm:${vm.vmType}`, tokenId: vm.instanceId, vm: { instanceId: vm.instanceId } };
      return { kind: 'invalid', reason: 'the API token is not valid' };
    }
    if (!usable(user)) return { kind: 'invalid', reason: 'the account is suspended' };
    return { kind: 'user', user, tokenId: user.tokenId, sessionHash: null, endsAt: null };
  }
  const session = sessions.prefixedCookieOnly ? cookies[secureSessionCookie] : (cookies[secureSessionCookie] ?? cookies[sessionCookie]);
  if (!session) return { kind: 'anonymous' };
  const sessionHash = hashToken(session);
  const now = sessions.now();
  const user = await userBySessionHash(db, sessionHash, new Date(now - sessions.maxAgeMs));
  if (!user) return { kind: 'invalid', reason: 'the session has ended: sign in again' };
  if (!usable(user)) return { kind: 'invalid', reason: 'the account is suspended' };
  const idleSince = now - sessions.idleMs;
  if (Date.parse(user.sessionStartedAt) < idleSince && !(await sessions.usage.seenSince(sessionHash, idleSince)))
    return { kind: 'invalid', reason: 'the session has ended: it went unused too long; sign in again' };
  await sessions.usage.touch(sessionHash, now);
  return { kind: 'user', user, tokenId: null, sessionHash, endsAt: Date.parse(user.sessionStartedAt) + sessions.maxAgeMs };
};

export const actorOf = (auth: Auth): Reference =>
  auth.kind === 'user'
    ? { id: auth.user.id, type: 'user', name: auth.user.login }
    : auth.kind === 'agent'
      ? { id: auth.tokenId, type: auth.task ? 'nomad_task_token' : auth.vm ? 'vm_instance_token' : 'runner_token', name: auth.resourceClass }
      : { id: 'anonymous', type: 'anonymous' };
