import type { Account, AccountEvent } from './accounts.ts';

/**
 * How the one `accounts` stream of earlier versions folds: every account by lower-cased login, as
 * its events left it. Only the migration reads that stream, once (application/accounts-migration.ts).
 */
export const foldLegacyAccounts = (events: Iterable<AccountEvent>): Map<string, Account> => {
  const byLogin = new Map<string, Account>();
  const key = (login: string) => login.toLowerCase();
  const update = (login: string, f: (a: Account) => Account) => {
    const a = byLogin.get(key(login));
    if (a) byLogin.set(key(login), f(a));
  };
  const byId = (userId: string) => [...byLogin.values()].find((a) => a.userId === userId);
  for (const e of events) {
    switch (e.type) {
      case 'user.create':
        byLogin.set(key(e.data.login), {
          userId: e.data.userId,
          login: e.data.login,
          githubId: e.data.githubId ?? null,
          state: e.data.state,
          isAdmin: e.data.isAdmin,
          tokenIds: [],
        });
        break;
      case 'user.approve':
        byLogin.set(key(e.data.login), { userId: e.data.userId, login: e.data.login, githubId: null, state: 'INACTIVE', isAdmin: false, tokenIds: [] });
        break;
      case 'user.activate':
        update(e.data.login, (a) => ({ ...a, state: 'ACTIVE', githubId: e.data.githubId ?? a.githubId }));
        break;
      case 'user.suspend':
        update(e.data.login, (a) => ({ ...a, state: 'SUSPENDED' }));
        break;
      case 'user.delete':
        byLogin.delete(key(e.data.login));
        break;
      case 'user.admin.grant':
      case 'user.admin.revoke':
        update(e.data.login, (a) => ({ ...a, isAdmin: e.type === 'user.admin.grant' }));
        break;
      case 'user.api_token.create': {
        const a = byId(e.data.userId);
        if (a) update(a.login, (x) => ({ ...x, tokenIds: [...x.tokenIds, e.data.tokenId] }));
        break;
      }
      case 'user.api_token.revoke': {
        const a = byId(e.data.userId);
        if (a) update(a.login, (x) => ({ ...x, tokenIds: x.tokenIds.filter((t) => t !== e.data.tokenId) }));
        break;
      }
    }
  }
  return byLogin;
};
