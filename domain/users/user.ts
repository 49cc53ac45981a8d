import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { defineEvent } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

export const userStream = (userId: string) => `user-${userId}`;
export const UserState = z.enum(['ACTIVE', 'INACTIVE', 'SUSPENDED', 'SUSPENDED_NEW']);
export type UserState = z.infer<typeof UserState>;

export const userCreated = defineEvent(
  'user.create',
  z.object({ userId: z.string(), login: z.string().min(1), name: z.string(), state: UserState, isAdmin: z.boolean() }),
  { publicFields: ['userId', 'login', 'name', 'state', 'isAdmin'] },
);
/** The token itself never enters an event: only its SHA-256, which the audit log does not show. */
export const apiTokenCreated = defineEvent(
  'user.api_token.create',
  z.object({ tokenId: z.string(), label: z.string().max(200), tokenHash: z.string().regex(/^[0-9a-f]{64}$/) }),
  { publicFields: ['tokenId', 'label'] },
);

export const apiTokenRevoked = defineEvent('user.api_token.revoke', z.object({ tokenId: z.string() }), { publicFields: ['tokenId'] });

/** A token label: what the owner will recognise it by in a list. */
export const TokenLabel = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

export type UserEvent =
  | { type: 'user.create'; data: z.infer<typeof userCreated.schema> }
  | { type: 'user.api_token.create'; data: z.infer<typeof apiTokenCreated.schema> }
  | { type: 'user.api_token.revoke'; data: z.infer<typeof apiTokenRevoked.schema> };

export type UserCommand =
  | { type: 'create'; userId: string; login: string; name: string; state: UserState; isAdmin: boolean; token?: { tokenId: string; label: string; tokenHash: string } }
  | { type: 'createApiToken'; tokenId: string; label: string; tokenHash: string }
  | { type: 'revokeApiToken'; tokenId: string };

export type User =
  | { exists: false }
  | { exists: true; userId: string; login: string; state: UserState; isAdmin: boolean; tokenIds: ReadonlyArray<string> };

export const userDecider: Decider<User, UserCommand, UserEvent> = {
  initialState: () => ({ exists: false }),
  evolve: (state, event) => {
    switch (event.type) {
      case 'user.create': {
        const { userId, login, state: s, isAdmin } = event.data;
        return { exists: true, userId, login, state: s, isAdmin, tokenIds: [] };
      }
      case 'user.api_token.create':
        return state.exists ? { ...state, tokenIds: [...state.tokenIds, event.data.tokenId] } : state;
      case 'user.api_token.revoke':
        return state.exists ? { ...state, tokenIds: state.tokenIds.filter((id) => id !== event.data.tokenId) } : state;
    }
  },
  decide: (command, state) => {
    switch (command.type) {
      case 'create': {
        if (state.exists) throw new DomainError('USER_EXISTS', `user ${state.login} already exists`);
        const { userId, login, name, state: s, isAdmin, token } = command;
        const created: UserEvent = { type: 'user.create', data: { userId, login, name, state: s, isAdmin } };
        return token ? [created, { type: 'user.api_token.create', data: token }] : [created];
      }
      case 'createApiToken': {
        if (!state.exists) throw new DomainError('USER_NOT_FOUND', 'no such user: create the user before giving it a token');
        if (state.state === 'SUSPENDED' || state.state === 'SUSPENDED_NEW') {
          throw new DomainError('USER_SUSPENDED', `user ${state.login} is suspended: activate the account first`);
        }
        const { tokenId, label, tokenHash } = command;
        return [{ type: 'user.api_token.create', data: { tokenId, label, tokenHash } }];
      }
      case 'revokeApiToken': {
        // the same answer for someone else's token as for none: token ids are not to be probed
        if (!state.exists || !state.tokenIds.includes(command.tokenId)) throw new DomainError('TOKEN_NOT_FOUND', 'you have no active API token with that id: list yours with apiTokens');
        return [{ type: 'user.api_token.revoke', data: { tokenId: command.tokenId } }];
      }
    }
  },
};
