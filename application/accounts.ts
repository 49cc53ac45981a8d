import { randomUUID } from 'node:crypto';
import type { GitHubIdentity } from '../adapters/github/port.ts';
import { DomainError, ForbiddenError, UnauthorizedError, type GyreError } from '../domain/errors.ts';
import type { CommandContext, Reference } from '../domain/events/envelope.ts';
import { accountsDecider, accountsStream, accountsTarget, type Account, type AccountCommand } from '../domain/users/accounts.ts';
import { sessionStream, sessionsDecider, type SignInMethod } from '../domain/users/sessions.ts';
import { orgsOf, teamsOf } from '../projections/memberships.ts';
import { runnerTokenByHash } from '../projections/runners.ts';
import { systemSettings } from '../projections/system-settings.ts';
import { activeTokens, userByLogin, userByTokenHash, type UserRow } from '../projections/users.ts';
import type { UseCases } from './dependencies.ts';
import { generateToken, hashToken } from './tokens.ts';

/** Accounts, API tokens and sessions: what admins do to accounts, what people do to their own, and signing in. */

/** The signed-in user a command acts for. */
export interface Caller {
  readonly id: string;
  readonly login: string;
}

/** Runs one account command and answers with the account as the read model then holds it. */
const changeAccount = async (s: UseCases, context: CommandContext, login: string, command: AccountCommand, targetId?: string): Promise<UserRow | undefined> => {
  const known = await userByLogin(s.db, login);
  const target = { id: targetId ?? known?.id ?? login, type: 'user', name: known?.login ?? login };
  const result = await s.commands.execute({ stream: accountsStream, decider: accountsDecider, command, context, target });
  await s.readYourWrites(result);
  return userByLogin(s.db, login);
};
const seats = async (s: UseCases) => (await systemSettings(s.db)).licenseSeats;

export const suspendUser = (s: UseCases, context: CommandContext, by: Caller, login: string) => changeAccount(s, context, login, { type: 'suspend', login, by: by.id });
export const activateUser = async (s: UseCases, context: CommandContext, login: string) => changeAccount(s, context, login, { type: 'activate', login, seats: await seats(s) });
export const approveUser = async (s: UseCases, context: CommandContext, login: string) => {
  const userId = randomUUID();
  return changeAccount(s, context, login, { type: 'approve', userId, login, seats: await seats(s) }, userId);
};
export const deleteUser = async (s: UseCases, context: CommandContext, by: Caller, login: string): Promise<void> => {
  await changeAccount(s, context, login, { type: 'delete', login, by: by.id });
};
export const grantAdmin = (s: UseCases, context: CommandContext, login: string) => changeAccount(s, context, login, { type: 'grantAdmin', login });
export const revokeAdmin = (s: UseCases, context: CommandContext, by: Caller, login: string) => changeAccount(s, context, login, { type: 'revokeAdmin', login, by: by.id });

/** A new API token for the caller: the token itself is answered once, only its hash is kept. */
export const createApiToken = async (s: UseCases, context: CommandContext, user: Caller, label: string) => {
  const token = generateToken();
  const tokenId = randomUUID();
  const result = await s.commands.execute({
    stream: accountsStream,
    decider: accountsDecider,
    command: { type: 'createApiToken', userId: user.id, token: { tokenId, label, tokenHash: hashToken(token) } },
    context,
    target: accountsTarget({ userId: user.id, login: user.login }),
  });
  await s.readYourWrites(result);
  const created = (await activeTokens(s.db, user.id)).find((t) => t.id === tokenId)!;
  return { token, apiToken: created };
};

export const revokeApiToken = async (s: UseCases, context: CommandContext, user: Caller, tokenId: string): Promise<void> => {
  const result = await s.commands.execute({ stream: accountsStream, decider: accountsDecider, command: { type: 'revokeApiToken', userId: user.id, tokenId }, context, target: accountsTarget({ userId: user.id, login: user.login }) });
  await s.readYourWrites(result);
};

/**
 * Signs a GitHub user up or in: the account bound to the GitHub id, created (or waiting for approval)
 * as the settings say. A refusal (not of the required organization, no seat) is a DomainError.
 */
export const signInWithGitHub = async (s: UseCases, context: CommandContext, who: GitHubIdentity): Promise<Account> => {
  const githubUser = { id: `github:${who.id}`, type: 'github_user', name: who.login };
  // a new account takes this id; the decided state says which account the person really has
  const result = await s.commands.execute({
    stream: accountsStream,
    decider: accountsDecider,
    command: { type: 'signIn', userId: randomUUID(), githubId: who.id, login: who.login, name: who.name, orgs: who.orgs, settings: await systemSettings(s.db) },
    context: { ...context, actor: githubUser },
    target: (state) => {
      const a = [...state.byLogin.values()].find((x) => x.githubId === who.id);
      return a ? accountsTarget(a) : githubUser;
    },
  });
  await s.readYourWrites(result);
  const account = [...result.state.byLogin.values()].find((x) => x.githubId === who.id);
  if (!account) throw new Error(`signIn left no account bound to GitHub user ${who.id}`);
  return account;
};

/** A browser session for an account that signed in, with the organizations and teams GitHub named; answers the session secret. */
export const startSession = async (s: UseCases, context: CommandContext, account: Caller, how: Pick<GitHubIdentity, 'orgs' | 'teams'> & SignInMethod): Promise<string> => {
  const session = generateToken();
  const signedIn = await s.commands.execute({
    stream: sessionStream(account.id),
    decider: sessionsDecider,
    command: { type: 'login', userId: account.id, login: account.login, sessionHash: hashToken(session), ...how },
    context: { ...context, actor: { id: account.id, type: 'user', name: account.login } },
    target: accountsTarget({ userId: account.id, login: account.login }),
  });
  await s.readYourWrites(signedIn);
  return session;
};

/**
 * Signs in with one of the person's API tokens (the embedded admin has no GitHub account). The session
 * keeps the organizations and teams of their last GitHub login; a refusal is audited under `operation`.
 */
export const signInWithToken = async (s: UseCases, context: CommandContext, token: string, operation: string): Promise<{ session: string; user: UserRow; tokenId: string }> => {
  const refused = async (error: GyreError, actor?: Reference) => {
    await s.commands.refuse('user.logged_in', { reason: error.message, code: error.code, status: error.status, operation }, actor ? { context: { ...context, actor }, target: actor } : { context });
    return error;
  };
  const hash = hashToken(token);
  const user = await userByTokenHash(s.db, hash);
  if (!user) {
    const runner = await runnerTokenByHash(s.db, hash);
    throw await refused(
      new UnauthorizedError(runner ? 'a runner token cannot sign in: it only lets agents claim and run tasks; sign in with a personal API token' : 'the API token is not valid: sign in with an API token of your account, or ask an admin for one'),
    );
  }
  if (user.state !== 'ACTIVE' && user.state !== 'INACTIVE') {
    throw await refused(new ForbiddenError(`the account of ${user.login} is suspended: ask an admin to activate it`, 'USER_SUSPENDED'), { id: user.id, type: 'user', name: user.login });
  }
  const [orgs, teams] = await Promise.all([orgsOf(s.db, user.id), teamsOf(s.db, user.id)]);
  const session = await startSession(s, context, user, { orgs, teams, method: 'api_token', tokenId: user.tokenId });
  return { session, user, tokenId: user.tokenId };
};

/** Ends a session, at once for the requests that follow; one already ended needs no event. */
export const endSession = async (s: UseCases, context: CommandContext, user: Caller, sessionHash: string): Promise<void> => {
  const ended = await s.commands
    .execute({
      stream: sessionStream(user.id),
      decider: sessionsDecider,
      command: { type: 'logout', userId: user.id, login: user.login, sessionHash },
      context,
      target: accountsTarget({ userId: user.id, login: user.login }),
    })
    .catch((e) => {
      if (!(e instanceof DomainError && e.code === 'SESSION_NOT_FOUND')) throw e;
      return null;
    });
  if (ended) await s.readYourWrites(ended);
};
