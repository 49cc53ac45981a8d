import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * Every account's lifecycle in one stream: sign-up, approval, activation, suspension, deletion,
 * admin rights and API tokens. Seats are a limit across accounts, so they are decided against this
 * one state, and two activations can never both take the last seat. Logins, which are frequent,
 * belong to per-user streams.
 */
export const accountsStream = 'accounts';
export const accountsTarget = (a: { userId: string; login: string }) => ({ id: a.userId, type: 'user', name: a.login });

export const UserState = z.enum(['ACTIVE', 'INACTIVE', 'SUSPENDED', 'SUSPENDED_NEW']);
export type UserState = z.infer<typeof UserState>;

const who = { userId: z.string(), login: z.string().min(1) };
/** `githubId`: GitHub's permanent user id (logins can be renamed and reused); null for a local account. */
export const userCreated = defineEvent('user.create', z.object({ ...who, name: z.string(), state: UserState, isAdmin: z.boolean(), githubId: z.number().int().nullable().default(null) }), {
  publicFields: ['userId', 'login', 'name', 'state', 'isAdmin', 'githubId'],
});
export const userApproved = defineEvent('user.approve', z.object(who), { publicFields: ['userId', 'login'] });
/** At a pre-approved login's first sign-in, the activation binds the account to that GitHub user. */
export const userActivated = defineEvent('user.activate', z.object({ ...who, githubId: z.number().int().optional() }), { publicFields: ['userId', 'login', 'githubId'] });
export const userSuspended = defineEvent('user.suspend', z.object(who), { publicFields: ['userId', 'login'] });
export const userDeleted = defineEvent('user.delete', z.object(who), { publicFields: ['userId', 'login'] });
export const adminGranted = defineEvent('user.admin.grant', z.object(who), { publicFields: ['userId', 'login'] });
export const adminRevoked = defineEvent('user.admin.revoke', z.object(who), { publicFields: ['userId', 'login'] });
/** The token itself never enters an event: only its SHA-256, which the audit log does not show. */
export const apiTokenCreated = defineEvent(
  'user.api_token.create',
  z.object({ userId: z.string(), tokenId: z.string(), label: z.string().max(200), tokenHash: z.string().regex(/^[0-9a-f]{64}$/) }),
  { publicFields: ['userId', 'tokenId', 'label'] },
);
export const apiTokenRevoked = defineEvent('user.api_token.revoke', z.object({ userId: z.string(), tokenId: z.string() }), { publicFields: ['userId', 'tokenId'] });

export const accountEvents = [userCreated, userApproved, userActivated, userSuspended, userDeleted, adminGranted, adminRevoked, apiTokenCreated, apiTokenRevoked];

/** A token label: what the owner will recognise it by in a list. */
export const TokenLabel = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

export type AccountEvent =
  | EventOf<typeof userCreated>
  | EventOf<typeof userApproved>
  | EventOf<typeof userActivated>
  | EventOf<typeof userSuspended>
  | EventOf<typeof userDeleted>
  | EventOf<typeof adminGranted>
  | EventOf<typeof adminRevoked>
  | EventOf<typeof apiTokenCreated>
  | EventOf<typeof apiTokenRevoked>;

type NewToken = { tokenId: string; label: string; tokenHash: string };
/** `seats`: the licence's limit when the command was issued (null: none). */
export type AccountCommand =
  | { type: 'create'; userId: string; login: string; name: string; state: UserState; isAdmin: boolean; seats: number | null; githubId?: number; token?: NewToken }
  | { type: 'approve'; userId: string; login: string; seats: number | null }
  | { type: 'activate'; login: string; seats: number | null }
  | { type: 'suspend'; login: string; by: string }
  | { type: 'delete'; login: string; by: string }
  | { type: 'grantAdmin'; login: string }
  | { type: 'revokeAdmin'; login: string; by: string }
  | { type: 'createApiToken'; userId: string; token: NewToken }
  | { type: 'revokeApiToken'; userId: string; tokenId: string }
  /** A GitHub login arrives: sign the person up, or in. `orgs`: their GitHub organizations. */
  | { type: 'signIn'; userId: string; githubId: number; login: string; name: string; orgs: ReadonlyArray<string>; settings: { suspendNewUsers: boolean; requiredOrgMembership: ReadonlyArray<string>; licenseSeats: number | null } };

export interface Account {
  readonly userId: string;
  readonly login: string;
  readonly githubId: number | null;
  readonly state: UserState;
  readonly isAdmin: boolean;
  readonly tokenIds: ReadonlyArray<string>;
}
export interface Accounts {
  /** By lower-cased login: GitHub logins compare case-insensitively. */
  readonly byLogin: ReadonlyMap<string, Account>;
}

export const seatsUsed = (s: Accounts): number => [...s.byLogin.values()].filter((a) => a.state === 'ACTIVE').length;
const admins = (s: Accounts): number => [...s.byLogin.values()].filter((a) => a.isAdmin && a.state === 'ACTIVE').length;
const key = (login: string) => login.toLowerCase();
const byId = (s: Accounts, userId: string) => [...s.byLogin.values()].find((a) => a.userId === userId);

const find = (s: Accounts, login: string): Account => {
  const a = s.byLogin.get(key(login));
  if (!a) throw new DomainError('USER_NOT_FOUND', `no user ${login}: list users with \`gyre users list\``);
  return a;
};
const seatFree = (s: Accounts, seats: number | null) => {
  const used = seatsUsed(s);
  if (seats !== null && used >= seats) {
    throw new DomainError('SEATS_EXHAUSTED', `licence seats exhausted (${used} of ${seats} in use): raise licenseSeats or suspend an account`);
  }
};
const ref = (a: Account) => ({ userId: a.userId, login: a.login });

const update = (s: Accounts, login: string, change: (a: Account) => Account | null): Accounts => {
  const byLogin = new Map(s.byLogin);
  const a = byLogin.get(key(login));
  if (!a) return s;
  const next = change(a);
  if (next) byLogin.set(key(login), next);
  else byLogin.delete(key(login));
  return { byLogin };
};

export const accountsDecider: Decider<Accounts, AccountCommand, AccountEvent> = {
  initialState: () => ({ byLogin: new Map() }),
  evolve: (s, e) => {
    switch (e.type) {
      case 'user.create':
        return { byLogin: new Map(s.byLogin).set(key(e.data.login), { userId: e.data.userId, login: e.data.login, githubId: e.data.githubId ?? null, state: e.data.state, isAdmin: e.data.isAdmin, tokenIds: [] }) };
      case 'user.approve':
        return { byLogin: new Map(s.byLogin).set(key(e.data.login), { userId: e.data.userId, login: e.data.login, githubId: null, state: 'INACTIVE', isAdmin: false, tokenIds: [] }) };
      case 'user.activate':
        return update(s, e.data.login, (a) => ({ ...a, state: 'ACTIVE', githubId: e.data.githubId ?? a.githubId }));
      case 'user.suspend':
        return update(s, e.data.login, (a) => ({ ...a, state: 'SUSPENDED' }));
      case 'user.delete':
        return update(s, e.data.login, () => null);
      case 'user.admin.grant':
        return update(s, e.data.login, (a) => ({ ...a, isAdmin: true }));
      case 'user.admin.revoke':
        return update(s, e.data.login, (a) => ({ ...a, isAdmin: false }));
      case 'user.api_token.create': {
        const a = byId(s, e.data.userId);
        return a ? update(s, a.login, (x) => ({ ...x, tokenIds: [...x.tokenIds, e.data.tokenId] })) : s;
      }
      case 'user.api_token.revoke': {
        const a = byId(s, e.data.userId);
        return a ? update(s, a.login, (x) => ({ ...x, tokenIds: x.tokenIds.filter((t) => t !== e.data.tokenId) })) : s;
      }
    }
  },
  decide: (c, s) => {
    switch (c.type) {
      case 'create': {
        if (s.byLogin.has(key(c.login))) throw new DomainError('USER_EXISTS', `user ${c.login} already exists`);
        if (c.state === 'ACTIVE') seatFree(s, c.seats);
        const created: AccountEvent = { type: 'user.create', data: { userId: c.userId, login: c.login, name: c.name, state: c.state, isAdmin: c.isAdmin, githubId: c.githubId ?? null } };
        return c.token ? [created, { type: 'user.api_token.create', data: { userId: c.userId, ...c.token } }] : [created];
      }
      case 'approve': {
        const existing = s.byLogin.get(key(c.login));
        if (existing) throw new DomainError('USER_EXISTS', `${existing.login} already has an account (${existing.state}): use activateUser for a suspended one`);
        // an approval reserves the seat its first login will take
        const reserved = [...s.byLogin.values()].filter((x) => x.state === 'INACTIVE').length;
        if (c.seats !== null && seatsUsed(s) + reserved >= c.seats) {
          throw new DomainError('SEATS_EXHAUSTED', `licence seats exhausted (${seatsUsed(s)} in use and ${reserved} reserved by approvals, of ${c.seats}): raise licenseSeats or suspend an account`);
        }
        return [{ type: 'user.approve', data: { userId: c.userId, login: c.login } }];
      }
      case 'activate': {
        const a = find(s, c.login);
        if (a.state === 'ACTIVE') return [];
        if (a.state === 'INACTIVE') throw new DomainError('USER_NOT_SUSPENDED', `${a.login} is approved and becomes active at first login; only suspended accounts are activated`);
        seatFree(s, c.seats);
        return [{ type: 'user.activate', data: ref(a) }];
      }
      case 'suspend': {
        const a = find(s, c.login);
        if (a.userId === c.by) throw new DomainError('SELF_SUSPEND', 'you cannot suspend your own account: ask another admin');
        if (a.state === 'SUSPENDED' || a.state === 'SUSPENDED_NEW') return [];
        return [{ type: 'user.suspend', data: ref(a) }];
      }
      case 'delete': {
        const a = find(s, c.login);
        if (a.userId === c.by) throw new DomainError('SELF_DELETE', 'you cannot delete your own account: ask another admin');
        return [{ type: 'user.delete', data: ref(a) }];
      }
      case 'grantAdmin': {
        const a = find(s, c.login);
        return a.isAdmin ? [] : [{ type: 'user.admin.grant', data: ref(a) }];
      }
      case 'revokeAdmin': {
        const a = find(s, c.login);
        if (a.userId === c.by) throw new DomainError('SELF_REVOKE', 'you cannot revoke your own admin rights: ask another admin');
        if (!a.isAdmin) return [];
        if (a.state === 'ACTIVE' && admins(s) <= 1) throw new DomainError('LAST_ADMIN', `${a.login} is the last active admin: grant admin to another account first`);
        return [{ type: 'user.admin.revoke', data: ref(a) }];
      }
      case 'createApiToken': {
        const a = byId(s, c.userId);
        if (!a) throw new DomainError('USER_NOT_FOUND', 'no such user: create the user before giving it a token');
        if (a.state === 'SUSPENDED' || a.state === 'SUSPENDED_NEW') throw new DomainError('USER_SUSPENDED', `user ${a.login} is suspended: an admin must activate the account first`);
        return [{ type: 'user.api_token.create', data: { userId: a.userId, ...c.token } }];
      }
      case 'signIn': {
        // the account is GitHub's user id, not the login: logins can be renamed and then taken by someone else
        const a = [...s.byLogin.values()].find((x) => x.githubId === c.githubId) ?? s.byLogin.get(key(c.login));
        if (a && a.githubId !== c.githubId) {
          // an approved login binds at its first sign-in; an account of another GitHub user, or a local one, never does
          if (a.githubId !== null || a.state !== 'INACTIVE') throw new DomainError('LOGIN_TAKEN', `the Gyre account ${a.login} belongs to someone else than GitHub user ${c.login} (id ${c.githubId}): ask an admin`);
          seatFree(s, c.settings.licenseSeats);
          return [{ type: 'user.activate', data: { ...ref(a), githubId: c.githubId } }];
        }
        if (a) {
          if (a.state === 'SUSPENDED' || a.state === 'SUSPENDED_NEW') {
            throw new DomainError('USER_SUSPENDED', a.state === 'SUSPENDED' ? `the account of ${a.login} is suspended: ask an admin to activate it` : `the account of ${a.login} waits for an admin to activate it`);
          }
          if (a.state === 'INACTIVE') {
            seatFree(s, c.settings.licenseSeats);
            return [{ type: 'user.activate', data: ref(a) }];
          }
          return [];
        }
        const required = c.settings.requiredOrgMembership;
        const member = required.length === 0 || c.orgs.some((o) => required.some((r) => r.toLowerCase() === o.toLowerCase()));
        if (!member) throw new DomainError('ORG_MEMBERSHIP_REQUIRED', `GitHub user ${c.login} is not a member of any organization allowed to sign up (${required.join(', ')})`);
        const state: UserState = c.settings.suspendNewUsers ? 'SUSPENDED_NEW' : 'ACTIVE';
        if (state === 'ACTIVE') seatFree(s, c.settings.licenseSeats);
        return [{ type: 'user.create', data: { userId: c.userId, login: c.login, name: c.name, state, isAdmin: false, githubId: c.githubId } }];
      }
      case 'revokeApiToken': {
        const a = byId(s, c.userId);
        // the same answer for someone else's token as for none: token ids are not to be probed
        if (!a || !a.tokenIds.includes(c.tokenId)) throw new DomainError('TOKEN_NOT_FOUND', 'you have no active API token with that id: list yours with apiTokens');
        return [{ type: 'user.api_token.revoke', data: { userId: a.userId, tokenId: c.tokenId } }];
      }
    }
  },
};
