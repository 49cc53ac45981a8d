import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';
import type { RosterDelta } from './accounts.ts';

/**
 * What is decided across accounts: seats in use, seats reserved by approvals, active admins. Each
 * `roster.update` carries the whole roster, so a command reads the stream's last event only, and two
 * changes that both take a seat are serialised by the stream's revision: the last seat goes once.
 *
 * An account change that moves these counts spans two streams, so it goes in steps:
 * 1. `reserve`: the roster takes what the change adds (a seat, a reservation, an admin) and records
 *    the change as pending: the account's events, enveloped, and the account revision they were
 *    decided at;
 * 2. the account's events are appended at exactly that revision;
 * 3. `settle`: done (the events are in the account stream: what the change removes is given back)
 *    or void (the account moved on first: what it took is given back).
 * Whoever finds a change pending (the next roster command, or the one that made it) settles it by
 * doing step 2 itself: the exact revision lets only one of them append, so a change that died
 * between the steps is finished or undone, never lost and never counted twice.
 */
export const rosterStream = 'roster';
export const rosterTarget = { id: 'roster', type: 'roster', name: 'Accounts roster' };

const Count = z.number().int().min(0);
const Delta = z.object({ seats: z.number().int(), reserved: z.number().int(), admins: z.number().int() });
/** An account's events as they will be appended (id, type, data, audit metadata). */
const PendingEvent = z.object({ id: z.string(), type: z.string(), data: z.unknown(), metadata: z.record(z.string(), z.unknown()) });
const Pending = z.object({
  id: z.string(),
  login: z.string(),
  /** The account stream's revision the events were decided at; -1: the stream did not exist. */
  accountRevision: z.number().int().min(-1),
  delta: Delta,
  events: z.array(PendingEvent).min(1),
});
export type PendingChange = z.infer<typeof Pending>;

const Change = z.object({ kind: z.enum(['reserve', 'done', 'void', 'import']), login: z.string().nullable(), delta: Delta.nullable() });
export const rosterUpdated = defineEvent(
  'roster.update',
  z.object({ seatsUsed: Count, reserved: Count, activeAdmins: Count, change: Change, pending: z.array(Pending) }),
  // the pending changes hold other events' envelopes (their requests' addresses): not shown
  { publicFields: ['seatsUsed', 'reserved', 'activeAdmins', 'change'] },
);
export const rosterEvents = [rosterUpdated];
export type RosterEvent = EventOf<typeof rosterUpdated>;

export interface Roster {
  /** ACTIVE accounts, counting the seats pending changes took. */
  readonly seatsUsed: number;
  /** INACTIVE (approved) accounts, counting pending approvals. */
  readonly reserved: number;
  /** ACTIVE admins, counting pending grants; pending revocations count only once done. */
  readonly activeAdmins: number;
  readonly pending: ReadonlyArray<PendingChange>;
}

export type RosterCommand =
  /** `seats`: the licence's limit as the settings stand (null: none); the first admin takes a seat whatever it says. */
  | { type: 'reserve'; change: PendingChange; seats: number | null }
  | { type: 'settle'; id: string; outcome: 'done' | 'void' }
  | { type: 'import'; seatsUsed: number; reserved: number; activeAdmins: number };

const gains = (d: RosterDelta): RosterDelta => ({ seats: Math.max(d.seats, 0), reserved: Math.max(d.reserved, 0), admins: Math.max(d.admins, 0) });
const losses = (d: RosterDelta): RosterDelta => ({ seats: Math.min(d.seats, 0), reserved: Math.min(d.reserved, 0), admins: Math.min(d.admins, 0) });
const add = (r: Roster, d: RosterDelta, sign = 1) => ({
  seatsUsed: r.seatsUsed + sign * d.seats,
  reserved: r.reserved + sign * d.reserved,
  activeAdmins: r.activeAdmins + sign * d.admins,
});

const update = (counts: ReturnType<typeof add>, pending: ReadonlyArray<PendingChange>, change: z.infer<typeof Change>): RosterEvent => ({
  type: 'roster.update',
  data: {
    seatsUsed: Math.max(counts.seatsUsed, 0),
    reserved: Math.max(counts.reserved, 0),
    activeAdmins: Math.max(counts.activeAdmins, 0),
    change,
    pending: pending.map((p) => ({ ...p })),
  },
});

export const rosterDecider: Decider<Roster, RosterCommand, RosterEvent> = {
  initialState: () => ({ seatsUsed: 0, reserved: 0, activeAdmins: 0, pending: [] }),
  evolve: (_, e) => ({ seatsUsed: e.data.seatsUsed, reserved: e.data.reserved, activeAdmins: e.data.activeAdmins, pending: e.data.pending }),
  decide: (c, r) => {
    switch (c.type) {
      case 'reserve': {
        const d = c.change.delta;
        if (d.seats > 0 && c.seats !== null && r.seatsUsed + d.seats > c.seats) {
          throw new DomainError('SEATS_EXHAUSTED', `licence seats exhausted (${r.seatsUsed} of ${c.seats} in use): raise licenseSeats or suspend an account`);
        }
        if (d.reserved > 0 && c.seats !== null && r.seatsUsed + r.reserved + d.reserved > c.seats) {
          throw new DomainError(
            'SEATS_EXHAUSTED',
            `licence seats exhausted (${r.seatsUsed} in use and ${r.reserved} reserved by approvals, of ${c.seats}): raise licenseSeats or suspend an account`,
          );
        }
        if (d.admins < 0) {
          // admins that pending changes take away are gone already, for this check
          const leaving = r.pending.reduce((n, p) => n + Math.min(p.delta.admins, 0), 0);
          if (r.activeAdmins + leaving + d.admins < 1)
            throw new DomainError('LAST_ADMIN', `${c.change.login} is the last active admin: grant admin to another account first`);
        }
        return [update(add(r, gains(d)), [...r.pending, c.change], { kind: 'reserve', login: c.change.login, delta: d })];
      }
      case 'settle': {
        const p = r.pending.find((x) => x.id === c.id);
        if (!p) return [];
        const rest = r.pending.filter((x) => x.id !== c.id);
        const counts = c.outcome === 'done' ? add(r, losses(p.delta)) : add(r, gains(p.delta), -1);
        return [update(counts, rest, { kind: c.outcome, login: p.login, delta: p.delta })];
      }
      case 'import': {
        if (r.seatsUsed || r.reserved || r.activeAdmins || r.pending.length)
          throw new DomainError('ROSTER_EXISTS', 'the roster holds accounts already: the migration has run');
        return [update(c, [], { kind: 'import', login: null, delta: null })];
      }
    }
  },
};
