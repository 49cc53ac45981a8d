import { WrongExpectedRevisionError, type EventStore } from '../adapters/eventstore/port.ts';
import { systemActor, type RecordedEvent } from '../domain/events/envelope.ts';
import { accountStream, accountsTarget, legacyAccountsStream, type AccountEvent } from '../domain/users/accounts.ts';
import { githubUserStream, githubUserTarget } from '../domain/users/github-identity.ts';
import { foldLegacyAccounts } from '../domain/users/legacy-accounts.ts';
import { rosterDecider, rosterStream, rosterTarget } from '../domain/users/roster.ts';
import type { CommandHandler } from './commands.ts';

export interface MigrationResult {
  /** Accounts this run wrote into streams of their own (another server, or an earlier run cut short, may have written the rest). */
  readonly imported: number;
  readonly claims: number;
  /** True when this run wrote the roster, which completes the migration. */
  readonly completed: boolean;
}

/** Appends at "no stream"; false when the stream exists already (another server, or an earlier run, wrote it). */
const appendOnce = async (store: EventStore, stream: string, events: Parameters<EventStore['append']>[1]): Promise<boolean> => {
  try {
    await store.append(stream, events, 'no_stream');
    return true;
  } catch (e) {
    if (e instanceof WrongExpectedRevisionError) return false;
    throw e;
  }
};

/**
 * Once, at start-up: the accounts of the one `accounts` stream of earlier versions go into streams of
 * their own (`user.import` with the whole account), their GitHub ids into claims, and their counts
 * into the roster, written last: a roster means the migration is done. Every write is at "no
 * stream", so two servers starting on one database, or a run after one that stopped half-way, write
 * each stream once and skip what is there. The old stream stays in the log as history; nothing reads
 * it after this. A new installation has neither stream and does nothing.
 */
export const migrateAccounts = async (s: { store: EventStore; commands: Pick<CommandHandler, 'envelop'> }): Promise<MigrationResult | null> => {
  if (await s.store.readLast(rosterStream)) return null;
  const legacy = await s.store.readStream(legacyAccountsStream);
  if (legacy.length === 0) return null;
  const accounts = foldLegacyAccounts(legacy.filter((e: RecordedEvent) => e.metadata.success) as unknown as AccountEvent[]);
  const context = { actor: systemActor, request: null };
  let imported = 0;
  let claims = 0;
  for (const a of accounts.values()) {
    const event = {
      type: 'user.import',
      data: { userId: a.userId, login: a.login, githubId: a.githubId, state: a.state, isAdmin: a.isAdmin, tokenIds: [...a.tokenIds] },
    };
    if (await appendOnce(s.store, accountStream(a.login), s.commands.envelop([event], { context, target: accountsTarget(a) }))) imported++;
    if (a.githubId !== null) {
      const claim = { type: 'github_user.claim', data: { githubId: a.githubId, userId: a.userId, login: a.login } };
      if (await appendOnce(s.store, githubUserStream(a.githubId), s.commands.envelop([claim], { context, target: githubUserTarget(a.githubId, a.login) })))
        claims++;
    }
  }
  const all = [...accounts.values()];
  const counts = {
    seatsUsed: all.filter((a) => a.state === 'ACTIVE').length,
    reserved: all.filter((a) => a.state === 'INACTIVE').length,
    activeAdmins: all.filter((a) => a.state === 'ACTIVE' && a.isAdmin).length,
  };
  const roster = rosterDecider.decide({ type: 'import', ...counts }, rosterDecider.initialState());
  const completed = await appendOnce(s.store, rosterStream, s.commands.envelop(roster, { context, target: rosterTarget }));
  return { imported, claims, completed };
};
