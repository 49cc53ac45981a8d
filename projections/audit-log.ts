import type { Knex } from 'knex';
import { matchesActions, type ActionFilter } from '../domain/audit/action-filter.ts';
import { toAuditRecord, type AuditRecord } from '../domain/audit/audit-record.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { defineProjection } from './projection.ts';

/** The audit log as the guide shows it: every event, with only its public payload. */
export const auditLogProjection = defineProjection({
  name: 'audit_log',
  version: 1,
  tables: ['audit_events'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.audit_events} (
      position text primary key,
      id uuid not null unique,
      action text not null,
      actor_id text not null,
      target_id text not null,
      occurred_at timestamptz not null,
      record json not null)`);
    await db.raw(`create index if not exists ${t.audit_events}_occurred on ${t.audit_events} (occurred_at)`);
    await db.raw(`create index if not exists ${t.audit_events}_actor on ${t.audit_events} (actor_id, position)`);
    await db.raw(`create index if not exists ${t.audit_events}_target on ${t.audit_events} (target_id, position)`);
  },
  async apply(events, trx, t) {
    const rows = events.map((e) => {
      const r = toAuditRecord(e, eventRegistry);
      return { position: e.position, id: r.id, action: r.action, actor_id: r.actor.id, target_id: r.target.id, occurred_at: r.occurred_at, record: JSON.stringify(r) };
    });
    for (let i = 0; i < rows.length; i += 500) await trx(t.audit_events).insert(rows.slice(i, i + 500));
  },
});

export interface AuditQuery {
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  readonly actions?: ReadonlyArray<ActionFilter>;
  readonly actorId?: string | undefined;
  readonly targetId?: string | undefined;
}

const table = auditLogProjection.tables.audit_events;
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

const filtered = (db: Knex, q: AuditQuery) => {
  const query = db(table);
  if (q.since) query.where('occurred_at', '>=', q.since.toISOString());
  if (q.until) query.where('occurred_at', '<', q.until.toISOString());
  if (q.actorId) query.where('actor_id', q.actorId);
  if (q.targetId) query.where('target_id', q.targetId);
  const actions = q.actions ?? [];
  if (actions.length) {
    query.where((w) => {
      for (const a of actions) {
        if ('exact' in a) w.orWhere('action', a.exact);
        else w.orWhereRaw(`action like ? escape '\\'`, [`${escapeLike(a.prefix)}%`]);
      }
    });
  }
  return query;
};

/** A page of the audit log, newest first, after the cursor (a position). */
export const auditLogPage = async (db: Knex, q: AuditQuery, first: number, after?: string): Promise<{ records: Array<{ position: string; record: AuditRecord }>; hasNextPage: boolean }> => {
  const query = filtered(db, q).select('position', 'record').orderBy('position', 'desc').limit(first + 1);
  if (after) query.where('position', '<', after);
  const found = (await query) as Array<{ position: string; record: AuditRecord | string }>;
  const records = found.slice(0, first).map((r) => ({ position: r.position, record: typeof r.record === 'string' ? (JSON.parse(r.record) as AuditRecord) : r.record }));
  return { records, hasNextPage: found.length > first };
};

/**
 * The audit log oldest first, one keyset page at a time, bounded by the log's end when the export began,
 * so a long export is a consistent snapshot and its memory stays flat.
 */
export async function* auditLogExport(db: Knex, q: AuditQuery, pageSize = 2000): AsyncGenerator<AuditRecord[]> {
  const end = ((await db(table).max('position as end').first()) as { end: string | null } | undefined)?.end;
  if (!end) return;
  let cursor = '';
  for (;;) {
    const found = (await filtered(db, q).select('position', 'record').where('position', '>', cursor).andWhere('position', '<=', end).orderBy('position').limit(pageSize)) as Array<{
      position: string;
      record: AuditRecord | string;
    }>;
    if (found.length === 0) return;
    yield found.map((r) => (typeof r.record === 'string' ? (JSON.parse(r.record) as AuditRecord) : r.record));
    cursor = found[found.length - 1]!.position;
    if (found.length < pageSize) return;
  }
}

/** The same matching rule the SQL applies, for live events that never touch the table. */
export const recordMatches = (q: Pick<AuditQuery, 'actions'>, r: AuditRecord) => matchesActions(q.actions ?? [], r.action);
