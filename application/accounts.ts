import { randomUUID } from 'node:crypto';
import type { GitHubIdentity } from '../adapters/github/port.ts';
import { DomainError, ForbiddenError, UnauthorizedError, type GyreError } from '../domain/errors.ts';
import type { CommandContext, Reference } from '../domain/events/envelope.ts';
import { fold } from '../domain/decider.ts';
import { ConflictError } from '../domain/errors.ts';
import type { NewEvent, Position, RecordedEvent } from '../domain/events/envelope.ts';
import {
  accountDecider,
  accountStream,
  accountsTarget,
  firstAdminId,
  noDelta,
  rosterDelta,
  type Account,
  type AccountCommand,
  type AccountEvent,
  type AccountStream,
} from '../domain/users/accounts.ts';
import { githubIdentityDecider, githubUserStream, githubUserTarget, type GithubIdentityEvent } from '../domain/users/github-identity.ts';
import { rosterDecider, rosterStream, rosterTarget, type PendingChange, type RosterEvent } from '../domain/users/roster.ts';
import { maxPosition, WrongExpectedRevisionError, type ExpectedRevision } from '../adapters/eventstore/port.ts';
import { sessionStream, sessionsDecider, type SignInMethod } from '../domain/users/sessions.ts';
import { membershipsOf } from '../projections/memberships.ts';
import { runnerTokenByHash } from '../projections/runners.ts';
import { systemSettings } from '../projections/system-settings.ts';
import { activeTokens, userByLogin, userByTokenHash, type UserRow } from '../projections/users.ts';
import type { UseCases, WithStore, Written } from './dependencies.ts';
import { generateToken, hashToken } from './tokens.ts';
import { executeAndWait } from './execute-and-wait.ts';

/** Accounts, API tokens and sessions: what admins do to accounts, what people do to their own, and signing in. */

/** The signed-in user a command acts for. */
export interface Caller {
  readonly id: string;
  readonly login: string;
}

/** Account use cases read and append account streams themselves: a change that moves the roster spans two streams. */
export type AccountUseCases = UseCases & WithStore;

const accountAttempts = 10;
const rosterAttempts = 64;
const maxOf = (a: Position | null, b: Position | null) => (a === null ? b : b === null ? a : maxPosition(a, b));
const expectedAt = (revision: number): ExpectedRevision => (revision < 0 ? 'no_stream' : revision);

/** One login's account as its stream holds it, and the revision read (-1: no stream). */
const readAccount = async (s: WithStore, login: string) => {
  const history = await s.store.readStream(accountStream(login));
  return { state: fold(accountDecider, history as unknown as AccountEvent[]), revision: history.at(-1)?.revision ?? -1 };
};

/**
 * Step 2 and 3 of a change the roster holds pending (see domain/users/roster.ts): append its events
 * at the account revision they were decided at, or learn that they are in already, or that the
 * account moved on first; then settle it on the roster. Whoever calls this, the change happens once.
 */
const settle = async (s: AccountUseCases, context: CommandContext, change: PendingChange): Promise<{ outcome: 'done' | 'void'; written: Written }> => {
  const stream = accountStream(change.login);
  let recorded: ReadonlyArray<RecordedEvent>;
  let outcome: 'done' | 'void';
  try {
    recorded = (await s.store.append(stream, change.events as unknown as NewEvent[], expectedAt(change.accountRevision))).events;
    outcome = 'done';
  } catch (e) {
    if (!(e instanceof WrongExpectedRevisionError)) throw e;
    const after = await s.store.readStream(stream, change.accountRevision + 1);
    outcome = after[0]?.id === change.events[0]!.id ? 'done' : 'void';
    recorded = outcome === 'done' ? after.slice(0, change.events.length) : [];
  }
  const settled = await s.commands.execute({
    stream: rosterStream,
    decider: rosterDecider,
    command: { type: 'settle', id: change.id, outcome },
    context,
    target: rosterTarget,
    lastEventOnly: true,
    maxAttempts: rosterAttempts,
  });
  const events = [...recorded, ...settled.events];
  return { outcome, written: { events, position: maxOf(recorded.at(-1)?.position ?? null, settled.position) } };
};

/** Settles the changes the roster holds pending: ones whose maker died between the steps, or is still at them (only one of the two appends). */
export const settlePending = async (s: AccountUseCases, context: CommandContext): Promise<void> => {
  const last = await s.store.readLast(rosterStream);
  const pending = last ? fold(rosterDecider, [last as unknown as RosterEvent]).pending : [];
  for (const change of pending) await settle(s, context, change);
};

interface AccountChange {
  readonly login: string;
  readonly command: AccountCommand;
  readonly context: CommandContext;
  readonly target: (state: AccountStream) => Reference;
}

/**
 * Decides a command on one account's stream and appends its events at the revision read. When the
 * events move the roster's counts (a seat, an approval, an admin), the roster takes them first, as
 * a pending change, which is then carried out and settled; a change the account outran is undone and
 * decided again.
 */
const runAccount = async (s: AccountUseCases, { login, command, context, target }: AccountChange): Promise<{ state: AccountStream; written: Written }> => {
  for (let attempt = 1; ; attempt++) {
    const { state, revision } = await readAccount(s, login);
    const events = accountDecider.decide(command, state);
    const after = events.reduce(accountDecider.evolve, state);
    if (events.length === 0) return { state: after, written: { events: [], position: null } };
    const enveloped = s.commands.envelop(events, { context, target: target(after) });
    const delta = rosterDelta(state, events);
    try {
      if (noDelta(delta)) {
        const appended = await s.store.append(accountStream(login), enveloped, expectedAt(revision));
        return { state: after, written: { events: appended.events, position: appended.position } };
      }
      await settlePending(s, context);
      // the login as the account spells it (refusals name it); its stream is the lower-cased one
      const change: PendingChange = {
        id: randomUUID(),
        login: state.account?.login ?? after.account?.login ?? login,
        accountRevision: revision,
        delta,
        events: enveloped as PendingChange['events'],
      };
      const seats = (await systemSettings(s.db)).licenseSeats;
      await s.commands.execute({
        stream: rosterStream,
        decider: rosterDecider,
        // the first admin takes a seat whatever the licence says: without it no one could change the licence
        command: { type: 'reserve', change, seats: command.type === 'create' && command.userId === firstAdminId ? null : seats },
        context,
        target: rosterTarget,
        lastEventOnly: true,
        maxAttempts: rosterAttempts,
      });
      const settled = await settle(s, context, change);
      if (settled.outcome === 'done') return { state: after, written: settled.written };
    } catch (e) {
      if (!(e instanceof WrongExpectedRevisionError)) throw e;
    }
    if (attempt >= accountAttempts) throw new ConflictError(`the account ${login} kept changing while this change was decided: try again`);
    await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
  }
};

/** Runs one account command and answers with the account as the read model then holds it. */
const changeAccount = async (
  s: AccountUseCases,
  context: CommandContext,
  login: string,
  command: AccountCommand,
  targetId?: string,
): Promise<UserRow | undefined> => {
  const known = await userByLogin(s.db, login);
  const target = () => ({ id: targetId ?? known?.id ?? login, type: 'user', name: known?.login ?? login });
  const { written } = await runAccount(s, { login, command, context, target });
  await s.readYourWrites(written);
  return userByLogin(s.db, login);
};

/** Creates an account (the first admin, a test's user): refused with USER_EXISTS when the login has one. */
export const createAccount = async (s: AccountUseCases, context: CommandContext, command: Extract<AccountCommand, { type: 'create' }>): Promise<Written> => {
  const { written } = await runAccount(s, { login: command.login, command, context, target: () => accountsTarget(command) });
  return written;
};

export const suspendUser = (s: AccountUseCases, context: CommandContext, by: Caller, login: string) =>
  changeAccount(s, context, login, { type: 'suspend', login, by: by.id });
export const activateUser = (s: AccountUseCases, context: CommandContext, login: string) => changeAccount(s, context, login, { type: 'activate', login });
export const approveUser = (s: AccountUseCases, context: CommandContext, login: string) => {
  const userId = randomUUID();
  return changeAccount(s, context, login, { type: 'approve', userId, login }, userId);
};
export const deleteUser = async (s: AccountUseCases, context: CommandContext, by: Caller, login: string): Promise<void> => {
  await changeAccount(s, context, login, { type: 'delete', login, by: by.id });
};
export const grantAdmin = (s: AccountUseCases, context: CommandContext, login: string) => changeAccount(s, context, login, { type: 'grantAdmin', login });
export const revokeAdmin = (s: AccountUseCases, context: CommandContext, by: Caller, login: string) =>
  changeAccount(s, context, login, { type: 'revokeAdmin', login, by: by.id });

/** A new API token for the caller: the token itself is answered once, only its hash is kept. */
export const createApiToken = async (s: AccountUseCases, context: CommandContext, user: Caller, label: string) => {
  const token = generateToken();
  const tokenId = randomUUID();
  const { written } = await runAccount(s, {
    login: user.login,
    command: { type: 'createApiToken', userId: user.id, token: { tokenId, label, tokenHash: hashToken(token) } },
    context,
    target: () => accountsTarget({ userId: user.id, login: user.login }),
  });
  await s.readYourWrites(written);
  const created = (await activeTokens(s.db, user.id)).find((t) => t.id === tokenId)!;
  return { token, apiToken: created };
};

export const revokeApiToken = async (s: AccountUseCases, context: CommandContext, user: Caller, tokenId: string): Promise<void> => {
  const { written } = await runAccount(s, {
    login: user.login,
    command: { type: 'revokeApiToken', userId: user.id, tokenId },
    context,
    target: () => accountsTarget({ userId: user.id, login: user.login }),
  });
  await s.readYourWrites(written);
};

/**
 * Signs a GitHub user up or in: the account their GitHub id claimed, created (or waiting for
 * approval) as the settings say. The claim comes first, on the GitHub user's own stream at the
 * revision read, so one GitHub user gets one account however many sign-ins race; a claim whose
 * account is missing (its maker died) is finished, one whose account is gone or another's is made
 * again. A refusal (not of the required organization, no seat) is a DomainError.
 */
export const signInWithGitHub = async (s: AccountUseCases, context: CommandContext, who: GitHubIdentity): Promise<Account> => {
  const githubUser = githubUserTarget(who.id, who.login);
  const actorContext = { ...context, actor: githubUser };
  const settings = await systemSettings(s.db);
  const claimStream = githubUserStream(who.id);
  for (let attempt = 1; ; attempt++) {
    const last = await s.store.readLast(claimStream);
    const { claim } = fold(githubIdentityDecider, last ? [last as unknown as GithubIdentityEvent] : []);
    const mine = (a: Account | null) => a?.githubId === who.id;
    const bindable = (a: Account | null) => !a || (a.githubId === null && a.state === 'INACTIVE');
    let login = who.login;
    let userId: string;
    let claimed = false;
    const claimedRead = claim ? await readAccount(s, claim.login) : null;
    const claimedAccount = claimedRead?.state.account ?? null;
    // the sign-up that claimed stopped before its account: the login never had one, or is the approved account it claimed
    const unfinished = claimedAccount ? bindable(claimedAccount) && claimedAccount.userId === claim!.userId : claimedRead?.revision === -1;
    if (claim && mine(claimedAccount)) {
      // signed up before (perhaps under a login GitHub has since renamed)
      [login, userId, claimed] = [claim.login, claimedAccount!.userId, true];
    } else if (claim && claim.login.toLowerCase() === who.login.toLowerCase() && unfinished) {
      // finish it, as the account the claim names (a deleted account is never brought back)
      [userId, claimed] = [claim.userId, true];
    } else {
      const existing = (await readAccount(s, who.login)).state.account;
      userId = existing && bindable(existing) ? existing.userId : randomUUID();
    }
    const command: AccountCommand = { type: 'signIn', userId, githubId: who.id, login, name: who.name, orgs: who.orgs, settings };
    // refusals (another's login, a suspended account, not of the organization) come before any claim
    accountDecider.decide(command, (await readAccount(s, login)).state);
    const written: Written[] = [];
    try {
      if (!claimed) {
        const [event] = githubIdentityDecider.decide({ type: 'claim', githubId: who.id, userId, login }, { claim });
        const appended = await s.store.append(
          claimStream,
          s.commands.envelop([event!], { context: actorContext, target: githubUser }),
          expectedAt(last?.revision ?? -1),
        );
        written.push({ events: appended.events, position: appended.position });
      }
      const done = await runAccount(s, {
        login,
        command,
        context: actorContext,
        target: (state) => (state.account ? accountsTarget(state.account) : githubUser),
      });
      written.push(done.written);
      await s.readYourWrites({ events: written.flatMap((w) => w.events), position: written.reduce<Position | null>((p, w) => maxOf(p, w.position), null) });
      if (!mine(done.state.account)) throw new Error(`signIn left no account bound to GitHub user ${who.id}`);
      return done.state.account!;
    } catch (e) {
      // another sign-in of this GitHub user claimed first: take it from there
      if (!(e instanceof WrongExpectedRevisionError) || attempt >= accountAttempts) throw e;
    }
  }
};

/** A browser session for an account that signed in, with the organizations and teams GitHub named; answers the session secret. */
export const startSession = async (
  s: UseCases,
  context: CommandContext,
  account: Caller,
  how: Pick<GitHubIdentity, 'orgs' | 'teams'> & SignInMethod,
): Promise<string> => {
  const session = generateToken();
  await executeAndWait(s, {
    stream: sessionStream(account.id),
    decider: sessionsDecider,
    command: { type: 'login', userId: account.id, login: account.login, sessionHash: hashToken(session), ...how },
    context: { ...context, actor: { id: account.id, type: 'user', name: account.login } },
    target: accountsTarget({ userId: account.id, login: account.login }),
  });
  return session;
};

/**
 * Signs in with one of the person's API tokens (the embedded admin has no GitHub account). The session
 * keeps the organizations and teams of their last GitHub login; a refusal is audited under `operation`.
 */
export const signInWithToken = async (
  s: UseCases,
  context: CommandContext,
  token: string,
  operation: string,
): Promise<{ session: string; user: UserRow; tokenId: string }> => {
  const refused = async (error: GyreError, actor?: Reference) => {
    await s.commands.refuse(
      'user.logged_in',
      { reason: error.message, code: error.code, status: error.status, operation },
      actor ? { context: { ...context, actor }, target: actor } : { context },
    );
    return error;
  };
  const hash = hashToken(token);
  const user = await userByTokenHash(s.db, hash);
  if (!user) {
    const runner = await runnerTokenByHash(s.db, hash);
    throw await refused(
      new UnauthorizedError(
        runner
          ? 'a runner token cannot sign in: it only lets agents claim and run tasks; sign in with a personal API token'
          : 'the API token is not valid: sign in with an API token of your account, or ask an admin for one',
      ),
    );
  }
  if (user.state !== 'ACTIVE' && user.state !== 'INACTIVE') {
    throw await refused(new ForbiddenError(`the account of ${user.login} is suspended: ask an admin to activate it`, 'USER_SUSPENDED'), {
      id: user.id,
      type: 'user',
      name: user.login,
    });
  }
  const session = await startSession(s, context, user, { ...(await membershipsOf(s.db, user.id)), method: 'api_token', tokenId: user.tokenId });
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
