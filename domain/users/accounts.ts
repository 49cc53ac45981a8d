import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * One stream per account, named by the lower-cased login (GitHub logins compare case-insensitively):
 * sign-up, approval, activation, suspension, deletion, admin rights and API tokens. A login is unique
 * because its stream is: the first account of a login is appended at "no stream", and a login whose
 * account was deleted is taken again at the revision that deleted it. What is decided across accounts
 * (seats, approvals, the last admin) is the roster's (`roster.ts`); which account a GitHub user has,
 * their claim's (`github-identity.ts`). Each stream grows only with its own account's history.
 */
export const accountStream = (login: string) => `account-${login.toLowerCase()}`;
/** Where every account lived before they had streams of their own: read once, by the migration. */
export const legacyAccountsStream = 'accounts';
/** The first admin's id: the account bootstrap creates, which takes a seat whatever the licence says. */
export const firstAdminId = '00000000-0000-4000-8000-000000000001';
export const accountsTarget = (a: { userId: string; login: string }) => ({ id: a.userId, type: 'user', name: a.login });

export const UserState = z.enum(['ACTIVE', 'INACTIVE', 'SUSPENDED', 'SUSPENDED_NEW']);
export type UserState = z.infer<typeof UserState>;

const who = { userId: z.string(), login: z.string().min(1) };
/** `githubId`: GitHub's permanent user id (logins can be renamed and reused); null for a local account. */
export const userCreated = defineEvent(
  'user.create',
  z.object({ ...who, name: z.string(), state: UserState, isAdmin: z.boolean(), githubId: z.number().int().nullable().default(null) }),
  {
    publicFields: ['userId', 'login', 'name', 'state', 'isAdmin', 'githubId'],
  },
);
export const userApproved = defineEvent('user.approve', z.object(who), { publicFields: ['userId', 'login'] });
/** At a pre-approved login's first sign-in, the activation binds the account to that GitHub user. */
export const userActivated = defineEvent('user.activate', z.object({ ...who, githubId: z.number().int().optional() }), {
  publicFields: ['userId', 'login', 'githubId'],
});
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
export const apiTokenRevoked = defineEvent('user.api_token.revoke', z.object({ userId: z.string(), tokenId: z.string() }), {
  publicFields: ['userId', 'tokenId'],
});

/**
 * An account as it stood in the one `accounts` stream of earlier versions, brought into its own
 * stream by the migration: the whole account, so its stream needs nothing from before. The read
 * models hold it already (from the events it was folded from), so they do not apply it.
 */
export const userImported = defineEvent(
  'user.import',
  z.object({ ...who, githubId: z.number().int().nullable(), state: UserState, isAdmin: z.boolean(), tokenIds: z.array(z.string()) }),
  { publicFields: ['userId', 'login', 'githubId', 'state', 'isAdmin'] },
);

export const accountEvents = [
  userCreated,
  userApproved,
  userActivated,
  userSuspended,
  userDeleted,
  adminGranted,
  adminRevoked,
  apiTokenCreated,
  apiTokenRevoked,
  userImported,
];

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
  | EventOf<typeof apiTokenRevoked>
  | EventOf<typeof userImported>;

type NewToken = { tokenId: string; label: string; tokenHash: string };
/** Commands on one account; seats and the last admin are checked by the roster, with the delta the events make (`rosterDelta`). */
export type AccountCommand =
  | { type: 'create'; userId: string; login: string; name: string; state: UserState; isAdmin: boolean; githubId?: number; token?: NewToken }
  | { type: 'approve'; userId: string; login: string }
  | { type: 'activate'; login: string }
  | { type: 'suspend'; login: string; by: string }
  | { type: 'delete'; login: string; by: string }
  | { type: 'grantAdmin'; login: string }
  | { type: 'revokeAdmin'; login: string; by: string }
  | { type: 'createApiToken'; userId: string; token: NewToken }
  | { type: 'revokeApiToken'; userId: string; tokenId: string }
  /** A GitHub login arrives at this account's stream: sign the person up, or in. `orgs`: their GitHub organizations. */
  | {
      type: 'signIn';
      userId: string;
      githubId: number;
      login: string;
      name: string;
      orgs: ReadonlyArray<string>;
      settings: { suspendNewUsers: boolean; requiredOrgMembership: ReadonlyArray<string> };
    };

export interface Account {
  readonly userId: string;
  readonly login: string;
  readonly githubId: number | null;
  readonly state: UserState;
  readonly isAdmin: boolean;
  readonly tokenIds: ReadonlyArray<string>;
}
/** One login's account; null before it is created and after it is deleted. */
export interface AccountStream {
  readonly account: Account | null;
}

const missing = (login: string) => new DomainError('USER_NOT_FOUND', `no user ${login}: list users with \`gyre users list\``);
const find = (s: AccountStream, login: string): Account => {
  if (!s.account) throw missing(login);
  return s.account;
};
const ref = (a: Account) => ({ userId: a.userId, login: a.login });
const suspended = (a: Account) => a.state === 'SUSPENDED' || a.state === 'SUSPENDED_NEW';
const change = (s: AccountStream, f: (a: Account) => Account | null): AccountStream => (s.account ? { account: f(s.account) } : s);

export const accountDecider: Decider<AccountStream, AccountCommand, AccountEvent> = {
  initialState: () => ({ account: null }),
  evolve: (s, e) => {
    switch (e.type) {
      case 'user.create':
        return {
          account: {
            userId: e.data.userId,
            login: e.data.login,
            githubId: e.data.githubId ?? null,
            state: e.data.state,
            isAdmin: e.data.isAdmin,
            tokenIds: [],
          },
        };
      case 'user.approve':
        return { account: { userId: e.data.userId, login: e.data.login, githubId: null, state: 'INACTIVE', isAdmin: false, tokenIds: [] } };
      case 'user.import':
        return {
          account: {
            userId: e.data.userId,
            login: e.data.login,
            githubId: e.data.githubId,
            state: e.data.state,
            isAdmin: e.data.isAdmin,
            tokenIds: e.data.tokenIds,
          },
        };
      case 'user.activate':
        return change(s, (a) => ({ ...a, state: 'ACTIVE', githubId: e.data.githubId ?? a.githubId }));
      case 'user.suspend':
        return change(s, (a) => ({ ...a, state: 'SUSPENDED' }));
      case 'user.delete':
        return { account: null };
      case 'user.admin.grant':
        return change(s, (a) => ({ ...a, isAdmin: true }));
      case 'user.admin.revoke':
        return change(s, (a) => ({ ...a, isAdmin: false }));
      case 'user.api_token.create':
        return change(s, (a) => (a.userId === e.data.userId ? { ...a, tokenIds: [...a.tokenIds, e.data.tokenId] } : a));
      case 'user.api_token.revoke':
        return change(s, (a) => (a.userId === e.data.userId ? { ...a, tokenIds: a.tokenIds.filter((t) => t !== e.data.tokenId) } : a));
    }
  },
  decide: (c, s) => {
    switch (c.type) {
      case 'create': {
        if (s.account) throw new DomainError('USER_EXISTS', `user ${c.login} already exists`);
        const created: AccountEvent = {
          type: 'user.create',
          data: { userId: c.userId, login: c.login, name: c.name, state: c.state, isAdmin: c.isAdmin, githubId: c.githubId ?? null },
        };
        return c.token ? [created, { type: 'user.api_token.create', data: { userId: c.userId, ...c.token } }] : [created];
      }
      case 'approve': {
        const existing = s.account;
        if (existing)
          throw new DomainError('USER_EXISTS', `${existing.login} already has an account (${existing.state}): use activateUser for a suspended one`);
        return [{ type: 'user.approve', data: { userId: c.userId, login: c.login } }];
      }
      case 'activate': {
        const a = find(s, c.login);
        if (a.state === 'ACTIVE') return [];
        if (a.state === 'INACTIVE')
          throw new DomainError('USER_NOT_SUSPENDED', `${a.login} is approved and becomes active at first login; only suspended accounts are activated`);
        return [{ type: 'user.activate', data: ref(a) }];
      }
      case 'suspend': {
        const a = find(s, c.login);
        if (a.userId === c.by) throw new DomainError('SELF_SUSPEND', 'you cannot suspend your own account: ask another admin');
        if (suspended(a)) return [];
        // for good: activating the account again brings none of them back
        const revoked: AccountEvent[] = a.tokenIds.map((tokenId) => ({ type: 'user.api_token.revoke', data: { userId: a.userId, tokenId } }));
        return [{ type: 'user.suspend', data: ref(a) }, ...revoked];
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
        return a.isAdmin ? [{ type: 'user.admin.revoke', data: ref(a) }] : [];
      }
      case 'createApiToken': {
        const a = s.account?.userId === c.userId ? s.account : null;
        if (!a) throw new DomainError('USER_NOT_FOUND', 'no such user: create the user before giving it a token');
        if (suspended(a)) throw new DomainError('USER_SUSPENDED', `user ${a.login} is suspended: an admin must activate the account first`);
        return [{ type: 'user.api_token.create', data: { userId: a.userId, ...c.token } }];
      }
      case 'revokeApiToken': {
        const a = s.account;
        // the same answer for someone else's token as for none: token ids are not to be probed
        if (!a || a.userId !== c.userId || !a.tokenIds.includes(c.tokenId))
          throw new DomainError('TOKEN_NOT_FOUND', 'you have no active API token with that id: list yours with apiTokens');
        return [{ type: 'user.api_token.revoke', data: { userId: a.userId, tokenId: c.tokenId } }];
      }
      case 'signIn': {
        // the account is GitHub's user id, not the login: logins can be renamed and then taken by someone else
        const a = s.account;
        if (a && a.githubId !== c.githubId) {
          // an approved login binds at its first sign-in; an account of another GitHub user, or a local one, never does
          if (a.githubId !== null || a.state !== 'INACTIVE')
            throw new DomainError(
              'LOGIN_TAKEN',
              `the Gyre account ${a.login} belongs to someone else than GitHub user ${c.login} (id ${c.githubId}): ask an admin`,
            );
          return [{ type: 'user.activate', data: { ...ref(a), githubId: c.githubId } }];
        }
        if (a) {
          if (suspended(a)) {
            throw new DomainError(
              'USER_SUSPENDED',
              a.state === 'SUSPENDED'
                ? `the account of ${a.login} is suspended: ask an admin to activate it`
                : `the account of ${a.login} waits for an admin to activate it`,
            );
          }
          return a.state === 'INACTIVE' ? [{ type: 'user.activate', data: ref(a) }] : [];
        }
        const required = c.settings.requiredOrgMembership;
        const member = required.length === 0 || c.orgs.some((o) => required.some((r) => r.toLowerCase() === o.toLowerCase()));
        if (!member)
          throw new DomainError(
            'ORG_MEMBERSHIP_REQUIRED',
            `GitHub user ${c.login} is not a member of any organization allowed to sign up (${required.join(', ')})`,
          );
        const state: UserState = c.settings.suspendNewUsers ? 'SUSPENDED_NEW' : 'ACTIVE';
        return [{ type: 'user.create', data: { userId: c.userId, login: c.login, name: c.name, state, isAdmin: false, githubId: c.githubId } }];
      }
    }
  },
};

/** What an account's change does to the roster's counts: seats (ACTIVE accounts), approvals waiting (INACTIVE), active admins. */
export interface RosterDelta {
  readonly seats: number;
  readonly reserved: number;
  readonly admins: number;
}
const counts = (a: Account | null): RosterDelta => ({
  seats: a?.state === 'ACTIVE' ? 1 : 0,
  reserved: a?.state === 'INACTIVE' ? 1 : 0,
  admins: a?.state === 'ACTIVE' && a.isAdmin ? 1 : 0,
});
/** The difference the events make to the roster, from the account before them to the account after. */
export const rosterDelta = (before: AccountStream, events: ReadonlyArray<AccountEvent>): RosterDelta => {
  const after = events.reduce(accountDecider.evolve, before);
  const [b, a] = [counts(before.account), counts(after.account)];
  return { seats: a.seats - b.seats, reserved: a.reserved - b.reserved, admins: a.admins - b.admins };
};
export const noDelta = (d: RosterDelta) => d.seats === 0 && d.reserved === 0 && d.admins === 0;
