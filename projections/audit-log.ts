import { stringify } from 'csv-stringify/sync';
import type { Knex } from 'knex';
import { likePrefix, type ActionFilter } from '../domain/audit/action-filter.ts';
import { auditColumns, toAuditRecord, type AuditRecord } from '../domain/audit/audit-record.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { defineProjection } from './projection.ts';

/** Nested values as compact JSON, scalars as text: one CSV line (RFC 4180, CRLF) in the guide's column order. */
export const csvLine = (r: AuditRecord): string =>
  stringify([auditColumns.map((c) => (r[c] === null ? 'null' : typeof r[c] === 'object' ? JSON.stringify(r[c]) : String(r[c])))], {
    record_delimiter: 'windows',
    // a bare CR or LF inside a value is quoted too
    quoted_match: /[\r\n]/,
  });

export const csvHeader = csvLine(Object.fromEntries(auditColumns.map((c) => [c, c])) as unknown as AuditRecord);

/**
 * The audit log as the guide shows it: every event, with only its public payload, stored once (as its
 * record); an export renders each record's CSV line as it streams.
 */
export const auditLogProjection = defineProjection({
  name: 'audit_log',
  version: 2,
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
    const records = events.map((e) => ({ position: e.position, record: toAuditRecord(e, eventRegistry) }));
    // one statement per batch, its columns as arrays: the parameters are seven, however many the rows
    await trx.raw(
      `insert into ${t.audit_events} (position, id, action, actor_id, target_id, occurred_at, record)
       select * from unnest(?::text[], ?::uuid[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::json[])`,
      [
        records.map((r) => r.position),
        records.map((r) => r.record.id),
        records.map((r) => r.record.action),
        records.map((r) => r.record.actor.id),
        records.map((r) => r.record.target.id),
        records.map((r) => r.record.occurred_at),
        records.map((r) => JSON.stringify(r.record)),
      ],
    );
  },
});

export interface AuditQuery {
  /** ISO-8601 times with a zone; compared in the database, to the microsecond. */
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly actions?: ReadonlyArray<ActionFilter>;
  readonly actorId?: string | undefined;
  readonly targetId?: string | undefined;
}

const table = auditLogProjection.tables.audit_events;

const filtered = (db: Knex, q: AuditQuery) => {
  const query = db(table);
  if (q.since) query.whereRaw('occurred_at >= ?::timestamptz', [q.since]);
  if (q.until) query.whereRaw('occurred_at < ?::timestamptz', [q.until]);
  if (q.actorId) query.where('actor_id', q.actorId);
  if (q.targetId) query.where('target_id', q.targetId);
  const actions = q.actions ?? [];
  if (actions.length) {
    query.where((w) => {
      for (const a of actions) {
        if ('exact' in a) w.orWhere('action', a.exact);
        else w.orWhereRaw(`action like ? escape '\\'`, [likePrefix(a.prefix)]);
      }
    });
  }
  return query;
};

const parsed = (record: AuditRecord | string): AuditRecord => (typeof record === 'string' ? (JSON.parse(record) as AuditRecord) : record);

/** A page of the audit log, newest first, after the cursor (a position). */
export const auditLogPage = async (
  db: Knex,
  q: AuditQuery,
  first: number,
  after?: string,
): Promise<{ records: Array<{ position: string; record: AuditRecord }>; hasNextPage: boolean }> => {
  const query = filtered(db, q)
    .select('position', 'record')
    .orderBy('position', 'desc')
    .limit(first + 1);
  if (after) query.where('position', '<', after);
  const found = (await query) as Array<{ position: string; record: AuditRecord | string }>;
  return { records: found.slice(0, first).map((r) => ({ position: r.position, record: parsed(r.record) })), hasNextPage: found.length > first };
};

/**
 * The audit log as CSV text, oldest first, one keyset page (one string) at a time up to the log's end
 * when the export began (a consistent snapshot), so that memory stays flat however long the log is.
 */
export async function* auditCsvPages(db: Knex, q: AuditQuery, pageSize = 250): AsyncGenerator<string> {
  yield csvHeader;
  const end = ((await db(table).max('position as end').first()) as { end: string | null } | undefined)?.end;
  if (!end) return;
  let cursor = '';
  for (;;) {
    const found = (await filtered(db, q)
      .select('position', 'record')
      .where('position', '>', cursor)
      .andWhere('position', '<=', end)
      .orderBy('position')
      .limit(pageSize)) as Array<{
      position: string;
      record: AuditRecord | string;
    }>;
    if (found.length) yield found.map((r) => csvLine(parsed(r.record))).join('');
    if (found.length < pageSize) return;
    cursor = found[found.length - 1]!.position;
  }
}
